"""GET and HEAD of a clip's stream, answered in front of FastAPI from files kept open.

The same rules (app.streaming.plan_response), headers and bytes as the route in
app/web/routes/stream.py, without its catalog trip, routing and thread hops. Whatever this path
does not handle goes on to the route unchanged: a query string (`?download=1` names the file
from the record; a signed URL's `exp` and `sig`), an id it cannot open (unknown, deleted, not
on a local disk, catalog down: the route says which), a private clip (the route asks for the
token or a signature, and answers as for an unknown id without them), several ranges
(multipart/byteranges).

Bytes leave without passing through Python when the server or a proxy can send them: whole
files by `http.response.pathsend` (granian), whole files and plain single ranges by
`X-Accel-Redirect` to nginx (AMPS_ACCEL_REDIRECT).
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import anyio
import anyio.lowlevel
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.catalog.database import ID_PATTERN
from app.metrics import count_fast_stream
from app.streams.open_files import OpenFile, OpenFiles, read_at
from app.streams.ranges import Plan, content_type, plan_response, stream_headers

STREAM_PATH = re.compile(rf"/media/({ID_PATTERN.strip('^$')})/stream")
STREAM_ROUTE, RENDITION_ROUTE = "/media/{media_id}/stream", "/media/{media_id}/renditions/{file}"
# A file of the clip's rendition ladder: its HLS playlists name byte ranges of it.
RENDITION_PATH = re.compile(rf"/media/({ID_PATTERN.strip('^$')})/renditions/(\w+\.m(?:p4|4a))")
CHUNK = 256 * 1024  # bytes read and sent at a time; a 64 KiB range is one read
# The fields our answer depends on: after an internal redirect nginx would judge them by its
# own (different) rules, so a request carrying them is redirected only when nginx agrees.
JUDGED_HERE = frozenset(
    [b"range", b"if-range", b"if-match", b"if-none-match", b"if-modified-since"]
    + [b"if-unmodified-since"]
)
_JUDGED_NAMES = frozenset(name.decode() for name in JUDGED_HERE)
SIMPLE_RANGE = re.compile(rb"bytes=[0-9]{1,15}-[0-9]{0,15}")
PATHSEND = "http.response.pathsend"


class StreamFastPath:
    """ASGI middleware: serves what it can of /media/{id}/stream, passes the rest on."""

    def __init__(
        self,
        app: ASGIApp,
        files: OpenFiles | None,
        extra_headers: dict[str, str],
        accel_redirect: str | None = None,
    ) -> None:
        """`extra_headers`: what the app's header middleware, which this skips, would add."""
        self.app, self.files, self.accel_redirect = app, files, accel_redirect
        self.extra_headers = extra_headers
        self.base_headers = stream_headers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.files is not None
            and scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and not scope.get("query_string")
        ):
            path = scope["path"]
            match = STREAM_PATH.fullmatch(path)
            if match is not None and await self._serve(match[1], scope, receive, send):
                return
            match = RENDITION_PATH.fullmatch(path)
            key = f"{match[1]}/{match[2]}" if match else None
            if key is not None and await self._serve(key, scope, receive, send):
                return
        await self.app(scope, receive, send)

    async def _serve(self, media_id: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """True when the response was sent; False to let the route answer."""
        assert self.files is not None
        entry = await self.files.acquire(media_id)
        if entry is None:
            return False
        try:
            if entry.private_until > time.time():
                return False  # the route asks for the token or a signature, or answers 404
            plan = plan_response(_Fields(scope), entry.validators, self.base_headers)
            if len(plan.ranges) > 1:
                return False
            await self._respond(plan, entry, scope, receive, send)
        finally:
            self.files.release(entry)
        return True

    async def _respond(
        self, plan: Plan, entry: OpenFile, scope: Scope, receive: Receive, send: Send
    ) -> None:
        headers, status = plan.headers, plan.status
        start, end = 0, 0
        if status == 200:
            start, end = plan.ranges[0] if plan.ranges else (0, entry.validators.size)
            headers["content-type"] = content_type(entry.media_type)
            headers["content-length"] = str(end - start)
            if plan.ranges:
                status = 206
                headers["content-range"] = f"bytes {start}-{end - 1}/{entry.validators.size}"
        elif status != 304:  # as Starlette's Response: an empty body has a length, 304 none
            headers["content-length"] = "0"
        for name, value in self.extra_headers.items():
            headers.setdefault(name, value)
        head = scope["method"] == "HEAD"
        route = STREAM_ROUTE if scope["path"].endswith("/stream") else RENDITION_ROUTE
        count_fast_stream(scope["method"], status, 0 if head else end - start, route)
        if status not in (200, 206) or head:
            await self._start(send, status, headers)
            await send({"type": "http.response.body", "body": b""})
        elif self.accel_redirect and _nginx_answers_alike(scope, status):
            # nginx sends the file (or the one range) and sets length, range and status; on
            # a whole file it adds Accept-Ranges too, beside the one it keeps of ours.
            headers.pop("content-range", None)
            if status == 200:
                del headers["accept-ranges"]
            headers["content-length"] = "0"
            headers["x-accel-redirect"] = self.accel_redirect + quote(entry.relative)
            await self._start(send, 200, headers)
            await send({"type": "http.response.body", "body": b""})
        elif status == 200 and PATHSEND in scope.get("extensions", {}):
            await self._start(send, status, headers)
            await send({"type": PATHSEND, "path": str(entry.path)})
        else:
            await self._start(send, status, headers)
            assert self.files is not None
            await _send_body(entry, start, end, self.files.readers(), receive, send)

    @staticmethod
    async def _start(send: Send, status: int, headers: dict[str, str]) -> None:
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})


