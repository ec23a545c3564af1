"""Clip files kept open between stream requests, and reads that never block the event loop.

A stream request needs a clip's descriptor, size, validators and type. Asking the catalog and
opening the file each time costs milliseconds; an entry here costs an `fstat`. An entry is
dropped, so the next request asks the catalog again, when its file was unlinked (a delete by
any process sharing the library), changed size or mtime, or is older than the TTL (which
bounds every other staleness, such as a record removed while its file stays, or a clip
turned private by another process; this process's PATCH makes it `forget` the clip at once).
"""

from __future__ import annotations

import errno
import math
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
from sqlalchemy.exc import SQLAlchemyError

from app.catalog.database import Catalog
from app.catalog.models import Media
from app.storage.base import StorageError
from app.storage.local import LocalStorage
from app.streams.delivery import find_rendition, rendition_validators
from app.streams.ranges import Validators

MAX_OPEN = 256  # descriptors held at most; the least recently used goes first
# Threads reading cold data at once, per process (anyio's default is 40): a disk is busy with
# fewer, and each thread more competes with the event loop for the GIL and the CPU.
MAX_READERS = 8
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)
# Errors that say "this file or kernel cannot do RWF_NOWAIT": read in a thread from then on.
_NO_NOWAIT = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})


@dataclass(eq=False)
class OpenFile:
    """One clip's open file and what its responses are judged against."""

    media_id: str
    fd: int
    path: Path
    relative: str  # the path under the media dir, as an internal redirect names the file
    media_type: str
    validators: Validators
    mtime_ns: int
    expires: float
    # Until when (Unix time) the clip is private: the fast path leaves it to the route, which
    # asks for the token or a signature. 0: never; infinity: until its visibility changes.
    private_until: float = 0.0
    users: int = 0
    retired: bool = field(default=False)

    def current(self) -> bool:
        """Still the file the catalog named: not unlinked, not rewritten."""
        try:
            now = os.fstat(self.fd)
        except OSError:
            return False
        return (
            now.st_nlink > 0
            and now.st_size == self.validators.size
            and now.st_mtime_ns == self.mtime_ns
        )


def open_clip(catalog: Catalog, storage: LocalStorage, media_id: str) -> OpenFile | None:
    """The clip's file opened, or None when there is none to serve here (the route decides).
    `media_id` may name a file of its ladder: `ID/720p.mp4`."""
    media_id, _, file = media_id.partition("/")
    try:
        media = catalog.get(media_id)
        if media is None:
            return None
        rendition = find_rendition(media, file) if file else None
        if file and rendition is None:
            return None
        key = rendition.storage_key if rendition else media.storage_key
        path = storage.local_path(key)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (SQLAlchemyError, StorageError, OSError):
        return None  # the route gives the same request its 404 or 503
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    validators = Validators(media.sha256, math.floor(info.st_mtime), info.st_size)
    if rendition is not None:
        validators = rendition_validators(rendition)
    return OpenFile(
        media_id,
        fd,
        path,
        path.relative_to(storage.root).as_posix(),
        rendition.mime_type if rendition else media.mime_type,
        validators,
        info.st_mtime_ns,
        expires=0.0,  # set by the cache that keeps it
        private_until=private_until(media),
    )


def private_until(media: Media) -> float:
    if media.visibility != "private":
        return 0.0
    return media.publish_at.timestamp() if media.publish_at is not None else math.inf


class OpenFiles:
    """The open clip files of one process, by media id (used on the event loop only)."""

    def __init__(
        self,
        catalog: Catalog,
        storage: LocalStorage,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_open: int = MAX_OPEN,
    ) -> None:
        self.catalog, self.storage, self.ttl, self.clock = catalog, storage, ttl, clock
        self.max_open = max_open
        self.entries: OrderedDict[str, OpenFile] = OrderedDict()
        self._loading: dict[str, anyio.Event] = {}
        self._readers: anyio.CapacityLimiter | None = None

    def readers(self) -> anyio.CapacityLimiter:
        """What bounds the threads reading cold data (made in the event loop that uses it)."""
        if self._readers is None:
            self._readers = anyio.CapacityLimiter(MAX_READERS)
        return self._readers

    async def acquire(self, media_id: str) -> OpenFile | None:
        """The clip's open file, held open until `release`; None when the route should answer."""
        entry = self.entries.get(media_id)
        if entry is not None and not (entry.expires > self.clock() and entry.current()):
            self._drop(media_id)
            entry = None
        if entry is None:
            loading = self._loading.get(media_id)
            if loading is None:
                entry = await self._load(media_id)
            else:  # one catalog trip for the many requests that arrive at once
                await loading.wait()
                entry = self.entries.get(media_id)
            if entry is None or not entry.current():
                return None
        else:
            self.entries.move_to_end(media_id)
        entry.users += 1
        return entry

    def release(self, entry: OpenFile) -> None:
        entry.users -= 1
        if entry.retired and entry.users == 0:
            _close(entry)

    async def _load(self, media_id: str) -> OpenFile | None:
        done = self._loading[media_id] = anyio.Event()
        try:
            # Shielded: a descriptor opened for a cancelled request must still reach the cache.
            with anyio.CancelScope(shield=True):
                entry = await anyio.to_thread.run_sync(
                    open_clip, self.catalog, self.storage, media_id
                )
        finally:
            del self._loading[media_id]
            done.set()
        if entry is None:
            return None
        entry.expires = self.clock() + self.ttl
        self.entries[media_id] = entry
        while len(self.entries) > self.max_open:
            self._drop(next(iter(self.entries)))
        return entry

    def _drop(self, media_id: str) -> None:
        entry = self.entries.pop(media_id)
        entry.retired = True
        if entry.users == 0:
            _close(entry)

    def forget(self, media_id: str) -> None:
        """Ask the catalog again on the clip's next request (its record changed)."""
        for key in [k for k in self.entries if k.partition("/")[0] == media_id]:
            self._drop(key)

    def close(self) -> None:
        for media_id in list(self.entries):
            self._drop(media_id)


def _close(entry: OpenFile) -> None:
    if entry.fd >= 0:
        fd, entry.fd = entry.fd, -1
        os.close(fd)


async def read_at(
    fd: int, offset: int, length: int, limiter: anyio.CapacityLimiter | None = None
) -> bytes:
    """`length` bytes at `offset`: read on the loop when in the page cache, else in a thread.

    RWF_NOWAIT makes the kernel answer EAGAIN (or a short read) instead of waiting for the
    disk, so cold data never stalls the other requests this event loop serves.
    """
    buffer = bytearray(length)
    done = 0
    if _NOWAIT:
        try:
            done = os.preadv(fd, [buffer], offset, _NOWAIT)
        except BlockingIOError:
            done = 0
        except OSError as error:
            if error.errno not in _NO_NOWAIT:
                raise
    if done < length:
        done += await anyio.to_thread.run_sync(
            _read_into, fd, buffer, offset, done, limiter=limiter
        )
    if done < length:
        raise EOFError(f"file ended {length - done} bytes early")
    return bytes(buffer)


def _read_into(fd: int, buffer: bytearray, offset: int, start: int) -> int:
    """Fill buffer[start:] from the file at offset + start; the bytes read (short at EOF)."""
    view, total = memoryview(buffer)[start:], 0
    while total < len(view):
        count = os.preadv(fd, [view[total:]], offset + start + total)
        if count == 0:
            break
        total += count
    return total
