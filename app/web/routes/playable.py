"""A clip's web-playable rendition (H.264/AAC), made when browsers cannot play the original."""

import math

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.access import find_readable
from app.deps import CatalogDep
from app.errors import Problem
from app.streams.ranges import Validators, preflight_response
from app.web.routes.stream import file_responses, stored_file

router = APIRouter(tags=["streams"])
PLAYABLE = "/media/{media_id}/playable"
RESPONSES = file_responses(
    ["video/mp4", "audio/mp4"], "The rendition's bytes (the original stays at /stream)."
)
NONE = "This clip has no separate version for web browsers: play its stream."


# GET and HEAD registered apart, as in app.routes.stream (HEAD gets 405 otherwise).
@router.head(
    PLAYABLE,
    operation_id="head_playable",
    response_class=Response,
    responses=RESPONSES,
    summary="The web rendition's headers",
)
@router.get(
    PLAYABLE,
    operation_id="get_playable",
    response_class=Response,
    responses=RESPONSES,
    summary="The clip as web browsers play it",
)
async def stream_playable(
    media_id: str,
    request: Request,
    catalog: CatalogDep,
) -> Response:
    """H.264/AAC MP4 (or AAC M4A) made from an original browsers cannot play; byte ranges and
    conditional requests as on the stream. 404 when the clip needs no such copy."""
    media = await anyio.to_thread.run_sync(find_readable, request, catalog, media_id)
    key, mime_type = media.playable_key, media.playable_mime_type
    if key is None or mime_type is None or media.playable_sha256 is None:
        raise Problem(404, NONE)
    made = math.floor(media.updated_at.timestamp())
    validators = Validators(media.playable_sha256, made, media.playable_size or 0)
    return await stored_file(request, key, mime_type, validators, "clip's web version")


@router.options(PLAYABLE, include_in_schema=False)
async def playable_preflight(request: Request) -> Response:
    return preflight_response(request)
