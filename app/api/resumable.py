"""Resumable uploads (tus 1.0.0): their state in the catalog, their bytes in storage, one writer
at a time, and the last byte handed to the library as any upload is.

Durability: a request's bytes are synced before the offset that covers them is recorded (every
CHECKPOINT bytes, when the body ends and when the client goes away), so the recorded offset
never runs ahead of the bytes on disk; bytes past it, left by a process killed between the two,
are cut off when the next request opens the file.
"""

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request

from app.api.limits import BodyTimeout, body_chunks, stalled_message
from app.api.tus import Checksum, check_size, parse_metadata
from app.catalog.database import Catalog, new_id
from app.catalog.models import ResumableUpload, utcnow
from app.config import Settings
from app.errors import Problem
from app.library import Library, ReceivedUpload
from app.storage.base import ID_PATTERN, MissingKey, Pending, StorageError, StorageFull

log = logging.getLogger("amps")
WRITE_CHUNK = 1024 * 1024  # network chunks batched into fewer threaded disk writes
CHECKPOINT = 32 * 1024 * 1024  # a long PATCH records its durable offset this often
LOCK_WAIT = 3.0  # a writer whose client went away lets go within moments: wait that long
ORPHAN_GRACE = 300.0  # a partial file with no record may be a creation between its two steps
NOT_HERE = "No upload has this id. Start a new one with POST /api/uploads."
GONE = "This upload expired (or its bytes were lost), so nothing of it is kept. Start again."
BUSY = "Another request is writing to this upload. Wait for it, ask HEAD for the offset, resume."
UNSUPPORTED = "This storage does not take resumable uploads; upload with POST /api/media."


class Appending(Protocol):
    """One request's appends to an upload (AppendFile on disk, AppendObject on S3)."""

    start: int
    size: int

    @property
    def end(self) -> int: ...
    def write(self, data: bytes) -> None: ...
    def sync(self) -> None: ...
    def rewind(self) -> None: ...
    def close(self) -> None: ...


class PartialFiles(Protocol):
    """What a store offers resumable uploads (LocalStorage, S3Storage)."""

    def create_resumable(self, upload_id: str) -> None: ...
    def append_resumable(self, upload_id: str, offset: int) -> Appending: ...
    def completed_resumable(self, upload_id: str, length: int) -> Pending: ...
    def drop_resumable(self, upload_id: str) -> None: ...
    def resumable_ages(self) -> dict[str, float]: ...


