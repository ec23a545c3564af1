"""gzip for what the server renders or ships as text: pages and static assets, as a CDN
serves them. Media and tracks are never compressed (byte ranges address the bytes as stored).

Starlette's GZipMiddleware would compress every response, streams included, so the routes
that want it ask here instead."""

import gzip
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import HTMLResponse

MIN_SIZE = 1024  # bytes: smaller pages gain less than gzip's own header and a CPU's time
LEVEL = 6  # zlib's default: within a few % of 9 at a fraction of the time, per request


def accepts_gzip(request: Request) -> bool:
    """Whether Accept-Encoding takes gzip (or `*`) with a q-value above 0."""
    for item in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            name, _, value = params.replace(" ", "").partition("=")
            try:
                return name.lower() != "q" or float(value) > 0
            except ValueError:
                return False
    return False


def gzipped(body: bytes) -> bytes | None:
    """The body gzipped, or None when it is too small to gain."""
    return gzip.compress(body, LEVEL, mtime=0) if len(body) >= MIN_SIZE else None


def html_response(
    request: Request,
    body: bytes,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    compressed: bytes | None = None,
) -> HTMLResponse:
    """A rendered page, gzipped when the client takes it (an embed's 9 KB become about 3 KB:
    what a slow link waits for before the player can start). `compressed`: the body gzipped
    once already (the page cache keeps both)."""
    sent = dict(headers or {})
    sent["Vary"] = ", ".join(filter(None, [sent.get("Vary", ""), "Accept-Encoding"]))
    if accepts_gzip(request) and (packed := compressed or gzipped(body)) is not None:
        body = packed
        sent["Content-Encoding"] = "gzip"
    return HTMLResponse(body, status, headers=sent)
