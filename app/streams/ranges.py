"""Serving a stored file over HTTP: ranges, validators, 304/412/416 and CORS (RFC 9110)."""

from __future__ import annotations

import math
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

# A clip's bytes never change under its id, so caches may keep them long. A day rather than a
# year + `immutable` bounds how long a deleted clip lingers in shared caches; after that a
# revalidation against the strong ETag costs a 304. URLs carrying a content hash may pass more.
DEFAULT_CACHE_CONTROL = "public, max-age=86400"
# As nginx's max_ranges: more ranges than this, or ranges adding up to more than the file
# (overlaps), look like abuse (RFC 9110 14.2 allows ignoring them): we send 200, whole file.
MAX_RANGES = 100
# No `Vary`: the body depends only on the path and Range/If-Range, which caches handle
# natively (RFC 9111 3.4), and the allowed origin is the constant `*`, so not `Vary: Origin`.
CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "Content-Range, Content-Length, Accept-Ranges, ETag",
}
PREFLIGHT_HEADERS = {
    "allow": "GET, HEAD, OPTIONS",
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, HEAD, OPTIONS",
    "access-control-allow-headers": "Range, If-Range, If-None-Match, If-Modified-Since",
    "access-control-max-age": "86400",  # browsers clamp it (Chromium to 2 hours)
}

_OPAQUE_TAG = re.compile(r"[\x21\x23-\x7e]+")  # etagc without obs-text
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
_RANGE_SPEC = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")
_HUGE = 10**4000  # bigger than any file; int() refuses strings over 4300 digits
_ATTR_CHARS = "!#$&+^`|~"  # RFC 5987 attr-char beyond what quote() always keeps
_MAX_NAME = 150


class NotModified(Exception):
    """The client's copy is current (If-None-Match, If-Modified-Since): 304."""


class PreconditionFailed(Exception):
    """If-Match or If-Unmodified-Since does not hold: 412."""


class MalformedRangeHeader(Exception):
    """Not a byte-range set we can read: ignored, as RFC 9110 14.2 says."""


class ExcessiveRanges(Exception):
    """Too many or too overlapping ranges: the whole file is sent instead."""


class RangeNotSatisfiable(Exception):
    """No requested range overlaps the file: 416."""


@dataclass(frozen=True)
class Validators:
    """What a stored file's conditional and range requests are judged against."""

    etag: str  # opaque-tag, without quotes
    last_modified: int  # seconds since the epoch, as Last-Modified says it
    size: int

    def headers(self) -> dict[str, str]:
        return {"etag": f'"{self.etag}"', "last-modified": self.last_modified_text}

    @cached_property
    def last_modified_text(self) -> str:
        return formatdate(self.last_modified, usegmt=True)


def stream_file(
    request: Request,
    path: Path,
    *,
    media_type: str,
    etag: str | None = None,
    download_name: str | None = None,
    cache_control: str = DEFAULT_CACHE_CONTROL,
) -> Response:
    """A response to GET or HEAD of `path`; it does no I/O until sent, so any route may call it."""
    if etag is not None and not _OPAQUE_TAG.fullmatch(etag):
        raise ValueError(f"an ETag is printable ASCII without quotes or spaces, not {etag!r}")
    headers = stream_headers(cache_control, download_name)
    return StreamResponse(path, request.headers, media_type, etag, headers)


def stream_headers(
    cache_control: str = DEFAULT_CACHE_CONTROL, download_name: str | None = None
) -> dict[str, str]:
    """The headers of every answer to GET or HEAD of a stream, whatever its status."""
    headers = {
        "accept-ranges": "bytes",
        "cache-control": cache_control,
        "x-content-type-options": "nosniff",
        **CORS_HEADERS,
    }
    if download_name is not None:
        headers["content-disposition"] = _attachment(download_name)
    return headers