class ResumableUploads:
    def __init__(self, settings: Settings, library: Library) -> None:
        self.settings = settings
        self.library = library
        self.catalog: Catalog = library.catalog
        self.syncs = ThreadPoolExecutor(4, thread_name_prefix="amps-upload-sync")

    @property
    def files(self) -> PartialFiles:
        storage = self.library.storage
        if not hasattr(storage, "append_resumable"):
            raise Problem(501, UNSUPPORTED)
        return storage  # type: ignore[return-value]

    @property
    def expiry(self) -> timedelta:
        return timedelta(seconds=self.settings.upload_expiry)

    # Creation, lookup, termination (blocking: call from a thread).

    def create(self, length: int | None, metadata: str) -> ResumableUpload:
        upload_id = new_id()
        files = self.files
        files.create_resumable(upload_id)
        upload = ResumableUpload(
            id=upload_id,
            state="open",
            length=length,
            offset=0,
            upload_metadata=metadata,
            expires_at=utcnow() + self.expiry,
        )
        try:
            return self.catalog.add_resumable(upload)
        except BaseException:
            files.drop_resumable(upload_id)
            raise

    def find(self, upload_id: str) -> ResumableUpload:
        """The upload, 404 when unknown (or terminated), 410 when it expired."""
        self.files  # noqa: B018 -- 501 on a store without partial files
        upload = self.catalog.get_resumable(upload_id) if _valid(upload_id) else None
        if upload is None:
            raise Problem(404, NOT_HERE)
        if upload.state == "expired" or (upload.state == "open" and upload.expires_at < utcnow()):
            raise Problem(410, GONE)
        return upload

    def terminate(self, upload_id: str) -> None:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            with self.catalog.resumable_lock(upload_id) as held:
                if held:
                    self._terminate(upload_id)
                    return
            if time.monotonic() > deadline:
                raise Problem(423, BUSY)
            time.sleep(0.05)

    def _terminate(self, upload_id: str) -> None:
        if not _valid(upload_id) or self.catalog.get_resumable(upload_id) is None:
            raise Problem(404, NOT_HERE)
        self.files.drop_resumable(upload_id)
        self.catalog.delete_resumable(upload_id)

    # Appending (a PATCH, or a POST with a body).

    @contextlib.asynccontextmanager
    async def writing(self, upload_id: str) -> AsyncIterator[ResumableUpload]:
        """Hold the upload for this request (423 when another holds it) and read it afresh."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            manager = self.catalog.resumable_lock(upload_id)
            if await anyio.to_thread.run_sync(manager.__enter__):
                break
            await anyio.to_thread.run_sync(manager.__exit__, None, None, None)
            if time.monotonic() > deadline:
                raise Problem(423, BUSY)
            await anyio.sleep(0.05)
        try:
            yield await anyio.to_thread.run_sync(self.find, upload_id)
        finally:
            with anyio.CancelScope(shield=True):  # released even when the client went away
                await anyio.to_thread.run_sync(manager.__exit__, None, None, None)

    async def append(
        self,
        request: Request,
        upload: ResumableUpload,
        offset: int,
        length: int | None,
        checksum: Checksum | None,
    ) -> ResumableUpload:
        """Append the request's body at `offset` (409 unless it is the recorded one); a body
        that completes the upload is probed and recorded as a clip (its refusal keeps nothing)."""
        if offset != upload.offset:
            raise Problem(
                409,
                f"The upload is at byte {upload.offset:,}, not {offset:,}: ask HEAD for the "
                "offset and send from there.",
                headers={"Upload-Offset": str(upload.offset)},
            )
        if upload.state == "done":
            return upload
        if length is not None and length != upload.length:
            upload = await anyio.to_thread.run_sync(self._set_length, upload, length)
        limit = upload.length if upload.length is not None else self.settings.max_upload_bytes
        file = await anyio.to_thread.run_sync(self._open, upload)
        try:
            upload = await self._pump(request, upload, file, limit, checksum)
        finally:
            await anyio.to_thread.run_sync(file.close)
        if upload.length is not None and upload.offset == upload.length:
            upload = await self.complete(upload)
        return upload

    def _set_length(self, upload: ResumableUpload, length: int) -> ResumableUpload:
        if upload.length is not None:
            raise Problem(400, f"The upload's length is already {upload.length:,} bytes.")
        check_size(length, self.settings.max_upload_bytes)
        if length < upload.offset:
            raise Problem(400, f"{upload.offset:,} bytes are already here, more than {length:,}.")
        return self._record(upload, length=length)

    def _open(self, upload: ResumableUpload) -> Appending:
        try:
            return self.files.append_resumable(upload.id, upload.offset)
        except MissingKey as exc:
            self.catalog.change_resumable(upload.id, state="expired")
            raise Problem(410, GONE) from exc

    def _record(self, upload: ResumableUpload, **fields: object) -> ResumableUpload:
        fields.setdefault("expires_at", utcnow() + self.expiry)
        changed = self.catalog.change_resumable(upload.id, **fields)
        if changed is None:
            raise Problem(404, NOT_HERE)
        return changed

    def _checkpoint(self, upload: ResumableUpload, file: Appending) -> ResumableUpload:
        """Sync the bytes, then record the offset they reach (never the other way round)."""
        file.sync()
        return self._record(upload, offset=file.end)

    async def _pump(
        self,
        request: Request,
        upload: ResumableUpload,
        file: Appending,
        limit: int,
        checksum: Checksum | None,
    ) -> ResumableUpload:
        buffer = bytearray()
        unrecorded = 0
        checkpoints = _Checkpoints(self, upload, file)
        try:
            async for chunk in body_chunks(request, self.settings.upload_read_timeout):
                if file.end + len(buffer) + len(chunk) > limit:
                    raise Problem(413, _too_large(upload, limit))
                buffer += chunk
                if checksum is not None:
                    checksum.update(chunk)
                if len(buffer) >= WRITE_CHUNK:
                    unrecorded += len(buffer)
                    await anyio.to_thread.run_sync(file.write, bytes(buffer))
                    buffer.clear()
                    if unrecorded >= CHECKPOINT and checksum is None:
                        await checkpoints.start()
                        unrecorded = 0
            await anyio.to_thread.run_sync(file.write, bytes(buffer))
        except (ClientDisconnect, BodyTimeout) as exc:
            # What arrived is kept (tus: the client asks HEAD and resumes from there), unless a
            # checksum was to vouch for the whole body.
            with anyio.CancelScope(shield=True):
                if buffer and checksum is None:
                    await anyio.to_thread.run_sync(file.write, bytes(buffer))
                upload = await checkpoints.settle()
                await anyio.to_thread.run_sync(self._keep_or_rewind, upload, file, checksum)
            if isinstance(exc, BodyTimeout):
                raise Problem(408, stalled_message(self.settings.upload_read_timeout)) from exc
            raise Problem(400, "The request ended before its body did.") from exc
        except StorageFull as exc:
            upload = await checkpoints.settle()
            await anyio.to_thread.run_sync(self._keep_or_rewind, upload, file, checksum)
            raise Problem(507, "The server's storage is full. Try again later.") from exc
        except Problem:  # past the length: what came before it stays
            upload = await checkpoints.settle()
            await anyio.to_thread.run_sync(self._keep_or_rewind, upload, file, checksum)
            raise
        upload = await checkpoints.settle()
        if checksum is not None and not checksum.matches():
            await anyio.to_thread.run_sync(file.rewind)
            raise Problem(
                460,
                "The body does not match its `Upload-Checksum`, so none of it was kept. "
                "Send it again from the same offset.",
            )
        return await anyio.to_thread.run_sync(self._checkpoint, upload, file)

    def _checkpoint_at(
        self, upload: ResumableUpload, file: Appending, reached: int
    ) -> ResumableUpload:
        """Sync, then record `reached` (taken before the sync began: writes may go on)."""
        file.sync()
        return self._record(upload, offset=reached)

    def _keep_or_rewind(
        self, upload: ResumableUpload, file: Appending, checksum: Checksum | None
    ) -> None:
        if checksum is not None:
            file.rewind()
        else:
            self._checkpoint(upload, file)

    async def complete(self, upload: ResumableUpload) -> ResumableUpload:
        """Hand the whole file to the library (probe, store, record, queue), as a multipart
        upload is; a refusal (415/422) forgets the upload and keeps nothing."""
        assert upload.length is not None
        pending = await anyio.to_thread.run_sync(
            self.files.completed_resumable, upload.id, upload.length
        )
        fields = parse_metadata(upload.upload_metadata)
        filename = fields.pop("filename", None)
        try:
            media = await self.library.add_upload(ReceivedUpload(pending, filename, fields))
        except Problem:
            await anyio.to_thread.run_sync(self._forget, upload.id)
            raise
        return await anyio.to_thread.run_sync(
            lambda: self._record(upload, state="done", media_id=media.id)
        )

    def _forget(self, upload_id: str) -> None:
        self.files.drop_resumable(upload_id)
        self.catalog.delete_resumable(upload_id)

    async def settled(self, upload_id: str) -> ResumableUpload:
        """The upload as HEAD tells it: once a writer whose client went away has recorded
        its bytes (waiting for it up to LOCK_WAIT), and finished when its last byte was
        recorded by a process that died before the clip was."""
        try:
            async with self.writing(upload_id) as upload:
                if upload.state == "open" and upload.offset == upload.length:
                    return await self.complete(upload)
                return upload
        except Problem as exc:
            if exc.status != 423:
                raise
        return await anyio.to_thread.run_sync(self.find, upload_id)

    # Expiry.

    def sweep(self) -> int:
        """Remove expired uploads' bytes (their records stay as 410 markers for one more
        expiry period, then go) and partial files no record knows. Returns uploads expired."""
        now = utcnow()
        expired = 0
        for stale in self.catalog.expired_resumables(now):
            with self.catalog.resumable_lock(stale.id) as held:
                upload = self.catalog.get_resumable(stale.id) if held else None
                if upload is None or upload.expires_at >= now:
                    continue
                if upload.state == "open":
                    self.files.drop_resumable(upload.id)
                    self._record(upload, state="expired")
                    expired += 1
                else:
                    self.catalog.delete_resumable(upload.id)
        known = self.catalog.resumable_ids()
        for upload_id, age in self.files.resumable_ages().items():
            if upload_id not in known and age > ORPHAN_GRACE:
                self.files.drop_resumable(upload_id)
        return expired

    async def sweep_periodically(self) -> None:
        """Sweep at start, then every quarter of the expiry (at most every 5 minutes)."""
        if not hasattr(self.library.storage, "append_resumable"):
            return
        interval = max(0.5, min(self.settings.upload_expiry / 4, 300.0))
        while True:
            try:
                expired = await anyio.to_thread.run_sync(self.sweep)
            except (StorageError, OSError, Problem) as exc:
                log.warning("no sweep of expired uploads this time: %s", exc)
            except Exception:
                log.exception("the sweep of expired uploads failed")
            else:
                if expired:
                    log.info("removed %d expired upload(s)", expired)
            await anyio.sleep(interval)


class _Checkpoints:
    """One request's checkpoints. On a local file the sync runs beside the reading: waiting
    for it held the body back while granian kept reading it ahead, without a limit (+100 MB
    for a 1 GiB upload when a busy disk made one fsync take a second or two; uvicorn pauses
    the socket instead). On S3 the tail object is written in line."""

    def __init__(self, owner: ResumableUploads, upload: ResumableUpload, file: Appending) -> None:
        self.owner = owner
        self.upload = upload
        self.file = file
        self.running: Future[ResumableUpload] | None = None

    async def start(self) -> None:
        if not getattr(self.file, "syncs_beside_writes", False):
            self.upload = await anyio.to_thread.run_sync(
                self.owner._checkpoint, self.upload, self.file
            )
            return
        if self.running is not None and not self.running.done():
            return  # the last one is still syncing: the next one will cover these bytes
        await self.settle()
        self.running = self.owner.syncs.submit(
            self.owner._checkpoint_at, self.upload, self.file, self.file.end
        )

    async def settle(self) -> ResumableUpload:
        """Wait for a checkpoint under way; the upload as last recorded."""
        if self.running is not None:
            running, self.running = self.running, None
            self.upload = await anyio.to_thread.run_sync(running.result)
        return self.upload


def _valid(upload_id: str) -> bool:
    return ID_PATTERN.fullmatch(upload_id) is not None


def _too_large(upload: ResumableUpload, limit: int) -> str:
    if upload.length is not None:
        return f"The body runs past the upload's length ({upload.length:,} bytes)."
    return f"The file is larger than this server accepts ({limit:,} bytes at most)."


def expires_of(upload: ResumableUpload) -> datetime | None:
    """When an unfinished upload expires (None once it is a clip)."""
    return upload.expires_at if upload.state == "open" else None
