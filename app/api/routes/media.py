"""The clip API: upload, list, read, edit, delete. Thin: the library does the work."""

import re
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import URL

from app.api.access import find_readable, forget_open_file, has_token
from app.api.auth import check_writer
from app.api.limits import check_upload_rate
from app.api.paging import next_page_url, read_cursor
from app.api.problems import WRITE_PROBLEMS, documented, not_found
from app.api.schemas import MediaPage, MediaPublic, MediaUpdate
from app.api.uploads import UploadError, receive_upload
from app.api.urls import base_url, public_record
from app.catalog.database import ID_PATTERN
from app.catalog.models import Media, utcnow
from app.deps import CatalogDep, LibraryDep, SettingsDep
from app.errors import Problem
from app.library import check_changes, check_search

router = APIRouter(prefix="/api/media", tags=["media"])
VALID_ID = re.compile(ID_PATTERN)
UPLOAD_PROBLEMS = documented(*WRITE_PROBLEMS, 415, 429, 507)
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The clip."},
                    "title": {"type": "string", "maxLength": 300, "example": "Council meeting"},
                    "description": {"type": "string", "maxLength": 20000},
                    "language": {"type": "string", "maxLength": 35, "example": "en"},
                    "visibility": {
                        "type": "string",
                        "enum": ["public", "unlisted", "private"],
                        "default": "public",
                        "description": "Who may see it (see the record's `visibility`).",
                    },
                    "publish_at": {
                        "type": "string",
                        "format": "date-time",
                        "description": "When a private or unlisted clip turns public "
                        "(ISO 8601 with a time zone).",
                    },
                    "script": {
                        "type": "string",
                        "maxLength": 1024 * 1024,
                        "description": "What the clip says, as plain UTF-8 text (at most 1 MB): "
                        "aligned to its speech into a captions track after the upload.",
                    },
                },
            }
        }
    },
}


def find_media(catalog: Any, media_id: str) -> Media:
    """The clip with this id, or a 404 problem (also for ids that cannot be ours)."""
    media = catalog.get(media_id) if VALID_ID.match(media_id) else None
    if media is None:
        raise not_found()
    return media  # type: ignore[no-any-return]


@router.post(
    "",
    status_code=201,
    response_model=MediaPublic,
    responses=UPLOAD_PROBLEMS,
    openapi_extra={"requestBody": UPLOAD_BODY},
    summary="Upload a clip",
)
async def upload_media(
    request: Request,
    response: Response,
    library: LibraryDep,
    settings: SettingsDep,
) -> MediaPublic:
    """Streamed to storage as it arrives; refused (and nothing kept) unless it is audio or video.
    The clip is recorded as `processing`; a background job makes its poster (and a version web
    browsers play, when they cannot play the original) and turns it `ready` or `failed`."""
    await check_upload_rate(request)
    check_writer(request, settings)
    try:
        received = await receive_upload(
            request, library.storage, settings.max_upload_bytes, settings.upload_read_timeout
        )
    except UploadError as exc:
        raise Problem(exc.status, str(exc), field=exc.field or "file") from exc
    media = await library.add_upload(received)
    record = public_record(media, base_url(request, settings.public_url))
    response.headers["Location"] = record.urls.api
    return record


@router.get(
    "", response_model=MediaPage, responses=documented(422), summary="List clips, newest first"
)
def list_media(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    q: Annotated[str | None, Query(max_length=200, description="Words in the title")] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="From a page's `next` link (not offset)")
    ] = None,
) -> MediaPage:
    after = read_cursor(cursor)
    start = after.position if after else offset
    # Unlisted and private clips are listed to the token holder only.
    listed_at = None if has_token(request, settings) else utcnow()
    items, total = catalog.list(
        offset=offset, limit=limit, query=check_search(q), after=after, listed_at=listed_at
    )
    base = base_url(request, settings.public_url)
    following = next_page_url(request, items, start, total)
    if following is not None and "limit" not in request.query_params:
        following = str(URL(following).include_query_params(limit=limit))
    return MediaPage(
        items=[public_record(m, base) for m in items],
        total=total,
        offset=start,
        limit=limit,
        next=following,
    )


@router.get(
    "/{media_id}", response_model=MediaPublic, responses=documented(404, 422), summary="One clip"
)
def get_media(
    media_id: str, request: Request, catalog: CatalogDep, settings: SettingsDep
) -> MediaPublic:
    """A private clip's record answers to the API token, or to the signature of its watch or
    embed page (`?exp=&sig=`: its page's script asks while the clip is processing); else 404."""
    pages = (f"/media/{media_id}", f"/embed/{media_id}")
    media = find_readable(request, catalog, media_id, signed_paths=pages)
    return public_record(media, base_url(request, settings.public_url))


@router.patch(
    "/{media_id}",
    response_model=MediaPublic,
    responses=documented(*WRITE_PROBLEMS),
    summary="Edit a clip",
)
def update_media(
    media_id: str,
    changes: MediaUpdate,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> MediaPublic:
    check_writer(request, settings)
    find_media(catalog, media_id)
    media = catalog.update(media_id, **check_changes(changes.model_dump(exclude_unset=True)))
    if media is None:
        raise not_found()
    if changes.model_fields_set & {"visibility", "publish_at"}:
        forget_open_file(request, media_id)
    return public_record(media, base_url(request, settings.public_url))


@router.delete(
    "/{media_id}", status_code=204, responses=documented(*WRITE_PROBLEMS), summary="Delete a clip"
)
async def delete_media(
    media_id: str, request: Request, library: LibraryDep, settings: SettingsDep
) -> Response:
    check_writer(request, settings)
    if not VALID_ID.match(media_id) or not await anyio.to_thread.run_sync(library.delete, media_id):
        raise not_found()
    return Response(status_code=204)
