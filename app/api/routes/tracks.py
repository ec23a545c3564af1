"""A clip's text tracks: add one from WebVTT or SRT (checked, stored as WebVTT), remove one."""

import re
from collections.abc import AsyncGenerator

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from app.api.auth import check_writer
from app.api.limits import BodyTimeout, body_chunks, check_upload_rate, stalled_message
from app.api.problems import WRITE_PROBLEMS, documented, not_found
from app.api.routes.media import find_media
from app.api.schemas import TrackPublic
from app.api.urls import base_url, track_url
from app.catalog.database import UnknownMedia
from app.catalog.models import TRACK_KINDS
from app.deps import CatalogDep, LibraryDep, SettingsDep
from app.errors import Problem
from app.library import LANGUAGE_TAG
from app.media.captions import MAX_BYTES, CaptionError, parse_track, to_vtt, track_label

router = APIRouter(prefix="/api/media/{media_id}/tracks", tags=["tracks"])
MAX_BODY = MAX_BYTES + 64 * 1024  # the file, plus room for boundaries and the text fields
MAX_LABEL = 100
MAX_SRCLANG = 35
RESPONSES = documented(*WRITE_PROBLEMS, 415, 429, 507)
KINDS_TEXT = ", ".join(TRACK_KINDS[:-1]) + " or " + TRACK_KINDS[-1]
TRACK_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "srclang"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "A WebVTT (.vtt) or SubRip (.srt) file, at most 2 MiB.",
                    },
                    "kind": {"type": "string", "enum": list(TRACK_KINDS), "default": "captions"},
                    "srclang": {
                        "type": "string",
                        "pattern": LANGUAGE_TAG.pattern,
                        "maxLength": MAX_SRCLANG,
                        "example": "en",
                        "description": "The language of the text, as a BCP 47 tag.",
                    },
                    "label": {
                        "type": "string",
                        "maxLength": MAX_LABEL,
                        "example": "English",
                        "description": "Its name in menus; by default the language's.",
                    },
                },
            }
        }
    },
}


def too_large() -> Problem:
    return Problem(
        413,
        "The track file is larger than 2 MiB; captions even for a long film are far smaller, "
        "so check that this is the right file.",
        field="file",
    )


def check_fields(form: FormData) -> tuple[str, str, str]:
    """kind, srclang and label of the form, or a 422 problem naming the field at fault."""
    kind = _text(form, "kind") or "captions"
    srclang = _text(form, "srclang")
    label = " ".join(_text(form, "label").split())
    if kind not in TRACK_KINDS:
        raise Problem(422, f"The kind must be {KINDS_TEXT}.", field="kind")
    if not srclang:
        raise Problem(422, "The srclang is required: a language tag like `en`.", field="srclang")
    if len(srclang) > MAX_SRCLANG or not LANGUAGE_TAG.fullmatch(srclang):
        raise Problem(422, "The srclang must be a tag like `en` or `pt-BR`.", field="srclang")
    if len(label) > MAX_LABEL or re.search(r"[\x00-\x1f\x7f]", label):
        raise Problem(
            422, f"The label must be one line of at most {MAX_LABEL} characters.", field="label"
        )
    return kind, srclang, label or track_label(srclang)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise Problem(422, f"The `{name}` field must be text, not a file.", field=name)
    return (value or "").strip()


async def read_form(request: Request, read_timeout: float) -> FormData:
    """The multipart body, buffered (it is small) and refused as soon as it passes MAX_BODY."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise Problem(415, "Send the track as multipart/form-data, the file in the field `file`.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large()
    body = bytearray()
    try:
        async for chunk in body_chunks(request, read_timeout):
            body += chunk
            if len(body) > MAX_BODY:
                raise too_large()
    except ClientDisconnect:
        raise Problem(400, "The request ended before its body was complete.") from None
    except BodyTimeout:
        raise Problem(408, stalled_message(read_timeout)) from None

    async def whole() -> AsyncGenerator[bytes]:
        yield bytes(body)

    try:
        return await MultiPartParser(request.headers, whole(), max_files=1, max_fields=8).parse()
    except MultiPartException as exc:
        raise Problem(400, f"The form could not be read: {exc.message}") from exc


def checked_vtt(data: bytes, filename: str | None) -> str:
    """The file as clean WebVTT, or a 422 problem with the line at fault."""
    try:
        return to_vtt(parse_track(data, filename))
    except CaptionError as exc:
        raise Problem(422, str(exc), field="file") from exc


@router.post(
    "",
    status_code=201,
    response_model=TrackPublic,
    responses=RESPONSES,
    openapi_extra={"requestBody": TRACK_BODY},
    summary="Add captions, subtitles, descriptions or chapters",
)
async def add_track(
    media_id: str, request: Request, response: Response, library: LibraryDep, settings: SettingsDep
) -> TrackPublic:
    """WebVTT or SRT (converted to WebVTT). A file with any error is refused whole, naming the
    line, and nothing is kept."""
    await check_upload_rate(request)
    check_writer(request, settings)
    media = await anyio.to_thread.run_sync(find_media, library.catalog, media_id)
    form = await read_form(request, settings.upload_read_timeout)
    try:
        kind, srclang, label = check_fields(form)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Problem(422, "Send the track file in the form field `file`.", field="file")
        data = await upload.read(MAX_BYTES + 1)
    finally:
        await form.close()
    if len(data) > MAX_BYTES:
        raise too_large()
    vtt = await anyio.to_thread.run_sync(checked_vtt, data, upload.filename)
    try:
        track = await anyio.to_thread.run_sync(
            library.add_track, media.id, kind, srclang, label, vtt
        )
    except UnknownMedia:  # deleted meanwhile
        raise not_found() from None
    url = track_url(base_url(request, settings.public_url), media.id, track.id)
    record = TrackPublic.model_validate(
        {
            "id": track.id,
            "kind": kind,
            "srclang": srclang,
            "label": label,
            "url": url,
            "origin": track.origin,
            "reviewed": track.reviewed,
        }
    )
    response.headers["Location"] = record.url
    return record


@router.delete(
    "/{track_id}",
    status_code=204,
    responses=documented(*WRITE_PROBLEMS),
    summary="Remove a track",
)
async def delete_track(
    media_id: str,
    track_id: str,
    request: Request,
    catalog: CatalogDep,
    library: LibraryDep,
    settings: SettingsDep,
) -> Response:
    check_writer(request, settings)
    media = await anyio.to_thread.run_sync(find_media, catalog, media_id)
    if not await anyio.to_thread.run_sync(library.delete_track, media.id, track_id):
        raise not_found("track of this clip")
    return Response(status_code=204)
