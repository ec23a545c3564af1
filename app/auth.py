"""Who may write: the API token holder, or loopback clients when no token is set."""

import ipaddress
import secrets

from starlette.requests import Request

from app.problems import Problem


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_writer(request: Request, api_token: str | None) -> None:
    """Raise a 401/403 Problem unless this request may change the library."""
    if api_token is None:
        client = request.client.host if request.client else None
        if not is_loopback(client):
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


def token_matches(given: str, api_token: str) -> bool:
    """Constant-time comparison, so the token cannot be guessed byte by byte from timings."""
    return secrets.compare_digest(given.strip().encode(), api_token.encode())