def content_type(media_type: str) -> str:
    """The Content-Type of a body of this type (as Starlette writes it: text gets a charset)."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        return f"{media_type}; charset=utf-8"
    return media_type


def preflight_response(request: Request) -> Response:
    """The answer to OPTIONS on a stream: any origin may read it, ranges included."""
    return Response(status_code=204, headers=PREFLIGHT_HEADERS)


class StreamResponse(Response):
    """Decides, once the file is statted (in a worker thread), what to send, and sends it."""

    def __init__(
        self,
        path: Path,
        request_headers: Headers,
        content_type: str,
        etag: str | None,
        headers: dict[str, str],
    ) -> None:
        self.path, self.request_headers = path, request_headers
        self.content_type, self.etag = content_type, etag
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            file_stat = await anyio.to_thread.run_sync(_stat_regular_file, self.path)
        except (FileNotFoundError, NotADirectoryError):
            # Deleted between the catalog lookup and now: a race, not a server fault.
            detail = {"title": "Not Found", "status": 404, "detail": "This media file is gone."}
            gone = JSONResponse(detail, 404, media_type="application/problem+json")
            return await gone(scope, receive, send)
        response, ranges = self._select(file_stat)
        await response(_with_ranges(scope, ranges), receive, send)
        if self.background is not None:
            await self.background()

    def _select(self, file_stat: os.stat_result) -> tuple[Response, list[tuple[int, int]]]:
        plan = plan_response(self.request_headers, self._validators(file_stat), dict(self.headers))
        if plan.status != 200:
            return Response(status_code=plan.status, headers=plan.headers), []
        whole = FileResponse(self.path, 200, plan.headers, self.content_type, stat_result=file_stat)
        return whole, plan.ranges

    def _validators(self, file_stat: os.stat_result) -> Validators:
        etag = self.etag
        if etag is None:  # strong as long as a file only changes by being replaced
            etag = f"{file_stat.st_size:x}-{file_stat.st_mtime_ns:x}"
        return Validators(etag, math.floor(file_stat.st_mtime), file_stat.st_size)


@dataclass(frozen=True)
class Plan:
    """What to answer: 200 with `ranges` ([] for the whole body, else 206 parts), or 304/412/416."""

    status: int
    headers: dict[str, str]
    ranges: list[tuple[int, int]]  # (start, end exclusive), in the order asked


def plan_response(
    request_headers: Headers, validators: Validators, headers: dict[str, str]
) -> Plan:
    """The one place where a request's conditions and ranges become a status code.

    Any body sender (a local file, an object store) asks this first; `headers` are the
    response's own, to which the validators (and Content-Range for 416) are added.
    """
    headers = {**headers, **validators.headers()}
    try:
        _check_preconditions(request_headers, validators)
        ranges = _requested_ranges(request_headers, validators)
    except NotModified:
        return Plan(304, headers, [])
    except PreconditionFailed:
        return Plan(412, headers, [])
    except RangeNotSatisfiable:
        headers["content-range"] = f"bytes */{validators.size}"
        return Plan(416, headers, [])
    except (MalformedRangeHeader, ExcessiveRanges):
        ranges = []
    return Plan(200, headers, ranges)


def _stat_regular_file(path: Path) -> os.stat_result:
    file_stat = os.stat(path)
    if not stat.S_ISREG(file_stat.st_mode):  # a directory or /dev/zero is not media
        raise FileNotFoundError(f"{path} is not a regular file")
    return file_stat


def _with_ranges(scope: Scope, ranges: list[tuple[int, int]]) -> Scope:
    """The scope FileResponse sees: our decision as a canonical Range, If-Range already done."""
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"range", b"if-range")]
    if ranges:
        spec = ",".join(f"{start}-{end - 1}" for start, end in ranges)
        headers.append((b"range", f"bytes={spec}".encode("latin-1")))
    return {**scope, "headers": headers}


def _check_preconditions(headers: Headers, validators: Validators) -> None:
    """RFC 9110 13.2.2 steps 1 to 4, for GET and HEAD."""
    if not _preconditions_hold(headers, validators):
        raise PreconditionFailed
    if _client_copy_current(headers, validators):
        raise NotModified


def _preconditions_hold(headers: Headers, validators: Validators) -> bool:
    if_match = ", ".join(headers.getlist("if-match")) or None
    if if_match is not None:
        return etag_listed(if_match, validators.etag, weak_ok=False)
    since = _single_date(headers, "if-unmodified-since")
    return since is None or validators.last_modified <= since


def _client_copy_current(headers: Headers, validators: Validators) -> bool:
    if_none_match = ", ".join(headers.getlist("if-none-match")) or None
    if if_none_match is not None:  # then If-Modified-Since is ignored
        return etag_listed(if_none_match, validators.etag, weak_ok=True)
    since = _single_date(headers, "if-modified-since")
    return since is not None and validators.last_modified <= since


def _single_date(headers: Headers, name: str) -> int | None:
    """The date of a field sent once; None when absent, repeated or invalid (then ignored)."""
    values = headers.getlist(name)
    return _parse_http_date(values[0]) if len(values) == 1 else None


def _parse_http_date(value: str) -> int | None:
    try:
        parsed = parsedate_to_datetime(value.strip(" \t"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return math.floor(parsed.timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def etag_listed(field: str, etag: str, *, weak_ok: bool) -> bool:
    """Whether `*` or a list of entity-tags names ours (RFC 9110 8.8.3.2 comparisons)."""
    if field.strip(" \t") == "*":
        return True
    tags = _ENTITY_TAG.findall(field)
    return any(tag == etag and (weak_ok or not weak) for weak, tag in tags)


def _requested_ranges(headers: Headers, validators: Validators) -> list[tuple[int, int]]:
    """The byte ranges to send, [] for the whole file (RFC 9110 13.2.2 step 5, 14.2)."""
    ranges, if_range = headers.getlist("range"), headers.getlist("if-range")
    if not ranges:
        return []
    if if_range and not (len(if_range) == 1 and _if_range_holds(if_range[0], validators)):
        return []
    if len(ranges) > 1:
        raise MalformedRangeHeader("Range sent more than once")
    return _parse_range(ranges[0], validators.size)


def _if_range_holds(value: str, validators: Validators) -> bool:
    """Strong comparison with the ETag, or the very second of Last-Modified (RFC 9110 13.1.5)."""
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):
        return value == f'"{validators.etag}"'
    return _parse_http_date(value) == validators.last_modified


def _parse_range(value: str, size: int) -> list[tuple[int, int]]:
    """(start, end) pairs, end exclusive, of the satisfiable parts of a Range field."""
    unit, equals, range_set = value.strip(" \t").partition("=")
    if not equals or unit.lower() != "bytes":
        raise MalformedRangeHeader("not a bytes range")
    # Empty list elements are allowed (RFC 9110 5.6.1): "bytes=0-1,,5-".
    specs = [spec for spec in (part.strip(" \t") for part in range_set.split(",")) if spec]
    if not specs:
        raise MalformedRangeHeader("no range-spec")
    if len(specs) > MAX_RANGES:
        raise ExcessiveRanges
    return _satisfiable([_parse_spec(spec, size) for spec in specs], size)


def _parse_spec(spec: str, size: int) -> tuple[int, int, bool]:
    """(start, end exclusive, satisfiable) of one range-spec, clamped to the file."""
    match = _RANGE_SPEC.fullmatch(spec)
    if match is None:
        raise MalformedRangeHeader(f"bad range-spec {spec!r}")
    first, last, suffix = match.groups()
    if suffix is not None:  # "-500": the last 500 bytes, or all of a shorter file
        length = _number(suffix)
        return max(size - length, 0), size, length > 0
    start = _number(first)
    if last and _number(last) < start:  # "5-4" is invalid, which voids the whole field
        raise MalformedRangeHeader(f"last-pos before first-pos in {spec!r}")
    end = min(_number(last) + 1, size) if last else size
    return start, end, start < size


def _number(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 4000 else _HUGE


def _satisfiable(specs: list[tuple[int, int, bool]], size: int) -> list[tuple[int, int]]:
    """Drops the unsatisfiable parts; 416 only when none is left (RFC 9110 14.1.1, 15.5.17)."""
    satisfiable = [(start, end) for start, end, ok in specs if ok]
    if not satisfiable:
        raise RangeNotSatisfiable
    if sum(end - start for start, end in satisfiable) > size:
        raise ExcessiveRanges
    # Only a suffix range of an empty file is satisfiable yet empty: that file is sent whole.
    return [(start, end) for start, end in satisfiable if start < end]


def _attachment(name: str) -> str:
    """Content-Disposition for a download (RFC 6266, 5987), safe whatever the name holds."""
    name = _safe_filename(name)
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\/' else "_"
        for c in unicodedata.normalize("NFKD", name)
        if not unicodedata.combining(c)
    )
    if fallback == name:
        return f'attachment; filename="{name}"'
    encoded = quote(name, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _safe_filename(name: str) -> str:
    """The last path part, without control, format or quoting characters; never empty."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(
        " " if unicodedata.category(c).startswith("Z") else c
        for c in unicodedata.normalize("NFC", name)
        if not unicodedata.category(c).startswith("C") and c != '"'
    ).strip(" .")
    stem, suffix = os.path.splitext(kept)
    suffix = suffix[:16]
    return (stem[: _MAX_NAME - len(suffix)] + suffix) or "download"
