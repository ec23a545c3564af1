"""Resumable uploads over tus 1.0.0 at /api/uploads: thin over app.api.resumable.

Served by amps itself, not by a Python tus server package (young or unmaintained, each with its
own storage): see app.api.tus. The same rules hold as for `POST /api/media`: the write rule, the
upload rate (at creation), the size limit while reading (413), the storage quota, the read
timeout; the last byte is probed and recorded exactly as a multipart upload is.
"""

from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from app.api import tus
from app.api.auth import check_writer
from app.api.limits import check_upload_rate
from app.api.problems import documented
from app.api.resumable import NOT_HERE, ResumableUploads, expires_of
from app.api.tus import PHRASES
from app.api.urls import base_url
from app.catalog.models import ResumableUpload
from app.deps import SettingsDep
from app.errors import Problem
from app.library import check_fields
from app.storage.base import ID_PATTERN as VALID_ID

CURL_SESSION = """
Any tus 1.0.0 client works (tus-js-client, tuspy, Uppy). By hand, with `curl`:

```
curl -i -X POST http://127.0.0.1:8000/api/uploads -H 'Tus-Resumable: 1.0.0' \\
     -H "Upload-Length: $(stat -c %s clip.mp4)" \\
     -H "Upload-Metadata: filename $(printf clip.mp4 | base64),title $(printf 'My clip' | base64)"
# 201, Location: http://127.0.0.1:8000/api/uploads/ID
curl -i -X PATCH http://127.0.0.1:8000/api/uploads/ID -H 'Tus-Resumable: 1.0.0' \\
     -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \\
     --data-binary @clip.mp4
# 204, Upload-Offset: SIZE, Location: the clip's API URL, Amps-Media-Id: its id
curl -I http://127.0.0.1:8000/api/uploads/ID -H 'Tus-Resumable: 1.0.0'  # how far it got
```

With tuspy 1.1:

```python
from tusclient.client import TusClient

client = TusClient("http://127.0.0.1:8000/api/uploads")
uploader = client.uploader("clip.mp4", chunk_size=8 * 1024**2, upload_checksum=True,
                           metadata={"filename": "clip.mp4", "title": "Council"})
uploader.upload()  # after a failure: client.uploader("clip.mp4", url=uploader.url).upload()
print(uploader.request.response_headers["amps-media-id"])
```
"""


class TusRoute(APIRoute):
    """Refusals answered with the tus headers (and tus's 460, which HTTPStatus lacks)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as exc:
                return tus.problem_response(exc)

        return answer


router = APIRouter(prefix="/api/uploads", tags=["resumable uploads"], route_class=TusRoute)


def header(name: str, description: str) -> dict[str, Any]:
    """A tus request header for the OpenAPI description (checked by the route, not FastAPI:
    a missing or wrong one gets tus's own answer, such as 412)."""
    schema = {"type": "string"}
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": schema,
        "description": description,
    }


def tus_docs(*statuses: int, headers: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """`responses` and `openapi_extra` for a tus operation: the problems it may answer
    (tus's 460 included) and the Tus-Resumable header with the operation's own."""
    responses = documented(*(s for s in statuses if s not in PHRASES))
    for status in statuses:
        if status in PHRASES:
            responses[status] = {**responses[400], "description": PHRASES[status]}
    version = header("Tus-Resumable", "`1.0.0`: the protocol version (412 for anything else).")
    return {"responses": responses, "openapi_extra": {"parameters": [version, *headers]}}


CHECKSUM = header("Upload-Checksum", "`sha256 <base64 digest>` (or `sha1`) of this body.")


def uploads_of(request: Request) -> ResumableUploads:
    uploads: ResumableUploads = request.app.state.resumable
    return uploads


def upload_url(request: Request, settings: Any, upload_id: str) -> str:
    return f"{base_url(request, settings.public_url)}/api/uploads/{upload_id}"


def state_headers(request: Request, settings: Any, upload: ResumableUpload) -> dict[str, str]:
    """Where the upload stands; once whole, the clip it became."""
    headers = {**tus.base_headers(), "Upload-Offset": str(upload.offset)}
    if upload.length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.length)
    if upload.upload_metadata:
        headers["Upload-Metadata"] = upload.upload_metadata
    expires = expires_of(upload)
    if expires is not None:
        headers["Upload-Expires"] = tus.expires_header(expires)
    if upload.media_id is not None:
        base = base_url(request, settings.public_url)
        headers["Location"] = f"{base}/api/media/{upload.media_id}"
        headers["Amps-Media-Id"] = upload.media_id
    return headers


