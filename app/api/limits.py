"""Limits on what one client may ask of the server: upload rate, body size, body stalls."""

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.catalog.database import Catalog
from app.errors import Problem

MAX_JSON_BYTES = 64 * 1024
WINDOW = 60.0
MAX_CLIENTS = 100_000  # addresses remembered at once; past it the oldest are forgotten
# Requests whose routes stream and limit their bodies themselves (uploads of clips and tracks).
STREAMED = ("multipart/form-data",)
# Resumable (tus) upload bodies, streamed and limited by their routes (POST and PATCH).
STREAMED_ANY_METHOD = ("application/offset+octet-stream",)


def _is_script(scope: Scope, content_type: str) -> bool:
    """A clip's script (PUT /api/media/{id}/script): its route reads and limits it (1 MB)."""
    return (
        scope["method"] == "PUT"
        and scope["path"].endswith("/script")
        and content_type.startswith("text/plain")
    )


class BodyTimeout(Exception):
    """The client sent nothing for longer than the read timeout."""


class RateLimiter:
    """At most `per_minute` events per key in any 60 s (a sliding window); 0 means no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.events: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float | None:
        """Count one event for key: None when allowed, else the seconds until one would be."""
        if self.per_minute <= 0:
            return None
        now = self.clock()
        events = self.events.pop(key, None) or deque()
        while events and events[0] <= now - WINDOW:
            events.popleft()
        self.events[key] = events  # re-inserted: the dict stays ordered by last use
        if len(events) >= self.per_minute:
            return events[0] + WINDOW - now
        events.append(now)
        while len(self.events) > MAX_CLIENTS:
            del self.events[next(iter(self.events))]
        return None


class SharedRateLimiter:
    """RateLimiter's rule counted in the catalog (PostgreSQL), so that replicas sharing it
    together allow what one server would. Blocking: ask from a worker thread."""

    def __init__(self, per_minute: int, catalog: Catalog) -> None:
        self.per_minute = per_minute
        self.catalog = catalog

    def retry_after(self, key: str) -> float | None:
        if self.per_minute <= 0:
            return None
        # The column holds any IP address (45 characters at most); longer keys are cut.
        return self.catalog.count_upload(key[:64], self.per_minute, WINDOW)


def upload_limiter(per_minute: int, catalog: Catalog) -> RateLimiter | SharedRateLimiter:
    """Counted in the shared catalog on PostgreSQL; in this process's memory on SQLite."""
    if catalog.shared:
        return SharedRateLimiter(per_minute, catalog)
    return RateLimiter(per_minute)


async def check_upload_rate(request: Request) -> None:
    """A 429 problem with Retry-After when this client address has started too many uploads."""
    limiter: RateLimiter | SharedRateLimiter = request.app.state.upload_limiter
    client = request.client.host if request.client else ""
    if isinstance(limiter, SharedRateLimiter) and limiter.per_minute > 0:
        wait = await anyio.to_thread.run_sync(limiter.retry_after, client)
    else:
        wait = limiter.retry_after(client)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise Problem(
            429,
            f"Too many uploads from your address: at most {limiter.per_minute} a minute. "
            f"Try again in {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
        )


async def body_chunks(request: Request, timeout: float) -> AsyncIterator[bytes]:
    """The request body as it arrives; BodyTimeout when it stalls for `timeout` seconds."""
    chunks = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(timeout):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTimeout from None
        yield chunk


def stalled_message(timeout: float) -> str:
    return (
        f"The request body stopped arriving for {timeout:g} seconds, so it was dropped and "
        "nothing was kept. Check the connection and send it again."
    )


class BodyLimit:
    """Reads small bodies (JSON and the like) whole before the app sees them, refusing
    one past `max_bytes` with 413 as soon as it passes, and a stalled one with 408.

    Multipart POSTs pass through untouched: their routes stream them and limit them.
    """

    def __init__(self, app: ASGIApp, read_timeout: float, max_bytes: int = MAX_JSON_BYTES) -> None:
        self.app = app
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "").lower()
        if (
            (scope["method"] == "POST" and content_type.startswith(STREAMED))
            or content_type.startswith(STREAMED_ANY_METHOD)
            or _is_script(scope, content_type)
        ):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(headers, receive)
        except Problem as exc:
            response = problem_response(exc.status, exc.detail, {"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, headers: Headers, receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        body = bytearray()
        while True:
            try:
                with anyio.fail_after(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                raise Problem(408, stalled_message(self.read_timeout)) from None
            if message["type"] == "http.disconnect":
                raise Problem(400, "The request ended before its body was complete.")
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                raise self._too_large()
            if not message.get("more_body", False):
                return bytes(body)

    def _too_large(self) -> Problem:
        return Problem(
            413, f"The request body is larger than {self.max_bytes // 1024} KiB, the most taken."
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read already, then waits on the client (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
