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
import re
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from app.catalog import Busy, Stamp
from app.storage import LocalStorage

ENTITY_TAG = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')
MAX_PAGES = 512  # about 12 KB each: a few MB per process at most
MAX_BATCH = 500  # ids per catalog query
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


def etag_listed(field: str, etag: str) -> bool:
    """Whether an If-None-Match value names our tag (weak comparison, RFC 9110 13.1.2)."""
    if field.strip(" \t") == "*":
        return True
    return any(tag == etag for _, tag in ENTITY_TAG.findall(field))


class PageCache:
    """Rendered pages by ETag, least recently used dropped first."""

    def __init__(self, version: str, size: int = MAX_PAGES) -> None:
        self.version = version  # templates, translations, static assets, page settings
        self.size = size
        self._pages: OrderedDict[str, bytes] = OrderedDict()

    def etag(self, page: str, stamp: PageStamp, *parts: object) -> str:
        """The page's strong ETag: the clip's stamp, the request's options, our version."""
        key = repr((self.version, page, stamp.stamp.key(), stamp.has_file, parts))
        return f'"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}"'

    def get(self, etag: str) -> bytes | None:
        body = self._pages.get(etag)
        if body is not None:
            self._pages.move_to_end(etag)
        return body

    def put(self, etag: str, body: bytes) -> None:
        self._pages[etag] = body
        self._pages.move_to_end(etag)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)


Lookup = Callable[[list[str]], dict[str, PageStamp]]
QuickLookup = Callable[[str], PageStamp | None]


class StampReader:
    """Current stamps of clips: read at once when the catalog can without waiting (`quick`,
    a SQLite file and local storage), else one thread hop and one query for all the requests
    waiting at once (a hop per request costs more than the query on a busy loop)."""

    def __init__(self, lookup: Lookup, quick: QuickLookup | None = None) -> None:
        self._lookup = lookup
        self._quick = quick
        self._waiting: dict[str, list[asyncio.Future[PageStamp | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        # Its own thread: lighter than anyio's pool per hop, and never queued behind uploads.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="amps-stamps")

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def current(self, media_id: str) -> PageStamp | None:
        if self._quick is not None:
            with contextlib.suppress(Busy):
                return self._quick(media_id)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PageStamp | None] = loop.create_future()
        self._waiting.setdefault(media_id, []).append(future)
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            # A task of a loop that has gone (test clients start one per run) never finishes.
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = dict(list(self._waiting.items())[:MAX_BATCH])
            for media_id in batch:
                del self._waiting[media_id]
            try:
                loop = asyncio.get_running_loop()
                found = await loop.run_in_executor(self._thread, self._lookup, list(batch))
            except Exception as exc:  # each waiting request answers for itself
                _settle(batch.values(), None, exc)
                continue
            for media_id, futures in batch.items():
                _settle([futures], found.get(media_id), None)


def _settle(
    groups: Iterable[list[asyncio.Future[PageStamp | None]]],
    value: PageStamp | None,
    error: Exception | None,
) -> None:
    for futures in groups:
        for future in futures:
            if future.done():  # the request was cancelled meanwhile
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)


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
