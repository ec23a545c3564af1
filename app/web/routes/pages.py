"""Server-rendered pages: library, watch and embed. They read the catalog, never write."""

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from app.api.access import grant, url_signer
from app.api.paging import next_page_url, read_cursor
from app.api.routes.media import VALID_ID
from app.api.urls import base_url, public_record
from app.catalog.database import Stamp
from app.catalog.models import Media, utcnow
from app.config import Settings
from app.deps import CatalogDep, LibraryDep, SettingsDep
from app.errors import Problem
from app.library import Library, search_words
from app.streams.ranges import etag_listed
from app.web.compression import html_response
from app.web.embedding import DEFAULT_WIDTH, frame_size, iframe
from app.web.i18n import Catalogue, choose
from app.web.page_cache import PageCache, PageStamp, file_check
from app.web.player_view import PlayerView, build_view
from app.web.signed_view import sign_view

router = APIRouter(include_in_schema=False)
# Browsers check back on every view (and get 304 while the page is unchanged); the language
# comes from Accept-Language when the URL has no lang=.
PAGE_HEADERS = {"Cache-Control": "no-cache", "Vary": "Accept-Language"}
# A private clip's page: kept by no cache, its signed URLs by no browser history of caches.
PRIVATE_PAGE_HEADERS = {"Cache-Control": "private, no-store", "Vary": "Accept-Language"}
Lang = Annotated[str | None, Query(max_length=35)]


def catalogue_for(request: Request, lang: str | None) -> Catalogue:
    return choose(lang, request.headers.get("accept-language"))


def render(request: Request, name: str, status: int = 200, **context: object) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, name, context, status_code=status)
    return response


def embed_context(view: PlayerView) -> dict[str, object]:
    """The iframe code and its size, for the embed box and the Open Graph/Twitter tags."""
    if view.media is None:
        return {"iframe_code": "", "snippet_code": "", "frame": (DEFAULT_WIDTH, 360)}
    width, height = frame_size(view.media, None, None)
    code = iframe(view.urls["embed"], view.title, width, height)
    origin = view.urls["watch"].split("/media/")[0]
    snippet = (
        f'<div data-amps-id="{view.media.id}"></div>\n'
        f'<script src="{origin}/static/embed.js" async></script>'
    )
    return {"iframe_code": code, "snippet_code": snippet, "frame": (width, height)}


def page_context(
    name: str, view: PlayerView, t: Catalogue, settings: Settings
) -> dict[str, object]:
    if name == "embed.html":
        return {"view": view, "t": t, "transcript_open": False,
                "embed_origins": settings.embed_origins}  # fmt: skip
    transcript = next((tr for tr in view.tracks if tr.srclang == view.transcript_lang), None)
    return {
        "view": view, "t": t, "transcript_open": True, **embed_context(view),
        "transcript_track_url": transcript.url if transcript else "",
    }  # fmt: skip


async def player_page(
    request: Request, name: str, media_id: str, lang: str | None, **options: str | bool | None
) -> Response:
    """A watch or embed page; a repeat view gets 304, or the HTML rendered for this version."""
    state = request.app.state
    settings: Settings = state.settings
    cache: PageCache = state.page_cache
    t = catalogue_for(request, lang)
    base = base_url(request, settings.public_url)
    shown = (t.code, base, sorted(options.items()))
    stamp: PageStamp | None = None
    if VALID_ID.match(media_id):
        stamp = await state.stamps.current(media_id)
    allowed = None
    if stamp is not None:
        allowed = grant(request, media_id, stamp.stamp.visibility_at(utcnow()))
        if allowed is None:
            stamp = None  # a private clip answers exactly as an unknown id
    # Only pages anyone may see are cached: never one opened by a token or a signature.
    shared = allowed is not None and allowed.by == "anyone"
    if stamp is not None and shared and (stamp.has_file or stamp.stamp.status != "ready"):
        etag = cache.etag(name, stamp, *shown)
        headers = {"ETag": etag, **PAGE_HEADERS}
        if_none_match = ", ".join(request.headers.getlist("if-none-match"))
        if etag_listed(if_none_match, etag.strip('"'), weak_ok=True):
            return Response(status_code=304, headers=headers)
        cached, compressed = cache.get_both(etag)
        if cached is not None:
            return html_response(request, cached, headers=headers, compressed=compressed)
    library: Library = state.library
    templates: Jinja2Templates = state.templates

    def build() -> tuple[PlayerView, bytes]:
        media = state.catalog.get(media_id) if stamp is not None else None
        if media is not None and grant(request, media.id, media.visibility_at(utcnow())) is None:
            media = None  # turned private since the stamp was read
        view = build_view(media, t, library.storage, base, **options)  # type: ignore[arg-type]
        sign = url_signer(request, media_id, allowed) if allowed is not None else None
        if sign is not None:
            view = sign_view(view, sign)
        context = page_context(name, view, t, settings)
        return view, templates.get_template(name).render(context).encode()

    view, body = await anyio.to_thread.run_sync(build)
    if view.state == "missing" or view.media is None:
        return html_response(request, body, 404, headers={"Vary": "Accept-Language"})
    if not shared:
        return html_response(request, body, headers=PRIVATE_PAGE_HEADERS)
    etag = cache.etag(name, PageStamp(Stamp.of(view.media), view.has_file), *shown)
    cache.put(etag, body)
    headers = {"ETag": etag, **PAGE_HEADERS}
    return html_response(request, body, headers=headers, compressed=cache.get_both(etag)[1])


