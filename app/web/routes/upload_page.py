"""The upload page: a plain form post without JavaScript, the API with it (static/upload.js)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import RedirectResponse, Response

from app.api.auth import check_writer, is_loopback, same_origin, token_matches
from app.api.limits import check_upload_rate
from app.api.uploads import UploadError, receive_upload
from app.config import Settings
from app.deps import LibraryDep, SettingsDep
from app.errors import Problem
from app.web.i18n import Catalogue, choose

router = APIRouter(include_in_schema=False)
FIELDS = ("title", "description", "language", "script")
SCRIPT_STRINGS = (
    "uploading", "upload_cancelled", "upload_done", "upload_failed", "upload_network",
    "upload_paused", "upload_resumed", "upload_offline", "script_refused",
)  # fmt: skip


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def render_form(
    request: Request, settings: Settings, t: Catalogue, *, status: int = 200,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    max_bytes = settings.max_upload_bytes
    token = settings.api_token
    client = request.client.host if request.client else None
    context = {
        "t": t,
        "errors": errors or {},
        "values": {name: (values or {}).get(name, "") for name in FIELDS},
        "max_bytes": max_bytes,
        "max_size": size_text(max_bytes),
        "needs_token": token is not None,
        "loopback_only": token is None and is_loopback(client),
        "script_strings": {k: t(k) for k in SCRIPT_STRINGS},
    }
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, "upload.html", context, status)
    return response


@router.get("/upload", response_class=HTMLResponse)
async def upload_page(request: Request, settings: SettingsDep, lang: str | None = None) -> Response:
    return render_form(request, settings, choose(lang, request.headers.get("accept-language")))


@router.post("/upload", response_class=HTMLResponse)
async def upload_form(request: Request, library: LibraryDep, settings: SettingsDep) -> Response:
    t = choose(request.query_params.get("lang"), request.headers.get("accept-language"))
    # Cross-site posts are refused (CSRF): browsers send Origin on every POST.
    if not same_origin(request, settings.public_url):
        return render_form(request, settings, t, status=403, errors={"file": t("upload_failed")})
    try:
        await check_upload_rate(request)
        if settings.api_token is None:
            check_writer(request, settings)
        received = await receive_upload(
            request, library.storage, settings.max_upload_bytes, settings.upload_read_timeout
        )
    except (Problem, UploadError) as exc:
        errors = {exc.field or "file": str(exc)}  # a script refused as it arrives: its field
        response = render_form(request, settings, t, status=exc.status, errors=errors)
        if isinstance(exc, Problem) and exc.headers:
            response.headers.update(exc.headers)
        return response
    values = received.fields
    if settings.api_token is not None and not token_matches(
        values.get("token", ""), settings.api_token
    ):
        library.storage.discard(received.pending)
        error = "The API token is wrong. Check AMPS_API_TOKEN on the server."
        return render_form(request, settings, t, status=403, errors={"token": error}, values=values)
    try:
        media = await library.add_upload(received)
    except Problem as exc:
        errors = {exc.field or "file": exc.detail}
        return render_form(request, settings, t, status=exc.status, errors=errors, values=values)
    return RedirectResponse(f"/media/{media.id}", status_code=303)
