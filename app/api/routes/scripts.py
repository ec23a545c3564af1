"""Machine-made captions of a clip: its script (the text its speech says) aligned to the speech,
or the speech recognised; both run as background jobs."""

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from app.api.auth import check_writer
from app.api.limits import BodyTimeout, body_chunks, stalled_message
from app.api.problems import WRITE_PROBLEMS, documented, not_found
from app.api.routes.media import find_media
from app.deps import LibraryDep, SettingsDep
from app.errors import Problem
from app.speech.script import MAX_SCRIPT_BYTES, ScriptError, decode_script

router = APIRouter(prefix="/api/media/{media_id}", tags=["tracks"])
SCRIPT_BODY = {
    "required": True,
    "content": {
        "text/plain": {
            "schema": {"type": "string", "maxLength": MAX_SCRIPT_BYTES},
            "example": "The city council approved a new budget on Tuesday evening.",
        }
    },
}


async def read_script(request: Request, read_timeout: float) -> str:
    """The body as the script's text, or a 415/422 problem saying what is wrong with it."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("text/plain"):
        raise Problem(415, "Send the script as text/plain; charset=utf-8.")
    if "charset=" in content_type and "charset=utf-8" not in content_type.replace('"', ""):
        raise Problem(422, "The script must be UTF-8 text (charset=utf-8).")
    body = bytearray()
    try:
        async for chunk in body_chunks(request, read_timeout):
            body += chunk
            if len(body) > MAX_SCRIPT_BYTES:
                break  # decode_script says it is too large; the rest is never read
    except ClientDisconnect:
        raise Problem(400, "The request ended before its body was complete.") from None
    except BodyTimeout:
        raise Problem(408, stalled_message(read_timeout)) from None
    try:
        return decode_script(bytes(body))
    except ScriptError as exc:
        raise Problem(422, str(exc)) from exc


@router.put(
    "/script",
    status_code=202,
    response_class=Response,
    response_description="Queued: the captions track appears when the job is done.",
    responses=documented(*WRITE_PROBLEMS, 415),
    openapi_extra={"requestBody": SCRIPT_BODY},
    summary="Set the clip's script, to be aligned into captions",
)
async def put_script(
    media_id: str, request: Request, library: LibraryDep, settings: SettingsDep
) -> Response:
    """Plain UTF-8 text, at most 1 MB: what the clip says. A background job aligns it to the
    speech and adds (or replaces) a captions track labelled e.g. "English (aligned)"; words it
    cannot place are timed between their neighbours. The clip itself is never held back."""
    check_writer(request, settings)
    media = await anyio.to_thread.run_sync(find_media, library.catalog, media_id)
    script = await read_script(request, settings.upload_read_timeout)
    if not await anyio.to_thread.run_sync(library.set_script, media.id, script):
        raise not_found()
    return Response(status_code=202)


@router.post(
    "/captions/automatic",
    status_code=202,
    response_class=Response,
    response_description="Queued: the captions track appears when the job is done.",
    responses=documented(*WRITE_PROBLEMS),
    summary="Recognise the clip's speech into captions",
)
async def recognise_speech(
    media_id: str, request: Request, library: LibraryDep, settings: SettingsDep
) -> Response:
    """A background job recognises the speech (for English, Whisper tiny.en, re-timed by the
    aligner) and adds (or replaces) a captions track labelled e.g. "English (automatic)". With
    no speech, or no model for the clip's language, no track is added."""
    check_writer(request, settings)
    media = await anyio.to_thread.run_sync(find_media, library.catalog, media_id)
    if not await anyio.to_thread.run_sync(library.recognise_speech, media.id):
        raise not_found()
    return Response(status_code=202)