class _Fields(Headers):
    """The request's headers, with the fields plan_response asks for found in one pass."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        self._lists: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            if name in JUDGED_HERE:
                self._lists.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))

    def getlist(self, key: str) -> list[str]:
        key = key.lower()
        return self._lists.get(key, []) if key in _JUDGED_NAMES else super().getlist(key)


def _nginx_answers_alike(scope: Scope, status: int) -> bool:
    """Whether nginx, given this request after the redirect, sends what we decided: the whole
    file when nothing asks for less, or one plain `bytes=N-[M]` range we found satisfiable
    (as nginx parses those: no If-Range, no suffix, no list, no huge numbers)."""
    judged = [(name, value) for name, value in scope["headers"] if name in JUDGED_HERE]
    if status == 200:
        return not judged
    return (
        status == 206
        and len(judged) == 1
        and judged[0][0] == b"range"
        and SIMPLE_RANGE.fullmatch(judged[0][1]) is not None
    )


async def _send_body(
    entry: OpenFile,
    start: int,
    end: int,
    readers: anyio.CapacityLimiter,
    receive: Receive,
    send: Send,
) -> None:
    """The bytes start..end in chunks; stops early when the client goes away."""
    if end - start <= CHUNK:
        body = await read_at(entry.fd, start, end - start, readers) if end > start else b""
        await send({"type": "http.response.body", "body": body})
        return
    async with anyio.create_task_group() as tasks:
        gone = anyio.Event()
        tasks.start_soon(_watch_disconnect, receive, gone)
        offset = start
        while offset < end and not gone.is_set():
            chunk = await read_at(entry.fd, offset, min(CHUNK, end - offset), readers)
            offset += len(chunk)
            try:
                await send({"type": "http.response.body", "body": chunk, "more_body": offset < end})
            except OSError:
                break  # the client went away (ASGI 2.4 servers raise on send)
            # Granian's send returns at once, without yielding, once the client is gone:
            # let the watcher run, or a hung-up download would be read to its end.
            await anyio.lowlevel.checkpoint()
        tasks.cancel_scope.cancel()


async def _watch_disconnect(receive: Receive, gone: anyio.Event) -> None:
    # Servers before ASGI 2.4 (uvicorn) drop what is sent after a disconnect without a word.
    message: Message = {}
    while message.get("type") != "http.disconnect":
        message = await receive()
    gone.set()
