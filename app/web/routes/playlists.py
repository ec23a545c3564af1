"""Playlist pages: the watch page `/playlists/{id}` and the embed `/embed/playlist/{id}`.

The player of one clip (the first, or `?item=N`) and the list of them all, rendered by the
server; static/player/playlist.js swaps the clip in place by fetching this page for another
item. They read the catalog, never write."""

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app.api.access import has_token
from app.api.routes.media import VALID_ID
from app.api.routes.playlists import playlist_urls, readable_clips
from app.api.urls import base_url, media_urls
from app.catalog.database import Catalog
from app.catalog.models import Media, Playlist
from app.catalog.playlists import Playlists
from app.config import Settings
from app.errors import Problem
from app.library import Library
from app.media.durations import format_duration, iso_duration
from app.web.compression import html_response
from app.web.embedding import DEFAULT_WIDTH, iframe, thumbnail_size
from app.web.i18n import Catalogue
from app.web.player_view import PlayerView, build_view
from app.web.routes.pages import catalogue_for, page_query
from app.web.templating import SHORTCUTS

router = APIRouter(include_in_schema=False)
# Rendered on every view: a playlist page shows several clips, and any of them may change.
HEADERS = {"Cache-Control": "no-cache", "Vary": "Accept-Language"}
SHORTCUTS_HERE = [*SHORTCUTS[:-1], (("N", "P"), "key_playlist"), SHORTCUTS[-1]]
LIST_HEIGHT = 220  # the embed's room under the picture for the buttons and the list


@dataclass(frozen=True)
class Entry:
    """A clip in the page's list."""

    index: int
    media: Media
    watch: str

    @property
    def duration_text(self) -> str:
        return format_duration(self.media.duration)

    @property
    def duration_iso(self) -> str:
        return iso_duration(self.media.duration)


def chosen_item(value: str | None, count: int) -> int:
    """`item=N` counts from 1, as the list shows them; anything else means the first."""
    if value is None or not value.isdigit() or len(value) > 9:
        return 0
    return min(max(int(value) - 1, 0), max(count - 1, 0))


def frame_height(media: Media | None) -> int:
    """The embed iframe's height: a 16:9 (or the clip's) picture 640 wide, plus the list."""
    if media is None or not (media.width and media.height):
        return 360 + LIST_HEIGHT
    return round(DEFAULT_WIDTH * media.height / media.width) + LIST_HEIGHT


def page_context(
    playlist: Playlist | None,
    clips: list[Media],
    index: int,
    view: PlayerView,
    t: Catalogue,
    base: str,
    settings: Settings,
) -> dict[str, object]:
    entries = [Entry(i, m, media_urls(base, m.id).watch) for i, m in enumerate(clips)]
    urls = playlist_urls(base, playlist.id).model_dump() if playlist else {}
    count = len(entries)
    context: dict[str, object] = {
        "view": view, "t": t, "playlist": playlist, "entries": entries, "index": index,
        "count": count, "urls": urls, "shortcuts": SHORTCUTS_HERE,
        "embed_origins": settings.embed_origins,
        "transcript_track_url": next(
            (tr.url for tr in view.tracks if tr.srclang == view.transcript_lang), ""
        ),
    }  # fmt: skip
    if playlist is not None and count:
        title = clips[index].title
        context["now_text"] = t("playlist_now", index=index + 1, count=count, title=title)
    if playlist is not None:
        height = frame_height(clips[0] if clips else None)
        context["iframe_code"] = iframe(urls["embed"], playlist.title, DEFAULT_WIDTH, height)
    return context


async def playlist_page(request: Request, name: str, playlist_id: str) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    library: Library = state.library
    query = page_query(request)
    t = catalogue_for(request, query["lang"])
    base = base_url(request, settings.public_url)
    item = request.query_params.get("item")
    start = query["t"] or query["start"]
    transcript_open = name == "playlist.html"
    token = has_token(request, settings)

    def build() -> tuple[bool, bytes]:
        playlists = Playlists(state.catalog)
        playlist = playlists.get(playlist_id) if VALID_ID.match(playlist_id) else None
        clips = readable_clips(playlist, token) if playlist else []
        index = chosen_item(item, len(clips))
        media = clips[index] if clips else None
        view = build_view(media, t, library.storage, base, start=start)
        context = page_context(playlist, clips, index, view, t, base, settings)
        context["transcript_open"] = transcript_open
        body = state.templates.get_template(name).render(context).encode()
        return playlist is not None, body

    found, body = await anyio.to_thread.run_sync(build)
    if not found:
        return html_response(request, body, 404, headers={"Vary": "Accept-Language"})
    return html_response(request, body, headers=HEADERS)


@router.get("/playlists/{playlist_id}", response_class=HTMLResponse)
async def playlist_watch_page(playlist_id: str, request: Request) -> Response:
    """Query: `item=N` (from 1), `t=` or `start=`, `lang=`."""
    return await playlist_page(request, "playlist.html", playlist_id)


@router.get("/embed/playlist/{playlist_id}", response_class=HTMLResponse)
async def playlist_embed_page(playlist_id: str, request: Request) -> Response:
    """Query: `item=N` (from 1), `start=` or `t=`, `lang=`."""
    return await playlist_page(request, "playlist_embed.html", playlist_id)


def playlist_oembed(
    catalog: Catalog, playlist_id: str, base: str, maxwidth: int | None, maxheight: int | None
) -> dict[str, Any]:
    """The oEmbed answer for a playlist: an iframe of its embed, the picture plus the list."""
    playlist = Playlists(catalog).get(playlist_id)
    if playlist is None:
        raise Problem(404, "No playlist has this id. Check the URL.")
    clips = readable_clips(playlist, token=False)  # embedded for anyone to see
    first = clips[0] if clips else None
    width = min(DEFAULT_WIDTH, maxwidth or DEFAULT_WIDTH)
    height = round(frame_height(first) * width / DEFAULT_WIDTH)
    if maxheight:
        height = min(height, maxheight)
    body: dict[str, Any] = {
        "type": "video" if any(m.kind == "video" for m in clips) else "rich",
        "version": "1.0",
        "title": playlist.title,
        "provider_name": "amps",
        "provider_url": base + "/",
        "html": iframe(playlist_urls(base, playlist.id).embed, playlist.title, width, height),
        "width": width,
        "height": height,
    }
    if first is not None:
        thumb_width, thumb_height = thumbnail_size(first)
        body |= {"thumbnail_url": media_urls(base, first.id).poster,
                 "thumbnail_width": thumb_width, "thumbnail_height": thumb_height}  # fmt: skip
    return body
