"""The bytes of a clip's versions (described, sign): as browsers play them, ranges and all."""

import math

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.access import find_readable
from app.deps import CatalogDep
from app.errors import Problem
from app.streams.ranges import Validators, preflight_response
from app.web.routes.stream import file_responses, stored_file

router = APIRouter(tags=["streams"])
VERSION = "/media/{media_id}/versions/{role}"
RESPONSES = file_responses(["*/*"], "The version's bytes: its web-playable copy when it has one.")
NONE = "This clip has no version of that role (`described` or `sign`)."


# GET and HEAD registered apart, as in app.web.routes.stream (HEAD gets 405 otherwise).
@router.head(
    VERSION,
    operation_id="head_version",
    response_class=Response,
    responses=RESPONSES,
    summary="A version's headers",
)
@router.get(
    VERSION,
    operation_id="get_version",
    response_class=Response,
    responses=RESPONSES,
    summary="A version of the clip (described, sign)",
)
async def stream_version(
    media_id: str,
    role: str,
    request: Request,
    catalog: CatalogDep,
) -> Response:
    """Byte ranges and conditional requests as on the clip's stream; the web-playable copy
    when browsers cannot play the uploaded file, else that file."""
    media = await anyio.to_thread.run_sync(find_readable, request, catalog, media_id)
    version = next((v for v in media.versions if v.role == role), None)
    if version is None:
        raise Problem(404, NONE)
    if version.playable_key and version.playable_sha256 and version.playable_mime_type:
        key, mime_type = version.playable_key, version.playable_mime_type
        digest, size = version.playable_sha256, version.playable_size or 0
    else:
        key, mime_type, digest, size = (
            version.storage_key, version.mime_type, version.sha256, version.size
        )  # fmt: skip
    # The key changes with every new file (it holds a random part): a strong validator.
    validators = Validators(digest, math.floor(version.created_at.timestamp()), size)
    return await stored_file(request, key, mime_type, validators, "version's file")


@router.options(VERSION, include_in_schema=False)
async def version_preflight(request: Request) -> Response:
    return preflight_response(request)
