"""A clip's rendition ladder over HTTP: the HLS master and media playlists, and the files
they name byte ranges of (served as streams are: the fast path takes them on local disk)."""

import hashlib

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.access import find_readable
from app.catalog.models import Media
from app.deps import CatalogDep, LibraryDep, SettingsDep
from app.errors import Problem
from app.media.hls import PLAYLIST_TYPE, Variant, master_playlist
from app.storage.base import MissingKey
from app.streams.delivery import find_rendition, rendition_validators, stored_response
from app.streams.ranges import CORS_HEADERS, preflight_response
from app.web.routes.stream import file_responses

router = APIRouter(tags=["streams"])
MASTER = "/media/{media_id}/hls/master.m3u8"
PLAYLIST = "/media/{media_id}/hls/{name}.m3u8"
RENDITION = "/media/{media_id}/renditions/{file}"
NO_LADDER = "This clip has no renditions (yet): play its stream."
# Short: a clip's ladder can be made again (and the playlists with it).
PLAYLIST_CACHE = "public, max-age=300"
PLAYLIST_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "An HLS playlist.", "content": {PLAYLIST_TYPE: {}}},
    304: {"description": "The client's copy is current (If-None-Match)."},
    404: {"description": "No such clip, or no ladder."},
}
RENDITION_RESPONSES = file_responses(["video/mp4", "audio/mp4"], "A file of the ladder.")


def playlist_response(request: Request, text: str) -> Response:
    body = text.encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": PLAYLIST_CACHE, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    headers |= CORS_HEADERS
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, headers=headers, media_type=PLAYLIST_TYPE)


def ladder_of(request: Request, catalog: object, media_id: str) -> Media:
    media = find_readable(request, catalog, media_id)
    if not media.renditions:
        raise Problem(404, NO_LADDER)
    return media


@router.head(
    MASTER,
    operation_id="head_hls_master",
    response_class=Response,
    responses=PLAYLIST_RESPONSES,
    summary="The clip's HLS master playlist (headers)",
)
@router.get(
    MASTER,
    operation_id="get_hls_master",
    response_class=Response,
    responses=PLAYLIST_RESPONSES,
    summary="The clip's HLS master playlist",
)
async def master(media_id: str, request: Request, catalog: CatalogDep) -> Response:
    """One variant per video rendition (byte-range media playlists of fragmented MP4s)."""
    media = await anyio.to_thread.run_sync(ladder_of, request, catalog, media_id)
    variants = [
        Variant(f"{r.name}.m3u8", r.peak_bitrate, r.bitrate, r.width, r.height, r.codecs)
        for r in media.renditions
        if r.height and r.width
    ]
    return playlist_response(request, master_playlist(variants))


@router.head(
    PLAYLIST,
    operation_id="head_hls_playlist",
    response_class=Response,
    responses=PLAYLIST_RESPONSES,
    summary="A rendition's HLS media playlist (headers)",
)
@router.get(
    PLAYLIST,
    operation_id="get_hls_playlist",
    response_class=Response,
    responses=PLAYLIST_RESPONSES,
    summary="A rendition's HLS media playlist",
)
async def media_playlist(
    media_id: str, name: str, request: Request, catalog: CatalogDep, library: LibraryDep
) -> Response:
    media = await anyio.to_thread.run_sync(ladder_of, request, catalog, media_id)
    rendition = next((r for r in media.renditions if r.name == name), None)
    if rendition is None:
        raise Problem(404, "The clip has no rendition of that name.")
    try:
        text = await anyio.to_thread.run_sync(library.storage.read_bytes, rendition.playlist_key)
    except MissingKey:
        raise Problem(404, "The rendition's playlist is not available any more.") from None
    return playlist_response(request, text.decode())


@router.head(
    RENDITION,
    operation_id="head_rendition",
    response_class=Response,
    responses=RENDITION_RESPONSES,
    summary="A file of the clip's ladder (headers)",
)
@router.get(
    RENDITION,
    operation_id="get_rendition",
    response_class=Response,
    responses=RENDITION_RESPONSES,
    summary="A file of the clip's ladder",
)
async def rendition_file(
    media_id: str,
    file: str,
    request: Request,
    catalog: CatalogDep,
    library: LibraryDep,
    settings: SettingsDep,
) -> Response:
    """Byte ranges and conditional requests as on the stream; the fast path in front
    (app/streams/fastpath.py) answers the same for files on local disk."""
    media = await anyio.to_thread.run_sync(find_readable, request, catalog, media_id)
    rendition = find_rendition(media, file)
    if rendition is None:
        raise Problem(404, "The clip has no such rendition.")
    response = await stored_response(
        request,
        library.storage,
        rendition.storage_key,
        media_type=rendition.mime_type,
        validators=rendition_validators(rendition),
        redirect=settings.s3_redirect,
    )
    if response is None:
        raise Problem(404, "The rendition is not available any more.")
    return response


@router.options(MASTER, include_in_schema=False)
@router.options(PLAYLIST, include_in_schema=False)
@router.options(RENDITION, include_in_schema=False)
async def preflight(request: Request) -> Response:
    return preflight_response(request)
