"""The tus 1.0.0 protocol's words: its headers, its metadata, checksums and its own statuses.

tus (https://tus.io/protocols/resumable-upload) is served by amps itself, over its own storage
and catalog, rather than by a Python tus server package: those are young or unmaintained
(fastapi-tusd 2024, asgi-tus 0.1.0), and each keeps bytes and state its own way, while ours must
go through our storage (a local disk or an S3 multipart upload), the catalog (so a restart or
another replica continues) and the same limits and probe as a plain upload.
"""

import base64
import binascii
import hashlib
import re
from datetime import datetime
from email.utils import format_datetime
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.api.problems import PROBLEM_JSON
from app.errors import Problem

VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "expiration",
    "checksum",
)
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
BODY_TYPE = "application/offset+octet-stream"
# `script`: the clip's script, aligned into captions (as much as fits in the 64 KiB header).
METADATA_FIELDS = frozenset(
    {"filename", "title", "description", "language", "script", "visibility", "publish_at"}
)
MAX_METADATA = 64 * 1024  # the header's length, base64 included
DIGITS = re.compile(r"[0-9]{1,19}")
# tus's own statuses, which http.HTTPStatus does not know.
PHRASES = {460: "Checksum Mismatch"}


def base_headers() -> dict[str, str]:
    """What every tus answer carries (Cache-Control: a HEAD's offset must never be cached)."""
    return {"Tus-Resumable": VERSION, "Cache-Control": "no-store"}


def discovery_headers(max_size: int) -> dict[str, str]:
    """OPTIONS: what this server speaks."""
    return {
        **base_headers(),
        "Tus-Version": VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
    }


def check_version(request: Request) -> None:
    """412 unless the client speaks our version (every request but OPTIONS says which)."""
    given = request.headers.get("tus-resumable")
    if given != VERSION:
        said = f"`Tus-Resumable: {given}`" if given else "no `Tus-Resumable` header"
        raise Problem(
            412,
            f"This server speaks tus {VERSION}; the request sent {said}. "
            f"Send `Tus-Resumable: {VERSION}`.",
            headers={"Tus-Version": VERSION},
        )


def number(request: Request, name: str) -> int | None:
    """A header holding a non-negative integer; None when absent, 400 when malformed."""
    value = request.headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not DIGITS.fullmatch(value):
        raise Problem(400, f"`{name}` must be a whole number of bytes, not {value[:40]!r}.")
    return int(value)


def upload_length(request: Request, max_size: int) -> int | None:
    """Upload-Length at creation, or None when deferred (Upload-Defer-Length: 1); 413 past
    the limit."""
    length = number(request, "Upload-Length")
    deferred = request.headers.get("upload-defer-length")
    if deferred is not None and deferred.strip() != "1":
        raise Problem(400, "`Upload-Defer-Length` may only be 1.")
    if (length is None) == (deferred is None):
        raise Problem(
            400,
            "Say how long the upload is with `Upload-Length`, or send "
            "`Upload-Defer-Length: 1` and give the length later.",
        )
    if length is not None:
        check_size(length, max_size)
    return length


def check_size(length: int, max_size: int) -> None:
    if length > max_size:
        raise Problem(
            413, f"The file is larger than this server accepts ({max_size:,} bytes at most)."
        )
    if length == 0:
        raise Problem(400, "The file is empty.")


def parse_metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs. The keys amps uses are kept
    (filename, title, description, language, script); others are allowed and ignored."""
    if len(header) > MAX_METADATA:
        raise Problem(400, "`Upload-Metadata` is longer than 64 KiB.")
    fields: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(
                400, f"`Upload-Metadata` value of {key[:40]!r} is not base64 of UTF-8 text."
            ) from None
        if key in fields:
            raise Problem(400, f"`Upload-Metadata` gives {key[:40]!r} twice.")
        fields[key] = value
    return {key: value for key, value in fields.items() if key in METADATA_FIELDS}


class Checksum:
    """An Upload-Checksum (`algorithm base64digest`) checked over one request's body."""

    def __init__(self, header: str) -> None:
        name, _, encoded = header.strip().partition(" ")
        if name not in CHECKSUMS:
            raise Problem(
                400, f"Unknown checksum algorithm {name[:20]!r}: use {' or '.join(CHECKSUMS)}."
            )
        try:
            self.expected = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise Problem(400, "The `Upload-Checksum` digest is not base64.") from None
        self.hash = CHECKSUMS[name]()

    def update(self, data: bytes) -> None:
        self.hash.update(data)

    def matches(self) -> bool:
        return self.hash.digest() == self.expected


def expires_header(moment: datetime) -> str:
    """An HTTP date (RFC 9110), as Upload-Expires is given."""
    return format_datetime(moment, usegmt=True)


def problem_response(exc: Problem) -> JSONResponse:
    """A refusal as problem+json with the tus headers (and tus's own statuses) added."""
    status = exc.status
    title = PHRASES.get(status) or HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": title, "status": status, "detail": exc.detail}
    if exc.field:
        body["field"] = exc.field
    headers = {**base_headers(), **(exc.headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)