def body_of(request: Request) -> bool:
    """Whether the request carries upload bytes (415 for a body of another type)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == tus.BODY_TYPE:
        return True
    if content_type or request.headers.get("content-length", "0") not in ("", "0"):
        raise Problem(415, f"Send the upload's bytes as `Content-Type: {tus.BODY_TYPE}`.")
    return False


@router.options("", status_code=204, summary="What this tus server speaks")
@router.options("/{upload_id}", status_code=204, include_in_schema=False)
def discover(settings: SettingsDep) -> Response:
    """`Tus-Version`, `Tus-Extension`, `Tus-Max-Size` (the upload limit) and
    `Tus-Checksum-Algorithm`."""
    return Response(status_code=204, headers=tus.discovery_headers(settings.max_upload_bytes))


@router.post(
    "",
    status_code=201,
    **tus_docs(
        400,
        401,
        403,
        412,
        413,
        415,
        422,
        429,
        460,
        501,
        507,
        headers=(
            header("Upload-Length", "The file's size in bytes (413 past `Tus-Max-Size`)."),
            header("Upload-Defer-Length", "`1`: the length comes with a later PATCH."),
            header("Upload-Metadata", "`key base64,…`: filename, title, description, language."),
            CHECKSUM,
        ),
    ),  # fmt: skip
    summary="Start a resumable upload (tus creation, creation-with-upload)",
    description="`Upload-Length` (or `Upload-Defer-Length: 1`) and `Upload-Metadata` "
    "(`filename`, `title`, `description`, `language`, each base64). A body of type "
    "`application/offset+octet-stream` is the first bytes.\n" + CURL_SESSION,
)
async def create_upload(request: Request, settings: SettingsDep) -> Response:
    await check_upload_rate(request)
    check_writer(request, settings)  # the write rule first, as for every write
    tus.check_version(request)
    length = tus.upload_length(request, settings.max_upload_bytes)
    metadata = request.headers.get("upload-metadata", "")
    check_fields(tus.parse_metadata(metadata))  # refuse a bad title now, not at the last byte
    with_body = body_of(request)
    checksum = _checksum(request)
    uploads = uploads_of(request)
    upload = await anyio.to_thread.run_sync(uploads.create, length, metadata)
    location = upload_url(request, settings, upload.id)
    if with_body:
        async with uploads.writing(upload.id) as fresh:
            upload = await uploads.append(request, fresh, 0, None, checksum)
    headers = state_headers(request, settings, upload)
    if upload.media_id is not None:
        headers["Amps-Media-Url"] = headers["Location"]
    headers["Location"] = location
    return Response(status_code=201, headers=headers)


@router.head("/{upload_id}", summary="How far an upload got", **tus_docs(404, 410, 412, 501))
async def upload_state(upload_id: str, request: Request, settings: SettingsDep) -> Response:
    known_shape(upload_id)
    tus.check_version(request)
    upload = await uploads_of(request).settled(upload_id)
    return Response(status_code=200, headers=state_headers(request, settings, upload))


@router.patch(
    "/{upload_id}",
    status_code=204,
    **tus_docs(
        400,
        401,
        403,
        404,
        408,
        409,
        410,
        412,
        413,
        415,
        422,
        423,
        460,
        501,
        507,
        headers=(
            header("Upload-Offset", "Where these bytes go: the offset HEAD gives (409 if not)."),
            header("Upload-Length", "The file's size, when the upload was made without one."),
            CHECKSUM,
        ),
    ),  # fmt: skip
    summary="Send more bytes of an upload",
    description="At `Upload-Offset` (409 unless it is where the upload stands), optionally "
    "with `Upload-Checksum: sha256 <base64>` (460 when it does not match, nothing kept). The "
    "last byte makes the clip: `Location` is then its API URL and `Amps-Media-Id` its id.",
)
async def append_upload(upload_id: str, request: Request, settings: SettingsDep) -> Response:
    check_writer(request, settings)  # the write rule first, as for every write
    known_shape(upload_id)
    tus.check_version(request)
    if not body_of(request):
        raise Problem(415, f"Send the upload's bytes as `Content-Type: {tus.BODY_TYPE}`.")
    offset = tus.number(request, "Upload-Offset")
    if offset is None:
        raise Problem(400, "Say where these bytes go with `Upload-Offset`.")
    length = tus.number(request, "Upload-Length")
    checksum = _checksum(request)
    uploads = uploads_of(request)
    async with uploads.writing(upload_id) as upload:
        upload = await uploads.append(request, upload, offset, length, checksum)
    return Response(status_code=204, headers=state_headers(request, settings, upload))


@router.delete(
    "/{upload_id}",
    status_code=204,
    summary="Abandon an upload (tus termination)",
    **tus_docs(401, 403, 404, 412, 423, 501),
)
async def terminate_upload(upload_id: str, request: Request, settings: SettingsDep) -> Response:
    check_writer(request, settings)  # the write rule first, as for every write
    known_shape(upload_id)
    tus.check_version(request)
    await anyio.to_thread.run_sync(uploads_of(request).terminate, upload_id)
    return Response(status_code=204, headers=tus.base_headers())


def known_shape(upload_id: str) -> None:
    """404 for an id that cannot be one of ours, before anything else is asked of it."""
    if not VALID_ID.fullmatch(upload_id):
        raise Problem(404, NOT_HERE)


def _checksum(request: Request) -> tus.Checksum | None:
    header = request.headers.get("upload-checksum")
    return tus.Checksum(header) if header is not None else None
