"""Signed URLs of a clip: an HMAC-SHA256 over the clip id, an expiry and the path prefix the
URL may open, as `?exp=UNIX-SECONDS&sig=BASE64URL` on the URL.

The prefix is the URL's own path or one of its parents from the clip's segment on:
`/media/ID` opens the watch page and everything under it (stream, poster, tracks, the
playable copy), `/media/ID/stream` the stream alone, `/embed/ID` the embed page. The
verifier tries each such prefix of the request's path, with every key (AMPS_SIGNING_KEYS:
the first signs, all verify, so keys rotate), comparing in constant time.
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

EXPIRES = "exp"
SIGNATURE = "sig"
_DIGITS = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, base64url without padding


def scopes(path: str, media_id: str) -> list[str]:
    """The prefixes of `path` a signature may name: from the clip's segment to the end."""
    segments = path.split("/")
    if media_id not in segments[1:]:
        return []
    start = segments.index(media_id, 1) + 1
    return ["/".join(segments[:end]) for end in range(start, len(segments) + 1)]


def clip_scope(path: str, media_id: str) -> str:
    """The widest prefix of `path` for this clip: `/media/ID` or `/embed/ID`."""
    found = scopes(path, media_id)
    if not found:
        raise ValueError(f"{path!r} is not a path of clip {media_id!r}")
    return found[0]


class Signer:
    """Makes and checks signatures with the operator's keys (the first one signs)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("no signing keys")
        self.keys = [key.encode() for key in keys]

    @staticmethod
    def _mac(key: bytes, media_id: str, expires: int, scope: str) -> bytes:
        message = f"amps-signed-url\n{media_id}\n{expires}\n{scope}".encode()
        return hmac.new(key, message, hashlib.sha256).digest()

    def signature(self, media_id: str, expires: int, scope: str) -> str:
        mac = self._mac(self.keys[0], media_id, expires, scope)
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign_url(self, url: str, media_id: str, expires: int, scope: str | None = None) -> str:
        """`url` with `exp` and `sig` added; `scope` defaults to the clip's widest prefix."""
        if scope is None:
            scope = clip_scope(urlsplit(url).path, media_id)
        joiner = "&" if "?" in url else "?"
        signature = self.signature(media_id, expires, scope)
        return f"{url}{joiner}{EXPIRES}={expires}&{SIGNATURE}={signature}"

    def verify(self, path: str, query: Mapping[str, str], media_id: str, now: float) -> int | None:
        """The expiry of a valid, unexpired signature in `query` for `path`; else None."""
        expires, given = query.get(EXPIRES, ""), query.get(SIGNATURE, "")
        if not _DIGITS.fullmatch(expires) or not _SIGNATURE.fullmatch(given):
            return None
        if int(expires) <= now:
            return None
        mac = base64.urlsafe_b64decode(given + "=")
        valid = False
        for scope in scopes(path, media_id):
            for key in self.keys:
                # Every candidate is computed: no early exit tells which one was close.
                valid |= hmac.compare_digest(mac, self._mac(key, media_id, int(expires), scope))
        return int(expires) if valid else None
