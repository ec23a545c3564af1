"""Receiving a multipart upload straight into storage, enforcing limits while reading.

Written by hand over python-multipart's streaming parser because Starlette's form
parser spools files to /tmp (another filesystem, then a second copy) and cannot stop
a body at a total byte limit while it arrives.
"""

from dataclasses import dataclass, field
from typing import Protocol

import anyio.to_thread
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.api.limits import BodyTimeout, body_chunks, stalled_message
from app.library import ReceivedUpload
from app.speech.script import MAX_SCRIPT_BYTES, ScriptError, decode_script
from app.storage.base import Pending, StorageFull

FILE_FIELD = "file"
# token: the HTML form's; role: a version's (app.api.routes.versions)
TEXT_FIELDS = frozenset(
    {"title", "description", "language", "token", "role", "visibility", "publish_at"}
)
SCRIPT_FIELD = "script"  # the clip's script, aligned into captions after the upload
MAX_TEXT_FIELD_BYTES = 64 * 1024
# Room for boundaries, headers and the text fields, a script of up to 1 MB among them.
FORM_OVERHEAD_BYTES = 256 * 1024 + MAX_SCRIPT_BYTES
WRITE_CHUNK = 1024 * 1024  # batch small network chunks into fewer threaded disk writes


class UploadError(Exception):
    """A request the client must fix; `status` is the HTTP status to answer."""

    status = 400
    field: str | None = None


class UploadTooLarge(UploadError):
    status = 413


class UploadIncomplete(UploadError):
    """The client went away or the body ended early: nothing is kept."""


class UploadStalled(UploadError):
    """The client stopped sending: the worker is freed and nothing is kept."""

    status = 408


class StorageFullError(UploadError):
    status = 507


class PendingFactory(Protocol):
    def begin(self) -> Pending: ...

    def discard(self, pending: Pending) -> None: ...


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)


class _Receiver:
    """python-multipart callbacks: file bytes go to a buffer, text fields to memory."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_seen = False
        self.file_done = False
        self.file_size = 0
        self.buffer = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_end(self) -> None:
        self.part.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        self.part.name = name.decode("utf-8", "replace") if name is not None else None
        filename = options.get(b"filename")
        if self.part.name == FILE_FIELD:
            if self.file_seen:
                raise UploadError("Send one file per upload, in the field named `file`.")
            self.file_seen = True
            self.filename = filename.decode("utf-8", "replace") if filename is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.name == FILE_FIELD:
            self.file_size += end - start
            if self.file_size > self.max_bytes:
                raise UploadTooLarge(too_large_message(self.max_bytes))
            self.buffer.extend(data[start:end])
        elif self.part.name == SCRIPT_FIELD:
            self.part.text.extend(data[start:end])
            if len(self.part.text) > MAX_SCRIPT_BYTES:
                raise script_error(bytes(self.part.text))
        elif self.part.name in TEXT_FIELDS:
            self.part.text.extend(data[start:end])
            if len(self.part.text) > MAX_TEXT_FIELD_BYTES:
                error = UploadError(f"The `{self.part.name}` field is longer than 64 KiB.")
                error.field = self.part.name
                raise error

    def on_part_end(self) -> None:
        if self.part.name == FILE_FIELD:
            self.file_done = True
        elif self.part.name == SCRIPT_FIELD:
            if self.part.text.strip():  # blank: no script
                try:
                    self.fields[SCRIPT_FIELD] = decode_script(bytes(self.part.text))
                except ScriptError:
                    raise script_error(bytes(self.part.text)) from None
        elif self.part.name in TEXT_FIELDS:
            self.fields[self.part.name] = self.part.text.decode("utf-8", "replace")


def script_error(text: bytes) -> UploadError:
    """422 naming the `script` field, with decode_script's sentence."""
    try:
        decode_script(text)
        message = "The script could not be read."
    except ScriptError as exc:
        message = str(exc)
    error = UploadError(message)
    error.status = 422
    error.field = SCRIPT_FIELD
    return error


def too_large_message(max_bytes: int) -> str:
    return f"The file is larger than this server accepts ({max_bytes:,} bytes at most)."


def boundary_of(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadError(
            "Send the clip as multipart/form-data with the file in a field named `file`."
        )
    return boundary


def check_declared_length(request: Request, max_bytes: int) -> None:
    """Refuse at once when Content-Length already says the body is too big."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FORM_OVERHEAD_BYTES:
        raise UploadTooLarge(too_large_message(max_bytes))


async def receive_upload(
    request: Request, storage: PendingFactory, max_bytes: int, read_timeout: float = 30.0
) -> ReceivedUpload:
    """Stream the request's `file` part into a pending storage file; discard it on any failure."""
    check_declared_length(request, max_bytes)
    receiver = _Receiver(max_bytes)
    parser = MultipartParser(boundary_of(request), receiver.callbacks())  # type: ignore[arg-type]
    pending = await anyio.to_thread.run_sync(storage.begin)
    try:
        await _pump(request, parser, receiver, pending, read_timeout)
    except BaseException:
        await anyio.to_thread.run_sync(storage.discard, pending)
        raise
    return ReceivedUpload(pending, receiver.filename, receiver.fields)


async def _pump(
    request: Request,
    parser: MultipartParser,
    receiver: _Receiver,
    pending: Pending,
    read_timeout: float,
) -> None:
    try:
        async for chunk in body_chunks(request, read_timeout):
            parser.write(chunk)
            if len(receiver.buffer) >= WRITE_CHUNK:
                await _flush(receiver, pending)
        parser.finalize()
    except ClientDisconnect as exc:
        raise UploadIncomplete("The upload was interrupted before it finished.") from exc
    except BodyTimeout as exc:
        raise UploadStalled(stalled_message(read_timeout)) from exc
    except MultipartParseError as exc:
        raise UploadError(f"The multipart body could not be read: {exc}.") from exc
    await _flush(receiver, pending)
    if not receiver.file_seen:
        raise UploadError("No file was sent: put the clip in a field named `file`.")
    if not receiver.file_done:
        raise UploadIncomplete("The upload ended before the whole file arrived.")
    if receiver.file_size == 0:
        raise UploadError("The file is empty.")


async def _flush(receiver: _Receiver, pending: Pending) -> None:
    data = bytes(receiver.buffer)
    receiver.buffer.clear()
    if data:
        try:
            await anyio.to_thread.run_sync(pending.write, data)
        except StorageFull as exc:
            raise StorageFullError(
                "The server's storage is full; nothing was kept. Try again later."
            ) from exc
