"""A clip's rendition ladder over HTTP: the HLS master and media playlists, and the files
they name byte ranges of (served as streams are: the fast path takes them on local disk)."""

import hashlib
import re
from collections.abc import Callable
from urllib.parse import urljoin

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.access import find_readable, grant, url_signer
from app.catalog.models import Media, utcnow
from app.deps import CatalogDep, LibraryDep
from app.errors import Problem
from app.media.hls import PLAYLIST_TYPE, Variant, master_playlist
from app.storage.base import MissingKey
from app.streams.delivery import find_rendition, rendition_validators
from app.streams.ranges import CORS_HEADERS, preflight_response
from app.web.routes.stream import file_responses, stored_file

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


URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


def signed_playlist(text: str, base: str, sign: Callable[[str], str]) -> str:
    """The playlist with every URI it names made absolute and signed as the request was: a
    private clip's signed page plays its ladder (the files and playlists need the signature
    too, and a relative URI would drop the query)."""

    def signed(uri: str) -> str:
        return sign(urljoin(base, uri))

    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            line = signed(line)
        else:
            line = URI_ATTRIBUTE.sub(lambda m: f'URI="{signed(m.group(1))}"', line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def playlist_signer(request: Request, media: Media) -> Callable[[str], str] | None:
    """Signs the playlist's URIs when the request was let in by a signature."""
    given = grant(request, media.id, media.visibility_at(utcnow()))
    return url_signer(request, media.id, given) if given is not None else None


def playlist_response(request: Request, text: str, private: bool = False) -> Response:
    body = text.encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    cache = "private, no-store" if private else PLAYLIST_CACHE
    headers = {"Cache-Control": cache, "ETag": etag, "X-Content-Type-Options": "nosniff"}
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
    text = master_playlist(variants)
    sign = playlist_signer(request, media)
    if sign is not None:
        text = signed_playlist(text, f"/media/{media.id}/hls/", sign)
    private = media.visibility_at(utcnow()) == "private"
    return playlist_response(request, text, private)


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
    playlist = text.decode()
    sign = playlist_signer(request, media)
    if sign is not None:
        playlist = signed_playlist(playlist, f"/media/{media.id}/hls/", sign)
    private = media.visibility_at(utcnow()) == "private"
    return playlist_response(request, playlist, private)


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
) -> Response:
    """Byte ranges and conditional requests as on the stream; the fast path in front
    (app/streams/fastpath.py) answers the same for files on local disk."""
    media = await anyio.to_thread.run_sync(find_readable, request, catalog, media_id)
    rendition = find_rendition(media, file)
    if rendition is None:
        raise Problem(404, "The clip has no such rendition.")
    validators = rendition_validators(rendition)
    return await stored_file(request, rendition.storage_key, rendition.mime_type, validators,
                             "rendition")  # fmt: skip


@router.options(MASTER, include_in_schema=False)
@router.options(PLAYLIST, include_in_schema=False)
@router.options(RENDITION, include_in_schema=False)
async def preflight(request: Request) -> Response:
    return preflight_response(request)
