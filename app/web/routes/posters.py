"""A clip's poster: a still of a video or a waveform of audio, made once and then cached."""

from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response

from app.api.access import find_readable
from app.deps import CatalogDep, LibraryDep
from app.errors import Problem
from app.media.posters import MAX_WIDTH, SMALL_WIDTH, PosterError, media_type
from app.storage.base import StorageError
from app.streams.delivery import stored_response
from app.web.routes.stream import file_responses

router = APIRouter(tags=["streams"])
POSTER = "/media/{media_id}/poster"
RESPONSES = file_responses(["image/jpeg", "image/png"], "The poster image.")
SIZE = (
    f"`small`: a video's still at most {SMALL_WIDTH} px wide, a quarter to half the bytes "
    f"(what embeds show first); `full`: at most {MAX_WIDTH} px. A waveform has one size."
)


# GET and HEAD registered apart, as in app.routes.stream (HEAD gets 405 otherwise).
@router.head(
    POSTER,
    operation_id="head_poster",
    response_class=Response,
    responses=RESPONSES,
    summary="A poster's headers",
)
@router.get(
    POSTER,
    operation_id="get_poster",
    responses=RESPONSES,
    response_class=Response,
    summary="The clip's poster",
)
async def get_poster(
    media_id: str,
    request: Request,
    catalog: CatalogDep,
    library: LibraryDep,
    size: Annotated[Literal["full", "small"], Query(description=SIZE)] = "full",
) -> Response:
    """A JPEG frame from about 10% into a video, or a PNG waveform of audio; made on first
    request, then served from storage with an ETag."""
    media = await anyio.to_thread.run_sync(find_readable, request, catalog, media_id)
    try:
        key = await anyio.to_thread.run_sync(library.poster_key, media, size)
    except PosterError as exc:
        raise Problem(404, str(exc)) from exc
    except StorageError as exc:  # removed with its clip meanwhile, or storage trouble
        raise Problem(404, "The poster is not available any more.") from exc
    response = await stored_response(request, library.storage, key, media_type=media_type(key))
    if response is None:
        raise Problem(404, "The poster is not available any more.")
    return response
