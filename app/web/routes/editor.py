"""The caption editor: GET shows a track's cues as a form, POST saves them (or restores the
machine-made text). A plain form post without JavaScript; static/editor.js edits the same form."""

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import RedirectResponse, Response

from app.api.access import grant
from app.api.auth import CROSS_SITE, check_form_writer, is_loopback
from app.api.limits import BodyTimeout, body_chunks
from app.api.routes.media import VALID_ID
from app.catalog.models import utcnow
from app.config import Settings
from app.deps import LibraryDep, SettingsDep
from app.errors import Problem
from app.library import Library
from app.media.captions import MAX_BYTES
from app.media.cue_edits import check_cues, edited_vtt, rows_from_form
from app.web.editor_view import EditorPage, explain, stored_rows
from app.web.i18n import Catalogue, choose

router = APIRouter(include_in_schema=False)
EDIT = "/media/{media_id}/tracks/{track_id}/edit"
RESTORE = "/media/{media_id}/tracks/{track_id}/restore"
# A track's WebVTT is at most 2 MiB; as form fields, URL-encoded, it may triple.
MAX_FORM = 3 * MAX_BYTES + 64 * 1024
HEADERS = {"Cache-Control": "no-store", "Vary": "Accept-Language"}
NOTE = "Captions edited by a person in the amps caption editor on {date}. {reviewed}"


def catalogue(request: Request) -> Catalogue:
    return choose(request.query_params.get("lang"), request.headers.get("accept-language"))


def writer_of(request: Request, settings: Settings) -> str:
    if settings.api_token is not None:
        return "token"
    client = request.client.host if request.client else None
    loopback = is_loopback(client) and settings.accel_redirect is None
    return "loopback" if loopback else "refused"


def render(request: Request, page: EditorPage, status: int = 200) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request, "editor.html", {"t": page.t, "page": page}, status_code=status, headers=HEADERS
    )
    return response


async def load(request: Request, library: Library, media_id: str, track_id: str) -> EditorPage:
    """The page for this clip and track; `track` None (and a 404 to answer) when unknown."""
    t = catalogue(request)
    page = EditorPage(t=t, writer=writer_of(request, request.app.state.settings))
    media = None
    if VALID_ID.match(media_id):
        media = await anyio.to_thread.run_sync(library.catalog.get, media_id)
    page.media = media
    page.track = next((tr for tr in media.tracks if tr.id == track_id), None) if media else None
    if page.track is not None:
        page.reviewed = page.track.reviewed
    return page


@router.get(EDIT, response_class=HTMLResponse)
async def edit_page(
    media_id: str, track_id: str, request: Request, library: LibraryDep
) -> Response:
    page = await load(request, library, media_id, track_id)
    media = page.media
    if media is not None and grant(request, media.id, media.visibility_at(utcnow())) is None:
        page.media = page.track = None  # a private clip's text: as for an unknown id
    if page.track is None:
        return render(request, page, 404)
    rows = await anyio.to_thread.run_sync(stored_rows, library.storage, page.track)
    page.rows, page.unreadable = rows or [], rows is None
    done = request.query_params.get("done")
    if done in ("saved", "restored"):
        page.message = page.t(f"editor_{done}")
    return render(request, page)


async def read_form(request: Request, settings: Settings) -> list[tuple[str, str]]:
    """The URL-encoded form, refused past MAX_FORM bytes or when it stalls."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM:
        raise Problem(413, "The form is larger than a track may be (2 MiB of WebVTT).")
    body = bytearray()
    try:
        async for chunk in body_chunks(request, settings.upload_read_timeout):
            body += chunk
            if len(body) > MAX_FORM:
                raise Problem(413, "The form is larger than a track may be (2 MiB of WebVTT).")
    except BodyTimeout:
        raise Problem(408, "The form stopped arriving before it was complete.") from None
    text = body.decode("utf-8", errors="replace")
    return parse_qsl(text, keep_blank_values=True, max_num_fields=4 * 20_000 + 16)


async def authorised(
    request: Request, page: EditorPage, settings: Settings, form: dict[str, str]
) -> Response | None:
    """None when this post may write; else the page again, with why next to the token field
    (or at the top), the entered values kept."""
    try:
        check_form_writer(request, settings, form.get("token", ""))
    except Problem as exc:
        if exc.detail == CROSS_SITE:
            key = "editor_cross_site"
        elif settings.api_token is None:
            key = "editor_loopback_refused"
        else:
            key = "editor_token_missing" if not form.get("token") else "editor_token_wrong"
        token_field = settings.api_token is not None and key != "editor_cross_site"
        at = "amps-token" if token_field else "amps-form"
        page.errors, page.summary = {at: page.t(key)}, [(at, page.t(key))]
        return render(request, page, exc.status)
    return None


@router.post(EDIT, response_class=HTMLResponse)
async def save_edit(
    media_id: str, track_id: str, request: Request, library: LibraryDep, settings: SettingsDep
) -> Response:
    page = await load(request, library, media_id, track_id)
    form = await posted(request, page, settings)
    if isinstance(form, Response):
        return form
    if page.track is None or page.media is None:
        return render(request, page, 404)
    if (refused := await authorised(request, page, settings, form)) is not None:
        return refused
    cues, problems = check_cues(page.rows, page.media.duration)
    if problems:
        page.errors, page.summary = explain(problems, page.t)
        return render(request, page, 422)
    reviewed = "Reviewed by a person." if page.reviewed else "Not yet marked as reviewed."
    vtt = edited_vtt(cues, NOTE.format(date=f"{datetime.now(UTC):%Y-%m-%d}", reviewed=reviewed))
    saved = await anyio.to_thread.run_sync(
        lambda: library.save_edited_track(media_id, track_id, vtt, reviewed=page.reviewed)
    )
    if saved is None:  # removed meanwhile
        page.track = None
        return render(request, page, 404)
    return done(page, "saved")


@router.post(RESTORE, response_class=HTMLResponse)
async def restore(
    media_id: str, track_id: str, request: Request, library: LibraryDep, settings: SettingsDep
) -> Response:
    """The edit form's "Restore" button posts the whole form here (the token with it)."""
    page = await load(request, library, media_id, track_id)
    form = await posted(request, page, settings)
    if isinstance(form, Response):
        return form
    if page.track is None:
        return render(request, page, 404)
    if (refused := await authorised(request, page, settings, form)) is not None:
        return refused
    restored = await anyio.to_thread.run_sync(library.restore_machine_track, media_id, track_id)
    if restored is None:  # nothing machine-made to restore: the page shows the track as it is
        return done(page, "")
    return done(page, "restored")


async def posted(
    request: Request, page: EditorPage, settings: Settings
) -> dict[str, str] | Response:
    """The posted form, its rows and review mark put back into the page (shown again if it
    is refused); the page itself when the form could not be read."""
    try:
        items = await read_form(request, settings)
    except Problem as exc:
        message = page.t("editor_form_too_large" if exc.status == 413 else "editor_form_stalled")
        page.errors, page.summary = {"amps-form": message}, [("amps-form", message)]
        return render(request, page, exc.status if page.track else 404)
    form = dict(items)
    page.rows, page.reviewed = rows_from_form(items), form.get("reviewed") == "1"
    return form


def done(page: EditorPage, what: str) -> Response:
    """Back to the editor (303, so a reload does not post again), saying what was done."""
    query = f"?lang={page.t.code}" + (f"&done={what}" if what else "")
    return RedirectResponse(page.urls["edit"] + query + "#amps-editor-status", status_code=303)
