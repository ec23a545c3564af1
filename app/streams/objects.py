"""Serving an object of an S3 store: the client's ranges proxied, or a redirect to the store.

The decision (200/206/304/412/416, which ranges) is app.streaming.plan_response's, as for
local files; this module only moves the bytes. Proxy mode sends single ranges straight
through as ranged GETs and assembles several as multipart/byteranges, a chunk at a time.
Redirect mode (AMPS_S3_REDIRECT=1) answers a GET that would get 200/206 with a 307 to a
presigned URL, and the client sends its Range to the store; HEAD, 304, 412 and 416 are
answered here from the record, so they never depend on the store's own validators.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator

import anyio.to_thread
import obstore
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from app.storage.base import MissingKey
from app.storage.s3 import ObjectInfo, S3Storage
from app.streams.ranges import CORS_HEADERS, Validators, content_type, plan_response, stream_headers

CHUNK = 256 * 1024  # what each send() carries: memory per reader stays about this


def object_response(
    request: Request,
    storage: S3Storage,
    key: str,
    *,
    media_type: str,
    validators: Validators | None = None,
    download_name: str | None = None,
    redirect: bool = False,
) -> Response:
    """A response to GET or HEAD of a stored object; validators None: ask the store (HEAD)."""
    headers = stream_headers(download_name=download_name)
    disposition = headers.get("content-disposition")
    return ObjectResponse(
        storage, key, request.headers, media_type, validators, headers, redirect, disposition
    )


def info_validators(info: ObjectInfo) -> Validators:
    """Validators of an object known only to the store (posters, tracks)."""
    return Validators(info.etag, math.floor(info.last_modified.timestamp()), info.size)


class ObjectResponse(Response):
    def __init__(
        self,
        storage: S3Storage,
        key: str,
        request_headers: Headers,
        media_type: str,
        validators: Validators | None,
        headers: dict[str, str],
        redirect: bool,
        disposition: str | None,
    ) -> None:
        self.storage, self.key, self.request_headers = storage, key, request_headers
        self.content_type, self.validators = content_type(media_type), validators
        self.redirect, self.disposition = redirect, disposition
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            validators = self.validators or info_validators(
                await anyio.to_thread.run_sync(self.storage.info, self.key)
            )
        except MissingKey:
            return await _gone(scope, receive, send)
        plan = plan_response(self.request_headers, validators, dict(self.headers))
        head = scope["method"] == "HEAD"
        if plan.status != 200:
            return await Response(status_code=plan.status, headers=plan.headers)(
                scope, receive, send
            )
        if self.redirect and not head:
            return await self._redirect(plan.headers)(scope, receive, send)
        ranges = _coalesced(plan.ranges)
        headers = {**plan.headers, "content-type": self.content_type}
        size = validators.size
        if len(ranges) > 1:
            boundary = secrets.token_hex(13)
            parts = [(_part_header(boundary, self.content_type, r, size), r) for r in ranges]
            closing = f"--{boundary}--".encode("latin-1")
            length = sum(len(h) + r[1] - r[0] + 2 for h, r in parts) + len(closing)
            headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
            body = self._multipart(parts, closing)
            return await self._send(send, 206, headers, length, body, head)
        start, end = ranges[0] if ranges else (0, size)
        if ranges:
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        status = 206 if ranges else 200
        if head or start == end:
            return await self._send(send, status, headers, end - start, None, head)
        try:  # the first chunk before the status: a vanished object is still a clean 404
            stream = await self._open(start, end)
            first = await anext(stream, b"")
        except MissingKey:
            return await _gone(scope, receive, send)
        return await self._send(send, status, headers, end - start, _prepend(first, stream), head)

    def _redirect(self, headers: dict[str, str]) -> Response:
        url = self.storage.presign(
            self.key, media_type=self.content_type, disposition=self.disposition, public=True
        )
        # Browsers may reuse the redirect for a while; shared caches must not keep it past
        # the URL's life.
        kept = max(self.storage.url_expiry // 2, 0)
        redirect_headers = {
            **CORS_HEADERS,
            "location": url,
            "cache-control": f"private, max-age={kept}",
            "etag": headers["etag"],
        }
        return Response(status_code=307, headers=redirect_headers)

    async def _open(self, start: int, end: int) -> AsyncIterator[bytes]:
        try:
            result = await obstore.get_async(
                self.storage.store, self.key, options={"range": (start, end)}
            )
        except FileNotFoundError:
            raise MissingKey(self.key) from None
        return _chunks(result.stream(min_chunk_size=CHUNK))

    async def _multipart(
        self, parts: list[tuple[bytes, tuple[int, int]]], closing: bytes
    ) -> AsyncIterator[bytes]:
        for header, (start, end) in parts:
            yield header
            async for chunk in await self._open(start, end):
                yield chunk
            yield b"\r\n"
        yield closing

    async def _send(
        self,
        send: Send,
        status: int,
        headers: dict[str, str],
        length: int,
        body: AsyncIterator[bytes] | None,
        head: bool,
    ) -> None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if body is not None and not head:
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _chunks(stream: AsyncIterator[object]) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield bytes(chunk)  # type: ignore[call-overload]


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


def _part_header(boundary: str, content_type: str, span: tuple[int, int], size: int) -> bytes:
    start, end = span
    return (
        f"--{boundary}\r\nContent-Type: {content_type}\r\n"
        f"Content-Range: bytes {start}-{end - 1}/{size}\r\n\r\n"
    ).encode("latin-1")


def _coalesced(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching ranges merged, in file order (as Starlette's FileResponse)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


async def _gone(scope: Scope, receive: Receive, send: Send) -> None:
    detail = {"title": "Not Found", "status": 404, "detail": "This media file is gone."}
    await JSONResponse(detail, 404, media_type="application/problem+json")(scope, receive, send)
