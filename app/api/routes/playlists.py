"""The playlist API: create, list, read, edit, delete. Thin: app.catalog.playlists does the work."""

from collections.abc import Callable, Sequence
from typing import Annotated
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import URL

from app.api.access import has_token
from app.api.auth import check_writer, require_writer
from app.api.paging import read_cursor
from app.api.problems import WRITE_PROBLEMS, documented
from app.api.routes.media import VALID_ID
from app.api.schemas import (
    PlaylistCreate,
    PlaylistItemPublic,
    PlaylistPage,
    PlaylistPublic,
    PlaylistUpdate,
    PlaylistUrls,
)
from app.api.urls import base_url, media_urls
from app.catalog.database import PageCursor
from app.catalog.models import Media, Playlist, utcnow
from app.catalog.playlists import Playlists, UnknownClips
from app.deps import CatalogDep, SettingsDep
from app.errors import Problem
from app.library import check_changes
from app.media.durations import format_duration

router = APIRouter(prefix="/api/playlists", tags=["playlists"])
NOT_FOUND = "No playlist has this id. Check the link, or list playlists at /api/playlists."


def get_playlists(catalog: CatalogDep) -> Playlists:
    return Playlists(catalog)


PlaylistsDep = Annotated[Playlists, Depends(get_playlists)]


def find_playlist(playlists: Playlists, playlist_id: str) -> Playlist:
    """The playlist with this id, or a 404 problem (also for ids that cannot be ours)."""
    playlist = playlists.get(playlist_id) if VALID_ID.match(playlist_id) else None
    if playlist is None:
        raise Problem(404, NOT_FOUND)
    return playlist


def playlist_urls(base: str, playlist_id: str) -> PlaylistUrls:
    watch = f"{base}/playlists/{playlist_id}"
    return PlaylistUrls(
        watch=watch,
        embed=f"{base}/embed/playlist/{playlist_id}",
        oembed=f"{base}/oembed?url={quote(watch, safe='')}&format=json",
        api=f"{base}/api/playlists/{playlist_id}",
    )


def readable_clips(playlist: Playlist, token: bool) -> list[Media]:
    """The playlist's clips a reader may see: a private clip is left out as a deleted one is,
    except for the API token holder (a playlist page carries no clip's signature)."""
    now = utcnow()
    return [
        item.media for item in playlist.items if token or item.media.visibility_at(now) != "private"
    ]


def playlist_record(playlist: Playlist, base: str, clips: list[Media]) -> PlaylistPublic:
    items = [
        PlaylistItemPublic(
            index=i, id=m.id, title=m.title, kind=m.kind, status=m.status,
            duration=m.duration, duration_text=format_duration(m.duration),
            urls=media_urls(base, m.id, rendition=m.playable_key is not None),
        )
        for i, m in enumerate(clips)
    ]  # fmt: skip
    total = sum(m.duration for m in clips)
    return PlaylistPublic(
        id=playlist.id,
        title=playlist.title,
        description=playlist.description,
        duration=total,
        duration_text=format_duration(total),
        media_ids=[m.id for m in clips],
        items=items,
        created_at=playlist.created_at,
        updated_at=playlist.updated_at,
        urls=playlist_urls(base, playlist.id),
    )


def unknown_clips(exc: UnknownClips) -> Problem:
    shown = ", ".join(exc.ids[:20]) + (
        f" and {len(exc.ids) - 20} more" if len(exc.ids) > 20 else ""
    )
    return Problem(
        422,
        f"These clips are not in the library: {shown}. Check the ids (GET /api/media lists "
        "the clips); nothing was changed.",
        field="media_ids",
    )


async def write(call: Callable[[], Playlist | None]) -> Playlist | None:
    """Run a catalog write off the event loop; unknown clips become a 422 problem."""
    try:
        return await anyio.to_thread.run_sync(call)
    except UnknownClips as exc:
        raise unknown_clips(exc) from None


