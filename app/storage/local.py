"""Clips on a local disk: atomic writes under keys laid out by id, never by the uploader's name."""

import contextlib
import errno
import hashlib
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.storage.base import (
    ID_PATTERN,
    KEY_PATTERN,
    TEMP_DIR,
    TEMP_MAX_AGE,
    TEMP_PATTERN,
    InvalidKey,
    MissingKey,
    Pending,
    RemoteFile,
    Storage,
    StorageError,
    StorageFull,
    check_key,
    host_tag,
    pid_alive,
)

FAN_OUT_PATTERN = re.compile(r"[A-Za-z0-9_-]{2}")
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
RESUMABLE_DIR = "resumable"  # under TEMP_DIR: partial files of resumable uploads


def _storage_error(error: OSError, doing: str) -> StorageError:
    if error.errno in _FULL_ERRNOS:
        return StorageFull(f"no space left while {doing}")
    return StorageError(f"{doing} failed: {error.strerror or error}")


class Quota:
    """The bytes a storage's files take, held under a limit while they are written.

    Counted per process from a walk at start-up plus what this process writes and deletes:
    with a SQLite catalog there is one server per library. Replicas sharing a PostgreSQL
    catalog count in it instead (SharedQuota).
    """

    def __init__(self, limit: int | None, used: int = 0) -> None:
        self.limit = limit
        self.used = used
        self._lock = threading.Lock()

    def account(self) -> "Quota":
        """What one write claims through: here, the one count of this process."""
        return self

    def claim(self, size: int) -> None:
        """Count `size` more bytes; StorageFull, counting nothing, when that passes the limit."""
        with self._lock:
            if self.limit is not None and self.used + size > self.limit:
                raise StorageFull(
                    f"the storage quota ({self.limit:,} bytes) would be passed: "
                    f"{self.used:,} bytes are in use"
                )
            self.used += size

    def release(self, size: int) -> None:
        with self._lock:
            self.used = max(0, self.used - size)

    def settle(self, key: str) -> None:
        """A write was stored under key: its bytes stay counted here."""

    def cancel(self, size: int) -> None:
        """A write of `size` bytes was discarded."""
        self.release(size)


class Ledger(Protocol):
    """Where replicas count the quota together: the catalog on PostgreSQL."""

    def reserve(
        self, reservation: str, least: int, most: int, limit: int, ttl: float
    ) -> tuple[int, int]: ...
    def settle_reservation(self, reservation: str, key: str, size: int, ttl: float) -> None: ...
    def drop_reservation(self, reservation: str) -> None: ...


class SharedQuota:
    """The quota counted in a ledger every replica shares: stored clips by their records'
    sizes, writes in flight by reservations taken RESERVE_STEP bytes ahead (one round trip
    per step, not per chunk) that expire after `ttl` if their replica dies."""

    RESERVE_STEP = 4 * 1024 * 1024

    def __init__(
        self, limit: int, ledger: Ledger, *, ttl: float = 900.0, settled_ttl: float = 600.0
    ) -> None:
        self.limit = limit
        self.ledger = ledger
        self.ttl = ttl  # a write that claims nothing for this long is taken for dead
        self.settled_ttl = settled_ttl  # a stored write counts this long until it is recorded

    def account(self) -> "Reservation":
        return Reservation(self)

    def release(self, size: int) -> None:
        """Stored files count by the catalog: a delete or a replacement changes nothing here."""


class Reservation:
    """One write's claim on a SharedQuota: bytes written, and bytes the ledger holds for it."""

    def __init__(self, quota: SharedQuota) -> None:
        self.quota = quota
        self.id = secrets.token_urlsafe(16)
        self.held = 0
        self.used = 0

    def claim(self, size: int) -> None:
        if self.used + size > self.held:
            quota = self.quota
            least = self.used + size
            most = least + quota.RESERVE_STEP
            held, in_use = quota.ledger.reserve(self.id, least, most, quota.limit, quota.ttl)
            if held < least:
                raise StorageFull(
                    f"the storage quota ({quota.limit:,} bytes) would be passed: "
                    f"{in_use:,} bytes are in use"
                )
            self.held = held
        self.used += size

    def release(self, size: int) -> None:
        self.used = max(0, self.used - size)

    def settle(self, key: str) -> None:
        if self.held:
            self.quota.ledger.settle_reservation(self.id, key, self.used, self.quota.settled_ttl)
            self.held = 0

    def cancel(self, size: int) -> None:
        if self.held:
            self.quota.ledger.drop_reservation(self.id)
            self.held = 0


