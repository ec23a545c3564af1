"""Who may write: the API token holder, or loopback clients when no token is set; never a
request a browser sends on behalf of another site (CSRF)."""

import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from app.config import Settings
from app.errors import Problem

CROSS_SITE = "Writes from other sites' pages are refused: send them from this server's pages or "
CROSS_SITE += "from a script or `curl` (without an Origin header)."


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, public_url: str | None = None) -> bool:
    """Whether a browser sent this from one of our own pages (scripts and curl send no Origin).

    Browsers send Origin on every POST, PATCH and DELETE, and Sec-Fetch-Site on all requests;
    a form or fetch from another site, a sandboxed frame (`null`) or a file is refused.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    if public_url:
        own.add(origin_of(public_url))
    return origin.lower() in own


def check_writer(request: Request, settings: Settings) -> None:
    """Raise a 401/403 Problem unless this request may change the library."""
    if not same_origin(request, settings.public_url):
        raise Problem(403, CROSS_SITE)
    api_token = settings.api_token
    if api_token is None:
        client = request.client.host if request.client else None
        # Behind nginx (X-Accel-Redirect set) every client arrives from loopback.
        if settings.accel_redirect is not None or not is_loopback(client):
            raise Problem(
                403,
                "Writes are accepted from this machine only, because the server has no "
                "API token set. Set AMPS_API_TOKEN on the server and send it as a Bearer token.",
            )
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Problem(
            401,
            "This needs the API token: send `Authorization: Bearer <token>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not token_matches(given, api_token):
        raise Problem(403, "The API token is wrong. Check AMPS_API_TOKEN on the server.")


def require_writer(request: Request) -> None:
    """check_writer as a route dependency: it runs before FastAPI validates a JSON body, so
    a stranger's malformed body gets 401/403, never a 422 that answers before the token."""
    check_writer(request, request.app.state.settings)


def token_matches(given: str, api_token: str) -> bool:
    """Constant-time comparison, so the token cannot be guessed byte by byte from timings."""
    return secrets.compare_digest(given.strip().encode(), api_token.encode())


def check_form_writer(request: Request, settings: Settings, form_token: str) -> None:
    """check_writer for a form posted by one of our pages: a browser cannot send the header, so
    the API token may come in a form field instead (never rendered into the page)."""
    if settings.api_token is None or request.headers.get("authorization") or not form_token:
        check_writer(request, settings)
        return
    if not same_origin(request, settings.public_url):
        raise Problem(403, CROSS_SITE)
    if not token_matches(form_token, settings.api_token):
        raise Problem(403, "The API token is wrong. Check AMPS_API_TOKEN on the server.")