@router.post(
    "",
    status_code=201,
    response_model=PlaylistPublic,
    responses=documented(*WRITE_PROBLEMS),
    summary="Make a playlist",
    dependencies=[Depends(require_writer)],
)
async def create_playlist(
    new: PlaylistCreate,
    request: Request,
    response: Response,
    playlists: PlaylistsDep,
    settings: SettingsDep,
) -> PlaylistPublic:
    """`media_ids` are clips of the library, in order; a clip may come more than once."""
    text = check_changes({"title": new.title, "description": new.description})
    title, description = text["title"] or "", text["description"] or ""
    playlist = await write(lambda: playlists.create(title, description, new.media_ids))
    assert playlist is not None
    base = base_url(request, settings.public_url)
    record = playlist_record(playlist, base, readable_clips(playlist, has_token(request, settings)))
    response.headers["Location"] = record.urls.api
    return record


@router.get(
    "",
    response_model=PlaylistPage,
    responses=documented(422),
    summary="List playlists, newest first",
)
def list_playlists(
    request: Request,
    playlists: PlaylistsDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="From a page's `next` link (not offset)")
    ] = None,
) -> PlaylistPage:
    after = read_cursor(cursor)
    start = after.position if after else offset
    items, total = playlists.list(offset=offset, limit=limit, after=after)
    base = base_url(request, settings.public_url)
    token = has_token(request, settings)
    return PlaylistPage(
        items=[playlist_record(p, base, readable_clips(p, token)) for p in items],
        total=total,
        offset=start,
        limit=limit,
        next=next_page(request, items, start, total, limit),
    )


def next_page(
    request: Request, items: Sequence[Playlist], start: int, total: int, limit: int
) -> str | None:
    """This URL with a cursor past the last playlist shown (as app.api.paging does for clips)."""
    shown = start + len(items)
    if not items or shown >= total:
        return None
    last = items[-1]
    cursor = PageCursor(last.created_at, last.id, shown).token()
    url = URL(str(request.url)).remove_query_params("offset")
    return str(url.include_query_params(cursor=cursor, limit=limit))


@router.get(
    "/{playlist_id}",
    response_model=PlaylistPublic,
    responses=documented(404, 422),
    summary="One playlist",
)
def get_playlist(
    playlist_id: str, request: Request, playlists: PlaylistsDep, settings: SettingsDep
) -> PlaylistPublic:
    playlist = find_playlist(playlists, playlist_id)
    clips = readable_clips(playlist, has_token(request, settings))
    return playlist_record(playlist, base_url(request, settings.public_url), clips)


@router.patch(
    "/{playlist_id}",
    response_model=PlaylistPublic,
    responses=documented(*WRITE_PROBLEMS),
    summary="Edit a playlist",
    dependencies=[Depends(require_writer)],
)
async def update_playlist(
    playlist_id: str,
    changes: PlaylistUpdate,
    request: Request,
    playlists: PlaylistsDep,
    settings: SettingsDep,
) -> PlaylistPublic:
    """`media_ids`, when given, replaces the clips and their order."""
    if not VALID_ID.match(playlist_id):
        raise Problem(404, NOT_FOUND)
    fields = changes.model_dump(exclude_unset=True)
    media_ids = fields.pop("media_ids", None)
    # No control characters, as in a clip's title (the schema already refuses null).
    text = {name: value or "" for name, value in check_changes(fields).items()}
    playlist = await write(lambda: playlists.update(playlist_id, media_ids, **text))
    if playlist is None:
        raise Problem(404, NOT_FOUND)
    clips = readable_clips(playlist, has_token(request, settings))
    return playlist_record(playlist, base_url(request, settings.public_url), clips)


@router.delete(
    "/{playlist_id}",
    status_code=204,
    responses=documented(*WRITE_PROBLEMS),
    summary="Delete a playlist (its clips stay in the library)",
)
async def delete_playlist(
    playlist_id: str, request: Request, playlists: PlaylistsDep, settings: SettingsDep
) -> Response:
    check_writer(request, settings)
    if not VALID_ID.match(playlist_id) or not await anyio.to_thread.run_sync(
        playlists.delete, playlist_id
    ):
        raise Problem(404, NOT_FOUND)
    return Response(status_code=204)
