"""What the service tells its operator: request metrics (a middleware, labelled by route
template, never by raw path) and, with AMPS_LOG_FORMAT=json, one JSON object per log line
carrying the request's id (from `X-Request-ID`, or made up; sent back in that header).

The stream fast path counts its own answers (app.streams.fastpath): it answers in front of
the request-metrics middleware.
"""

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import REQUEST_SECONDS, REQUESTS, UPLOAD_REFUSALS, count_stream

# Where a clip's bytes leave (the fast path answers most of these itself).
STREAM_ROUTES = frozenset({"/media/{media_id}/stream", "/media/{media_id}/renditions/{file}"})
# Where a clip's (or a track's, a version's) bytes arrive: a refusal there is an upload refused.
UPLOAD_ROUTES = frozenset(
    {"/api/media", "/api/uploads", "/api/uploads/{upload_id}", "/api/media/{media_id}/tracks",
     "/api/media/{media_id}/versions"}
)  # fmt: skip
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # a client's id is kept only if it is tame
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_log = logging.getLogger("amps.access")


def route_of(scope: Scope) -> str:
    """The matched route's template (`/api/media/{media_id}`), or `unmatched`."""
    return getattr(scope.get("route"), "path", None) or "unmatched"


class RequestMetrics:
    """ASGI middleware: counts each answer by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = {"status": 500, "length": 0}

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-length" and value.isdigit():
                        answer["length"] = int(value)
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            route, status, method = route_of(scope), answer["status"], scope["method"]
            method = method if method in METHODS else "other"
            REQUESTS.labels(method, route, str(status)).inc()
            REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
            if route in STREAM_ROUTES:
                count_stream(status, answer["length"] if method == "GET" else 0, "route")
            elif route in UPLOAD_ROUTES and method in ("POST", "PATCH") and status >= 400:
                UPLOAD_REFUSALS.labels(str(status)).inc()


class RequestIds:
    """ASGI middleware (JSON logs only): each request gets an id, logged and sent back in
    `X-Request-ID`; one access line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        token = request_id.set(rid)
        started, status = time.perf_counter(), 500

        async def tagging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, tagging_send)
        finally:
            access_log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"method": scope["method"], "path": scope["path"], "status": status,
                       "duration": round(time.perf_counter() - started, 6)},
            )  # fmt: skip
            request_id.reset(token)


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, extras."""

    FIELDS = ("method", "path", "status", "duration")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        for name in self.FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (as logging's last resort does)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def log_json_lines() -> None:
    """Send the `amps` loggers' records (INFO and up) to stderr as JSON lines."""
    logger = logging.getLogger("amps")
    if any(isinstance(h.formatter, JsonLines) for h in logger.handlers):
        return  # a second app in the same process
    handler = _Stderr()
    handler.setFormatter(JsonLines())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