async def page_not_found(request: Request) -> Response:
    """The no-media page shell for any unmatched URL under /media/ or /embed/."""
    t = catalogue_for(request, request.query_params.get("lang"))
    view = build_view(None, t, request.app.state.library.storage, "")
    embed = request.url.path.startswith("/embed/")
    name = "embed.html" if embed else "watch.html"
    return render(request, name, 404, **page_context(name, view, t, request.app.state.settings))


# Read by hand rather than declared: FastAPI's parameter solving cost more than the rest of
# a repeat view. The longest value each may have; past it, 422.
PAGE_QUERY = {"lang": 35, "captions": 35, "autoplay": 35, "start": 20, "t": 20, "described": 35}


def page_query(request: Request) -> dict[str, str | None]:
    query = request.query_params
    values: dict[str, str | None] = {}
    for name, longest in PAGE_QUERY.items():
        value = values[name] = query.get(name)
        if value is not None and len(value) > longest:
            raise Problem(
                422, f"The {name} parameter is longer than {longest} characters.", field=name
            )
    return values


@router.get("/media/{media_id}", response_class=HTMLResponse)
async def watch_page(media_id: str, request: Request) -> Response:
    """Query: `t=` or `start=` (seconds or 1:05), `captions=LANG`, `lang=`."""
    query = page_query(request)
    return await player_page(
        request, "watch.html", media_id, query["lang"],
        start=query["t"] or query["start"], captions=query["captions"],
    )  # fmt: skip


@router.get("/embed/{media_id}", response_class=HTMLResponse)
async def embed_page(media_id: str, request: Request) -> Response:
    """Query: `start=` or `t=`, `autoplay=1` (muted), `captions=LANG`, `lang=`."""
    query = page_query(request)
    return await player_page(
        request, "embed.html", media_id, query["lang"], start=query["start"] or query["t"],
        autoplay=query["autoplay"] == "1", captions=query["captions"],
        described=query["described"] == "1",
    )  # fmt: skip


PAGE_SIZE = 24


def posters_for(items: list[Media], library: Library) -> set[str]:
    """Clips whose poster can be shown: ready, with their file still in storage (asked of
    the catalog on an object store: one request per listed clip cost 10-30 ms each)."""
    has_file = file_check(library.storage)
    return {m.id for m in items if m.status == "ready" and has_file(m.storage_key)}


@router.get("/", response_class=HTMLResponse)
async def library_page(
    request: Request, catalog: CatalogDep, library: LibraryDep, settings: SettingsDep,
    lang: Lang = None, q: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:  # fmt: skip
    t = catalogue_for(request, lang)
    query = search_words(q)
    after = read_cursor(cursor)
    start = after.position if after else offset
    items, total = await anyio.to_thread.run_sync(
        lambda: catalog.list(
            offset=offset, limit=PAGE_SIZE, query=query or None, after=after, listed_at=utcnow()
        )
    )
    base = base_url(request, settings.public_url)
    back = request.url.remove_query_params("cursor").include_query_params(
        offset=max(0, start - PAGE_SIZE)
    )
    statuses = {s: t(f"status_{s}") for s in ("processing", "ready", "failed")}
    return render(
        request, "library.html", t=t, query=query, offset=start, total=total,
        items=[public_record(m, base) for m in items],
        previous_url=str(back) if start else None,
        next_url=next_page_url(request, items, start, total),
        status_strings=statuses,
        with_poster=await anyio.to_thread.run_sync(posters_for, items, library),
    )  # fmt: skip
