"""Server-rendered pages: library, watch and embed. They read the catalog, never write."""

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app.deps import CatalogDep, LibraryDep, SettingsDep
from app.embedding import DEFAULT_WIDTH, frame_size, iframe
from app.i18n import Catalogue, choose
from app.library import Library, search_words
from app.models import Media
from app.player_view import PlayerView, build_view
from app.routes.media import VALID_ID
from app.urls import base_url, public_record

router = APIRouter(include_in_schema=False)
Lang = Annotated[str | None, Query(max_length=35)]
Start = Annotated[str | None, Query(max_length=20)]


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


async def player_page(
    request: Request, media_id: str, catalog: CatalogDep, library: LibraryDep, base: str,
    t: Catalogue, **options: object,
) -> tuple[PlayerView, int]:  # fmt: skip
    media: Media | None = None
    if VALID_ID.match(media_id):
        media = await anyio.to_thread.run_sync(catalog.get, media_id)
    view = await anyio.to_thread.run_sync(
        lambda: build_view(media, t, library.storage, base, **options)  # type: ignore[arg-type]
    )
    return view, 404 if view.state == "missing" else 200


async def page_not_found(request: Request) -> Response:
    """The no-media page shell for any unmatched URL under /media/ or /embed/."""
    t = catalogue_for(request, request.query_params.get("lang"))
    view = build_view(None, t, request.app.state.library.storage, "")
    embed = request.url.path.startswith("/embed/")
    name = "embed.html" if embed else "watch.html"
    return render(
        request, name, 404, view=view, t=t, transcript_open=not embed,
        embed_origins=request.app.state.settings.embed_origins, **embed_context(view),
    )  # fmt: skip


@router.get("/media/{media_id}", response_class=HTMLResponse)
async def watch_page(
    media_id: str, request: Request, catalog: CatalogDep, library: LibraryDep,
    settings: SettingsDep, lang: Lang = None, t_: Annotated[Start, Query(alias="t")] = None,
    start: Start = None, captions: Lang = None,
) -> Response:  # fmt: skip
    t = catalogue_for(request, lang)
    base = base_url(request, settings.public_url)
    view, status = await player_page(
        request, media_id, catalog, library, base, t, start=t_ or start, captions=captions
    )
    transcript = next((tr for tr in view.tracks if tr.srclang == view.transcript_lang), None)
    return render(
        request, "watch.html", status, view=view, t=t, transcript_open=True,
        **embed_context(view),
        transcript_track_url=transcript.url if transcript else "",
    )  # fmt: skip


@router.get("/embed/{media_id}", response_class=HTMLResponse)
async def embed_page(
    media_id: str, request: Request, catalog: CatalogDep, library: LibraryDep,
    settings: SettingsDep, lang: Lang = None, start: Start = None,
    t_: Annotated[Start, Query(alias="t")] = None, autoplay: Lang = None, captions: Lang = None,
) -> Response:  # fmt: skip
    t = catalogue_for(request, lang)
    base = base_url(request, settings.public_url)
    view, status = await player_page(
        request, media_id, catalog, library, base, t, start=start or t_,
        autoplay=autoplay == "1", captions=captions,
    )  # fmt: skip
    return render(
        request, "embed.html", status, view=view, t=t, transcript_open=False,
        embed_origins=settings.embed_origins,
    )  # fmt: skip


PAGE_SIZE = 24


def posters_for(items: list[Media], library: Library) -> set[str]:
    """Clips whose poster can be shown: ready, with their file still in storage."""
    return {m.id for m in items if m.status == "ready" and library.storage.exists(m.storage_key)}


@router.get("/", response_class=HTMLResponse)
async def library_page(
    request: Request, catalog: CatalogDep, library: LibraryDep, settings: SettingsDep,
    lang: Lang = None, q: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:  # fmt: skip
    t = catalogue_for(request, lang)
    query = search_words(q)
    items, total = await anyio.to_thread.run_sync(
        lambda: catalog.list(offset=offset, limit=PAGE_SIZE, query=query or None)
    )
    base = base_url(request, settings.public_url)

    def page(at: int) -> str:
        return str(request.url.include_query_params(offset=at))

    statuses = {s: t(f"status_{s}") for s in ("processing", "ready", "failed")}
    return render(
        request, "library.html", t=t, query=query, offset=offset, total=total,
        items=[public_record(m, base) for m in items],
        previous_url=page(max(0, offset - PAGE_SIZE)) if offset else None,
        next_url=page(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        status_strings=statuses,
        with_poster=await anyio.to_thread.run_sync(posters_for, items, library),
    )  # fmt: skip
