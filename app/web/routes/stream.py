"""The bytes of a clip and its tracks; the range rules live in app.streams.ranges."""

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.access import find_readable
from app.api.problems import documented
from app.catalog.models import Media
from app.deps import CatalogDep, LibraryDep, SettingsDep
from app.errors import Problem
from app.streams.delivery import stored_response
from app.streams.ranges import Validators, preflight_response

router = APIRouter(tags=["streams"])
TRACK_TYPE = "text/vtt; charset=utf-8"


def gone(what: str = "clip's file") -> Problem:
    return Problem(404, f"The {what} is not available any more.")


async def stored_file(
    request: Request, key: str, media_type: str, validators: Validators, what: str
) -> Response:
    """A stored file other than the clip's own (a web copy, a version, a rendition) as the
    stream serves it: ranges, validators, the S3 redirect; 404 when its bytes are gone."""
    library, settings = request.app.state.library, request.app.state.settings
    response = await stored_response(
        request,
        library.storage,
        key,
        media_type=media_type,
        validators=validators,
        redirect=settings.s3_redirect,
    )
    if response is None:
        raise gone(what)
    return response


def download_name(media: Media) -> str:
    """A friendly file name: the title with the extension the probe chose."""
    extension = media.storage_key.rpartition(".")[2]
    return f"{media.title}.{extension}"


BINARY = {"schema": {"type": "string", "format": "binary"}}


def file_responses(media_types: list[str], what: str) -> dict[int | str, dict[str, Any]]:
    """What a route serving a stored file answers (app.streaming decides which)."""
    ranges = "multipart/byteranges"
    return {
        200: {"description": what, "content": dict.fromkeys(media_types, BINARY)},
        206: {
            "description": f"The byte ranges asked for ({ranges} for several).",
            "content": dict.fromkeys([*media_types, ranges], BINARY),
        },
        304: {"description": "The client's copy is current (If-None-Match, If-Modified-Since)."},
        412: {"description": "If-Match or If-Unmodified-Since does not hold."},
        416: {"description": "No range overlaps the file; Content-Range: bytes */LENGTH."},
        **documented(404, 422),
    }


STREAM_RESPONSES = file_responses(["*/*"], "The clip's bytes, typed as the probe found them.")
TRACK_RESPONSES = file_responses(["text/vtt"], "The track as WebVTT.")
STREAM = "/media/{media_id}/stream"
TRACK = "/media/{media_id}/tracks/{track_file}"


# GET and HEAD registered apart: FastAPI answers HEAD with 405 otherwise, and one route
# with both methods gives OpenAPI a duplicate operation id.
@router.head(
    STREAM,
    operation_id="head_stream",
    response_class=Response,
    responses=STREAM_RESPONSES,
    summary="The clip's headers",
)
@router.get(
    STREAM,
    operation_id="get_stream",
    response_class=Response,
    responses=STREAM_RESPONSES,
    summary="The clip's bytes",
)
async def stream_media(
    media_id: str,
    request: Request,
    catalog: CatalogDep,
    library: LibraryDep,
    settings: SettingsDep,
    download: int = 0,
) -> Response:
    """Byte ranges (RFC 9110), conditional requests, CORS. `?download=1` saves to disk.
    With AMPS_S3_REDIRECT=1, a GET is answered with a 307 to a short-lived URL of the store."""
    media = await anyio.to_thread.run_sync(find_readable, request, catalog, media_id)
    # The fast path in front (app/streams/fastpath.py, app/streams/open_files.py) serves the
    # same key: a change of which file a stream sends belongs in both.
    response = await stored_response(
        request,
        library.storage,
        media.storage_key,
        media_type=media.mime_type,
        media=media,
        download_name=download_name(media) if download else None,
        redirect=settings.s3_redirect,
    )
    if response is None:
        raise gone()
    return response


@router.options(STREAM, include_in_schema=False)
async def stream_preflight(request: Request) -> Response:
    return preflight_response(request)


@router.head(
    TRACK,
    operation_id="head_track",
    response_class=Response,
    responses=TRACK_RESPONSES,
    summary="A WebVTT track's headers",
)
@router.get(
    TRACK,
    operation_id="get_track",
    response_class=Response,
    responses=TRACK_RESPONSES,
    summary="A WebVTT track",
)
async def stream_track(
    media_id: str, track_file: str, request: Request, catalog: CatalogDep, library: LibraryDep
) -> Response:
    media = await anyio.to_thread.run_sync(find_readable, request, catalog, media_id)
    track_id, _, extension = track_file.partition(".")
    track = next((t for t in media.tracks if t.id == track_id), None)
    if track is None or extension != "vtt":
        raise gone("track")
    response = await stored_response(
        request, library.storage, track.storage_key, media_type=TRACK_TYPE
    )
    if response is None:
        raise gone("track")
    return response
