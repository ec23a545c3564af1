"""The bytes of a clip and its tracks; the range rules live in app.streaming."""

from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.catalog import Catalog
from app.deps import CatalogDep, LibraryDep
from app.library import Library
from app.models import Media
from app.problems import Problem
from app.routes.media import find_media
from app.streaming import preflight_response, stream_file

router = APIRouter(tags=["streams"])
TRACK_TYPE = "text/vtt; charset=utf-8"


def gone(what: str = "clip's file") -> Problem:
    return Problem(404, f"The {what} is not available any more.")


def download_name(media: Media) -> str:
    """A friendly file name: the title with the extension the probe chose."""
    extension = media.storage_key.rpartition(".")[2]
    return f"{media.title}.{extension}"


def media_and_file(catalog: Catalog, library: Library, media_id: str) -> tuple[Media, Path | None]:
    """The record and its file in one trip to the thread pool."""
    media = find_media(catalog, media_id)
    return media, library.file_of(media)


STREAM = "/media/{media_id}/stream"
TRACK = "/media/{media_id}/tracks/{track_file}"


# GET and HEAD registered apart: FastAPI answers HEAD with 405 otherwise, and one route
# with both methods gives OpenAPI a duplicate operation id.
@router.head(STREAM, operation_id="head_stream", summary="The clip's headers")
@router.get(STREAM, operation_id="get_stream", summary="The clip's bytes")
async def stream_media(
    media_id: str, request: Request, catalog: CatalogDep, library: LibraryDep, download: int = 0
) -> Response:
    """Byte ranges (RFC 9110), conditional requests, CORS. `?download=1` saves to disk."""
    media, path = await anyio.to_thread.run_sync(media_and_file, catalog, library, media_id)
    if path is None:
        raise gone()
    return stream_file(
        request,
        path,
        media_type=media.mime_type,
        etag=media.sha256,
        download_name=download_name(media) if download else None,
    )


@router.options(STREAM, include_in_schema=False)
async def stream_preflight(request: Request) -> Response:
    return preflight_response(request)


@router.head(TRACK, operation_id="head_track", summary="A WebVTT track's headers")
@router.get(TRACK, operation_id="get_track", summary="A WebVTT track")
async def stream_track(
    media_id: str, track_file: str, request: Request, catalog: CatalogDep, library: LibraryDep
) -> Response:
    media = await anyio.to_thread.run_sync(find_media, catalog, media_id)
    track_id, _, extension = track_file.partition(".")
    track = next((t for t in media.tracks if t.id == track_id), None)
    if track is None or extension != "vtt" or not library.storage.exists(track.storage_key):
        raise gone("track")
    path = library.storage.local_path(track.storage_key)
    return stream_file(request, path, media_type=TRACK_TYPE)
