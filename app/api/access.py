"""Who may read a clip. Public and unlisted clips: anyone (unlisted ones are only left out
of lists). A private clip: the API token holder (`Authorization: Bearer`) or a request with a
valid signed URL (app.streams.signing), and nobody else: being on loopback is no key here,
as reads are public for everyone. A refusal is the same 404 as an unknown id, so it never
tells that the clip exists. Its `publish_at` passed, a private clip is public.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import anyio.from_thread
from starlette.requests import Request

from app.api.auth import token_matches
from app.api.problems import not_found
from app.catalog.database import ID_RE
from app.catalog.models import Media, utcnow
from app.config import Settings
from app.errors import Problem
from app.streams.signing import Signer

NO_KEYS = (
    "Signed URLs are off on this server: set AMPS_SIGNING_KEYS (one or more keys of at "
    "least 32 characters, separated by commas) and restart it."
)


@dataclass(frozen=True)
class Grant:
    """Why a request may read a clip; `expires` of the signature it came with."""

    by: Literal["anyone", "token", "signature"]
    expires: int | None = None


def has_token(request: Request, settings: Settings) -> bool:
    """Whether the request carries the server's API token (no token set: nobody does)."""
    if not settings.api_token:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(given) and token_matches(given, settings.api_token)


def signer_of(request: Request) -> Signer | None:
    signer: Signer | None = request.app.state.signer
    return signer


def grant(
    request: Request,
    media_id: str,
    visibility: str,
    path: str | None = None,
    query: Mapping[str, str] | None = None,
) -> Grant | None:
    """Whether this request may read the clip, whose visibility now is `visibility`; the
    signature is looked for in `path` and `query` (default: the request's own)."""
    if visibility != "private":
        return Grant("anyone")
    if has_token(request, request.app.state.settings):
        return Grant("token")
    signer = signer_of(request)
    if signer is None:
        return None
    path = request.url.path if path is None else path
    query = request.query_params if query is None else query
    expires = signer.verify(path, query, media_id, time.time())
    return Grant("signature", expires) if expires is not None else None


def find_readable(
    request: Request, catalog: Any, media_id: str, signed_paths: Sequence[str] = ()
) -> Media:
    """The clip with this id if this request may read it, else the unknown id's 404.
    `signed_paths`: paths a signature in the query may open instead of the request's."""
    media = catalog.get(media_id) if ID_RE.match(media_id) else None
    if media is None:
        raise not_found()
    visibility = media.visibility_at(utcnow())
    paths: Sequence[str | None] = signed_paths or (None,)
    if all(grant(request, media.id, visibility, path) is None for path in paths):
        raise not_found()
    return media  # type: ignore[no-any-return]


def forget_open_file(request: Request, media_id: str) -> None:
    """From a route's worker thread: this process's stream fast path forgets the clip's file
    and visibility now (other processes within AMPS_STREAM_CACHE_SECONDS)."""
    files = getattr(request.app.state, "open_files", None)
    if files is not None:
        anyio.from_thread.run_sync(files.forget, media_id)


def url_signer(request: Request, media_id: str, given: Grant) -> Callable[[str], str] | None:
    """Signs a page's URLs of the clip with the expiry it was opened with (None: unsigned)."""
    signer = signer_of(request)
    if given.by != "signature" or signer is None or given.expires is None:
        return None
    expires = given.expires
    return lambda url: signer.sign_url(url, media_id, expires)


def signed_record_urls(
    urls: Mapping[str, str | None], sign: Callable[[str], str]
) -> dict[str, Any]:
    """A record's URLs signed (the API's own address needs the token, not a signature)."""
    signed: dict[str, str | None] = {
        name: sign(url) for name, url in urls.items() if url and name not in ("api", "oembed")
    }
    oembed_base = str(urls["oembed"]).partition("?")[0]
    signed["oembed"] = f"{oembed_base}?url={quote(str(signed['watch']), safe='')}&format=json"
    return {**urls, **signed}


# The signed-URL answer: the shortest and longest life a client may ask for.
MIN_TTL = 10
MAX_TTL = 30 * 24 * 3600


def signed_urls(signer: Signer | None, base: str, media_id: str, ttl: int) -> dict[str, Any]:
    """Signed watch, embed and stream URLs of a clip, valid for `ttl` seconds."""
    if signer is None:
        raise Problem(409, NO_KEYS)
    expires = int(time.time()) + ttl
    watch, embed = f"{base}/media/{media_id}", f"{base}/embed/{media_id}"
    stream = f"{watch}/stream"
    return {
        "watch": signer.sign_url(watch, media_id, expires),
        "embed": signer.sign_url(embed, media_id, expires),
        # The stream URL opens the stream alone, not the pages.
        "stream": signer.sign_url(stream, media_id, expires, urlsplit(stream).path),
        "expires_at": datetime.fromtimestamp(expires, UTC),
    }