class PendingFile:
    """A temp file being written: counts and hashes what goes through it."""

    def __init__(self, path: Path, fd: int, quota: "Quota | Reservation | None" = None) -> None:
        self.path = path
        self.size = 0
        self.quota = quota or Quota(None)
        self._fd: int | None = fd
        self._hash = hashlib.sha256()

    @classmethod
    def create(cls, path: Path, quota: "Quota | Reservation | None" = None) -> "PendingFile":
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return cls(path, os.open(path, flags, 0o644), quota)
        except OSError as error:
            raise _storage_error(error, "creating a temp file") from error

    @property
    def digest(self) -> str:
        """SHA-256 of everything written so far, in hex."""
        return self._hash.hexdigest()

    @property
    def closed(self) -> bool:
        return self._fd is None

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise StorageError("write to a closed temp file")
        self.quota.claim(len(data))
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as error:
            # What did reach the file stays counted until the file is discarded.
            self.quota.release(len(view))
            self.size += len(data) - len(view)
            raise _storage_error(error, "writing") from error
        self.size += len(data)
        self._hash.update(data)

    def flush(self) -> None:
        """Nothing to do: writes go straight to the file (kept for file-like callers)."""

    def sync(self) -> None:
        """Flush to the disk, so a rename can never expose a short file after a crash."""
        if self._fd is None:
            raise StorageError("sync of a closed temp file")
        try:
            os.fsync(self._fd)
        except OSError as error:
            raise _storage_error(error, "syncing") from error

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError as error:
                raise _storage_error(error, "closing a temp file") from error


class AppendFile(PendingFile):
    """A resumable upload's partial file, opened by one request to append after `start`."""

    syncs_beside_writes = True  # fsync may run in one thread while another appends

    def __init__(self, path: Path, fd: int, quota: "Quota | Reservation", start: int) -> None:
        super().__init__(path, fd, quota)
        self.start = start

    @property
    def end(self) -> int:
        return self.start + self.size

    def rewind(self) -> None:
        """Drop what this request appended (its checksum did not match, or it broke off)."""
        if self._fd is None:
            raise StorageError("rewind of a closed temp file")
        try:
            os.ftruncate(self._fd, self.start)
            os.lseek(self._fd, self.start, os.SEEK_SET)
        except OSError as error:
            raise _storage_error(error, "truncating") from error
        self.quota.release(self.size)
        self.size = 0
        self._hash = hashlib.sha256()


