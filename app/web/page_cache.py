"""Repeat views of the watch and embed pages: an ETag made of everything a page shows, the
HTML rendered once per ETag, and each clip's current stamp read for many requests at once.

The rendered HTML is only reused after the catalog said, for this request, that the clip
still has the stamp it was rendered from: an edit, a new track or a delete made by any
process sharing the database shows at once.
"""

import asyncio
import contextlib
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from app.catalog.database import Busy, Stamp
from app.storage.base import Storage
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage
from app.web.compression import gzipped

MAX_PAGES = 512  # about 12 KB each: a few MB per process at most
MAX_BATCH = 500  # ids per catalog query
IN_FLIGHT = 8  # catalog queries (and storage checks) at once, each in its own thread
MAX_PATHS = 10_000


@dataclass(frozen=True)
class PageStamp:
    """A clip's stamp plus what storage says: the page shows "missing" when the file is gone."""

    stamp: Stamp
    has_file: bool


def files_hash(*roots: Path) -> str:
    """A digest of every file under the roots: templates and translations shape every page."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class PageCache:
    """Rendered pages by ETag, least recently used dropped first."""

    def __init__(self, version: str, size: int = MAX_PAGES) -> None:
        self.version = version  # templates, translations, static assets, page settings
        self.size = size
        self._pages: OrderedDict[str, tuple[bytes, bytes | None]] = OrderedDict()

    def etag(self, page: str, stamp: PageStamp, *parts: object) -> str:
        """The page's strong ETag: the clip's stamp, the request's options, our version."""
        key = repr((self.version, page, stamp.stamp.key(), stamp.has_file, parts))
        return f'"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}"'

    def get(self, etag: str) -> bytes | None:
        return self.get_both(etag)[0]

    def get_both(self, etag: str) -> tuple[bytes | None, bytes | None]:
        """The page and its gzipped copy (None when too small to gain), gzipped once at put:
        a repeat view then costs no compression."""
        both = self._pages.get(etag)
        if both is None:
            return None, None
        self._pages.move_to_end(etag)
        return both

    def put(self, etag: str, body: bytes) -> None:
        self._pages[etag] = (body, gzipped(body))
        self._pages.move_to_end(etag)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)


Lookup = Callable[[list[str]], dict[str, PageStamp]]
QuickLookup = Callable[[str], PageStamp | None]


class StampReader:
    """Current stamps of clips: read at once when the catalog can without waiting (`quick`,
    a SQLite file and local storage); else in worker threads, one query for all requests
    that arrived in the same turn of the event loop (a hop per request costs more than the
    query on a busy loop), at most IN_FLIGHT queries at a time."""

    def __init__(self, lookup: Lookup, quick: QuickLookup | None = None) -> None:
        self._lookup = lookup
        self._quick = quick
        self._waiting: dict[str, list[asyncio.Future[PageStamp | None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        self._scheduled = False
        # Threads of its own: never queued behind uploads in anyio's pool.
        self._threads = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="amps-stamps")

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def current(self, media_id: str) -> PageStamp | None:
        if self._quick is not None:
            with contextlib.suppress(Busy):
                return self._quick(media_id)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # test clients run one loop per client: start afresh
            self._loop, self._waiting, self._in_flight, self._scheduled = loop, {}, 0, False
        future: asyncio.Future[PageStamp | None] = loop.create_future()
        self._waiting.setdefault(media_id, []).append(future)
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._waiting and not self._scheduled and self._in_flight < IN_FLIGHT:
            self._scheduled = True
            loop.call_soon(self._start, loop)  # after this turn's other requests have asked

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        if loop is not self._loop or not self._waiting:
            return
        batch = dict(list(self._waiting.items())[:MAX_BATCH])
        for media_id in batch:
            del self._waiting[media_id]
        self._in_flight += 1
        done = loop.run_in_executor(self._threads, self._lookup, list(batch))
        done.add_done_callback(lambda result: self._finish(loop, batch, result))

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: dict[str, list[asyncio.Future[PageStamp | None]]],
        result: "asyncio.Future[dict[str, PageStamp]]",
    ) -> None:
        if loop is self._loop:
            self._in_flight -= 1
        cancelled = result.cancelled()  # shut down meanwhile
        error = None if cancelled else result.exception()
        for media_id, futures in batch.items():
            for future in futures:
                if future.done():  # the request was cancelled meanwhile
                    continue
                if cancelled:
                    future.cancel()
                elif error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result.result().get(media_id))
        self._schedule(loop)


def file_check(storage: Storage) -> Callable[[str], bool]:
    """How pages learn that a clip's file is there: a stat on a local disk; on an object
    store the catalog's word (S3Storage.known), never a request to the store per clip."""
    if isinstance(storage, S3Storage):
        return storage.known
    return storage.exists


def read_stamps(
    stamps: Callable[[Collection[str]], dict[str, Stamp]], exists: Callable[[str], bool]
) -> Lookup:
    """The blocking lookup for StampReader: catalog stamps plus whether each file is there."""

    def lookup(media_ids: list[str]) -> dict[str, PageStamp]:
        return {
            media_id: PageStamp(stamp, exists(stamp.storage_key))
            for media_id, stamp in stamps(media_ids).items()
        }

    return lookup


def quick_stamps(stamp: Callable[[str], Stamp | None], storage: LocalStorage) -> QuickLookup:
    """The lookup StampReader runs on the event loop: a catalog that answers from memory
    (Catalog.quick_stamp raises Busy rather than wait) and files on local disk."""
    paths: dict[str, str] = {}

    def exists(key: str) -> bool:
        # LocalStorage resolves every key through the file system (~30 µs); a stored file's
        # path never changes, so one stat is enough on later views.
        path = paths.get(key)
        if path is None:
            if not storage.exists(key):
                return False
            if len(paths) >= MAX_PATHS:
                paths.clear()
            path = paths[key] = str(storage.local_path(key))
        return os.path.isfile(path)

    def lookup(media_id: str) -> PageStamp | None:
        found = stamp(media_id)
        return None if found is None else PageStamp(found, exists(found.storage_key))

    return lookup
