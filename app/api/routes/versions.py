"""A clip's versions: a described version and a sign-language video, one of each at most."""

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.access import find_readable
from app.api.auth import check_writer
from app.api.limits import check_upload_rate
from app.api.problems import WRITE_PROBLEMS, documented, not_found
from app.api.routes.media import VALID_ID, find_media
from app.api.schemas import VersionPublic
from app.api.uploads import UploadError, receive_upload
from app.api.urls import base_url, version_public
from app.catalog.models import VERSION_ROLES
from app.deps import CatalogDep, LibraryDep, SettingsDep
from app.errors import Problem

router = APIRouter(prefix="/api/media/{media_id}/versions", tags=["versions"])
ROLE_TEXT = "The role must be `described` (the clip with audio description mixed in) or `sign`."
NO_VERSION = "This clip has no version of that role (`described` or `sign`)."
VERSION_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "role"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "Audio or video as long as the clip (within 2% or 2 s); "
                        "a sign-language version must be video.",
                    },
                    "role": {"type": "string", "enum": list(VERSION_ROLES)},
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=201,
    response_model=VersionPublic,
    responses=documented(*WRITE_PROBLEMS, 415, 429, 507),
    openapi_extra={"requestBody": VERSION_BODY},
    summary="Add or replace a version of a clip",
)
async def add_version(
    media_id: str, request: Request, library: LibraryDep, settings: SettingsDep
) -> VersionPublic:
    """Streamed, probed and refused like an upload (415/422, nothing kept); also 422 when it
    is not as long as the clip. A version of the same role is replaced. Browsers get a
    web-playable copy when they cannot play the file, made in the background."""
    await check_upload_rate(request)
    check_writer(request, settings)
    await anyio.to_thread.run_sync(find_media, library.catalog, media_id)
    try:
        received = await receive_upload(
            request, library.storage, settings.max_upload_bytes, settings.upload_read_timeout
        )
    except UploadError as exc:
        raise Problem(exc.status, str(exc), field=exc.field or "file") from exc
    role = received.fields.get("role", "").strip()
    media = None
    if role in VERSION_ROLES:
        media = await anyio.to_thread.run_sync(library.catalog.get, media_id)
    if media is None:
        await anyio.to_thread.run_sync(library.storage.discard, received.pending)
        if role not in VERSION_ROLES:
            raise Problem(422, ROLE_TEXT, field="role")
        raise not_found()
    version = await library.add_version(media, role, received)
    return version_public(version, base_url(request, settings.public_url))


@router.delete(
    "/{role}",
    status_code=204,
    responses=documented(*WRITE_PROBLEMS),
    summary="Remove a version of a clip",
)
async def delete_version(
    media_id: str, role: str, request: Request, library: LibraryDep, settings: SettingsDep
) -> Response:
    check_writer(request, settings)
    if not VALID_ID.match(media_id) or role not in VERSION_ROLES:
        raise Problem(404, NO_VERSION)
    if not await anyio.to_thread.run_sync(library.delete_version, media_id, role):
        raise Problem(404, NO_VERSION)
    return Response(status_code=204)


@router.get("", response_model=list[VersionPublic], responses=documented(404), summary="Versions")
def list_versions(
    media_id: str, request: Request, catalog: CatalogDep, settings: SettingsDep
) -> list[VersionPublic]:
    base = base_url(request, settings.public_url)
    return [version_public(v, base) for v in find_readable(request, catalog, media_id).versions]