def _sha256_of(path: Path) -> "hashlib._Hash":
    # Into one buffer: a fresh 1 MiB bytes per read, in a worker thread, grew that thread's
    # malloc arena by ~100 MB for a 1 GiB upload (bench/resumable.py).
    digest = hashlib.sha256()
    buffer = bytearray(1024 * 1024)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as file:
        while read := file.readinto(buffer):
            digest.update(view[:read])
    return digest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _age(path: Path, now: float) -> float:
    """Seconds since path was last written; 0 when it is already gone."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class LocalStorage:
    """Files under root/<id[:2]>/<id>/<name>; temp files in root/.tmp on the same filesystem."""

    def __init__(
        self,
        root: Path,
        *,
        orphan_grace: float = 300.0,
        quota_bytes: int | None = None,
        quota: SharedQuota | None = None,
    ) -> None:
        """`quota_bytes`: counted by this process; `quota`: counted with other replicas."""
        # Created once, at start-up; if it vanishes later (an unmounted volume), writes fail
        # and healthy() says so, rather than silently filling the disk underneath.
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.orphan_grace = orphan_grace
        self.quota: Quota | SharedQuota = quota or Quota(
            quota_bytes, self._usage() if quota_bytes is not None else 0
        )

    def _usage(self) -> int:
        """Bytes in our own files: the fan-out folders and temp files, not the catalog's."""
        total = 0
        for top in self._dirs(self.root):
            if FAN_OUT_PATTERN.fullmatch(top.name) or top.name == TEMP_DIR:
                for path in top.rglob("*"):
                    with contextlib.suppress(OSError):
                        if path.is_file() and not path.is_symlink():
                            total += path.stat().st_size
        return total

    def _path(self, key: str) -> Path:
        media_id, name = check_key(key)
        path = (self.root / media_id[:2] / media_id / name).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"key {key!r} leads outside the storage root")
        return path

    def begin(self) -> PendingFile:
        temp_dir = self.root / TEMP_DIR
        try:
            temp_dir.mkdir(exist_ok=True)
        except OSError as error:
            raise _storage_error(error, "creating the temp directory") from error
        name = f"{host_tag()}.{os.getpid()}-{secrets.token_urlsafe(12)}.part"
        return PendingFile.create(temp_dir / name, self.quota.account())

    @contextlib.contextmanager
    def opened(self, pending: Pending) -> Iterator[Path | RemoteFile]:
        """The temp file's path, for the probe to open."""
        yield _own(pending).path

    @contextlib.contextmanager
    def opened_key(self, key: str) -> Iterator[Path | RemoteFile]:
        """A stored file's path, for a re-probe to open; MissingKey when there is none."""
        yield self.source(key)

    def commit(self, pending: Pending, key: str, media_type: str | None = None) -> None:
        """Make the temp file durable and move it under key, replacing what was there."""
        pending = _own(pending)
        path = self._path(key)
        pending.sync()
        pending.close()
        self._count_unwritten(pending)
        replaced = _size(path)
        # Another process may remove the empty directories between our mkdir and rename.
        for attempt in range(3):
            try:
                self._make_parents(path)
                os.replace(pending.path, path)
                break
            except FileNotFoundError as error:
                if attempt == 2 or not pending.path.exists():
                    raise _storage_error(error, f"storing {key}") from error
            except OSError as error:
                raise _storage_error(error, f"storing {key}") from error
        pending.quota.settle(key)
        self.quota.release(replaced)
        try:
            _fsync_dir(path.parent)
        except OSError as error:
            raise _storage_error(error, f"syncing {key}") from error

    def _count_unwritten(self, pending: PendingFile) -> None:
        """Claim what a tool wrote to the temp file's path itself (ffmpeg writes posters)."""
        extra = _size(pending.path) - pending.size
        if extra > 0:
            pending.quota.claim(extra)
            pending.size += extra

    def _make_parents(self, path: Path) -> None:
        """Create missing directories down to path's parent, each made durable in its parent."""
        for directory in (path.parent.parent, path.parent):
            try:
                directory.mkdir()
            except FileExistsError:
                continue
            _fsync_dir(directory.parent)

    def discard(self, pending: Pending) -> None:
        pending = _own(pending)
        with contextlib.suppress(StorageError):
            pending.close()
        if pending.path.exists():
            pending.path.unlink(missing_ok=True)
            pending.quota.cancel(pending.size)

    def put_bytes(self, key: str, data: bytes, media_type: str | None = None) -> None:
        self._path(key)
        pending = self.begin()
        try:
            pending.write(data)
            self.commit(pending, key)
        except BaseException:
            self.discard(pending)
            raise

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise MissingKey(key)
        return path

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.local_path(key).read_bytes()
        except FileNotFoundError:
            raise MissingKey(key) from None
        except OSError as error:
            raise _storage_error(error, f"reading {key}") from error

    def source(self, key: str) -> Path:
        """The file ffmpeg reads; MissingKey when there is none."""
        return self.local_path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        size = _size(path)
        path.unlink(missing_ok=True)
        self.quota.release(size)
        self._remove_empty(path.parent)
        self._remove_empty(path.parent.parent)

    def _remove_empty(self, directory: Path) -> bool:
        if directory == self.root:
            return False
        try:
            directory.rmdir()
        except OSError:  # not empty, or already gone
            return False
        return True

    def sweep(self, known_keys: set[str]) -> list[str]:
        """Remove dead uploads' temp files and old files no record refers to.

        A file under the id of a known key is kept (posters, renditions...). Files younger than
        orphan_grace are kept too: another process may be between its rename and its insert.
        Returns the keys removed, and ".tmp/<name>" for temp files.
        """
        now = time.time()
        removed = self._sweep_temp(now)
        known_ids = {key.partition("/")[0] for key in known_keys}
        return removed + self._sweep_dirs(known_keys, known_ids, now)

    def sweep_temp(self) -> list[str]:
        """Remove dead uploads' temp files only: one folder, quick enough before serving."""
        return self._sweep_temp(time.time())

    def _sweep_dirs(self, known_keys: set[str], known_ids: set[str], now: float) -> list[str]:
        removed: list[str] = []
        for fan_out in self._dirs(self.root):
            if not FAN_OUT_PATTERN.fullmatch(fan_out.name):
                continue
            for media_dir in self._dirs(fan_out):
                media_id = media_dir.name
                if not ID_PATTERN.fullmatch(media_id) or not media_id.startswith(fan_out.name):
                    continue
                if media_id not in known_ids:
                    removed += self._sweep_orphans(media_dir, known_keys, now)
                self._remove_empty(media_dir)
            self._remove_empty(fan_out)
        return removed

    def _sweep_temp(self, now: float) -> list[str]:
        removed = []
        for entry in self._files(self.root / TEMP_DIR):
            age = _age(entry, now)
            match = TEMP_PATTERN.fullmatch(entry.name)
            ours = match is not None and match["host"] == host_tag()
            dead = match is not None and not pid_alive(int(match["pid"]))
            # A pid of another host (a container sharing the volume) is not ours to judge
            # at once: its temp files go after the grace period, ours as soon as the pid is dead.
            if age > TEMP_MAX_AGE or (dead and (ours or age > self.orphan_grace)):
                self._remove_counted(entry)
                removed.append(f"{TEMP_DIR}/{entry.name}")
        return removed

    def _sweep_orphans(self, media_dir: Path, known_keys: set[str], now: float) -> list[str]:
        removed = []
        for entry in self._files(media_dir):
            key = f"{media_dir.name}/{entry.name}"
            if not KEY_PATTERN.fullmatch(key) or key in known_keys:
                continue
            if _age(entry, now) > self.orphan_grace:
                self._remove_counted(entry)
                removed.append(key)
        return removed

    def _remove_counted(self, path: Path) -> None:
        """Remove a leftover the start-up walk counted: the sweep runs while uploads go on,
        so the quota gives back the file's bytes rather than being counted afresh."""
        size = _size(path)
        path.unlink(missing_ok=True)
        self.quota.release(size)

    @staticmethod
    def _dirs(directory: Path) -> list[Path]:
        try:
            return [p for p in directory.iterdir() if p.is_dir() and not p.is_symlink()]
        except FileNotFoundError:
            return []

    @staticmethod
    def _files(directory: Path) -> list[Path]:
        try:
            return [p for p in directory.iterdir() if p.is_file() and not p.is_symlink()]
        except FileNotFoundError:
            return []

    # Resumable (tus) uploads: one partial file each under .tmp/resumable/, which the temp
    # sweep above leaves alone (it looks at .tmp's own files only); their expiry is the
    # catalog's to decide, so they go through drop_resumable.

    def _resumable_path(self, upload_id: str) -> Path:
        if not ID_PATTERN.fullmatch(upload_id):
            raise InvalidKey(f"not an upload id: {upload_id!r}")
        return self.root / TEMP_DIR / RESUMABLE_DIR / f"{upload_id}.part"

    def create_resumable(self, upload_id: str) -> None:
        """An empty partial file for a new upload, durable before its record is written."""
        path = self._resumable_path(upload_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            PendingFile.create(path).close()
            _fsync_dir(path.parent)
        except OSError as error:
            raise _storage_error(error, "creating an upload's file") from error

    def append_resumable(self, upload_id: str, offset: int) -> AppendFile:
        """The partial file opened to append at `offset` (the durable, recorded one): bytes past
        it, written by a request that died before its offset was recorded, are cut off.
        MissingKey when the file is gone or shorter than `offset`."""
        path = self._resumable_path(upload_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MissingKey(upload_id) from None
        except OSError as error:
            raise _storage_error(error, "opening an upload's file") from error
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                raise MissingKey(f"{upload_id}: {size} bytes kept, {offset} recorded")
            if size > offset:
                os.ftruncate(fd, offset)
                self.quota.release(size - offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException as error:
            os.close(fd)
            if isinstance(error, OSError):
                raise _storage_error(error, "opening an upload's file") from error
            raise
        return AppendFile(path, fd, self.quota.account(), offset)

    def completed_resumable(self, upload_id: str, length: int) -> PendingFile:
        """The whole upload as a pending file (hashed from its start), for the library to probe
        and commit or discard like any other upload. Reads the file: run it off the loop."""
        path = self._resumable_path(upload_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MissingKey(upload_id) from None
        pending = PendingFile(path, fd, self.quota.account())
        try:
            if os.fstat(fd).st_size != length:
                raise MissingKey(f"{upload_id}: not {length} bytes long")
            pending.size = length
            pending._hash = _sha256_of(path)
        except OSError as error:
            pending.close()
            raise _storage_error(error, "reading an upload's file") from error
        return pending

    def drop_resumable(self, upload_id: str) -> None:
        path = self._resumable_path(upload_id)
        size = _size(path)
        path.unlink(missing_ok=True)
        self.quota.release(size)

    def resumable_ages(self) -> dict[str, float]:
        """Every partial upload file's id and seconds since it was last written."""
        now = time.time()
        return {
            path.name.removesuffix(".part"): _age(path, now)
            for path in self._files(self.root / TEMP_DIR / RESUMABLE_DIR)
            if path.name.endswith(".part")
        }

    def healthy(self) -> bool:
        """The root is a directory we can write to (checked by writing, not by asking)."""
        try:
            pending = self.begin()
        except StorageError:
            return False
        self.discard(pending)
        return True


def _own(pending: Pending) -> PendingFile:
    if not isinstance(pending, PendingFile):
        raise TypeError("not an upload of this storage")
    return pending


if TYPE_CHECKING:
    _implements: type[Storage] = LocalStorage
