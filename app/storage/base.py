"""The storage protocol every store implements (local files, S3 objects), its errors and its
keys: a clip's files live under "<id>/<name>", never under the uploader's file name."""

import contextlib
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

# A key is "<media id>/<file name>"; ids come from URLs upstream, so nothing else gets through.
KEY_PATTERN = re.compile(r"(?P<id>[A-Za-z0-9_-]{16,32})/(?P<name>[a-z0-9][a-z0-9._-]{0,63})")
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,32}")
TEMP_DIR = ".tmp"
TEMP_PATTERN = re.compile(r"(?P<host>[a-z0-9-]*)\.(?P<pid>[0-9]+)-[A-Za-z0-9_-]+\.part")
TEMP_MAX_AGE = 24 * 3600.0


class StorageError(Exception):
    """The storage could not do what was asked."""


class StorageFull(StorageError):
    """No space (or quota) left while writing."""


class InvalidKey(StorageError, ValueError):
    """A key that is not "<id>/<name>" or would lead outside the storage root."""


class MissingKey(StorageError, KeyError):
    """No file is stored under the key."""


class Pending(Protocol):
    """An upload being written: PendingFile on disk, PendingObject in an object store."""

    size: int

    @property
    def digest(self) -> str: ...
    def write(self, data: bytes) -> None: ...
    def flush(self) -> None: ...


@dataclass(frozen=True)
class RemoteFile:
    """A stored upload that tools read over HTTP: ffmpeg from `url`, Python from `file`."""

    url: str
    file: BinaryIO
    size: int


class Storage(Protocol):
    def begin(self) -> Pending: ...
    def opened(self, pending: Pending) -> contextlib.AbstractContextManager[Path | RemoteFile]: ...
    def opened_key(self, key: str) -> contextlib.AbstractContextManager[Path | RemoteFile]: ...
    def commit(self, pending: Pending, key: str, media_type: str | None = None) -> None: ...
    def discard(self, pending: Pending) -> None: ...
    def put_bytes(self, key: str, data: bytes, media_type: str | None = None) -> None: ...
    def read_bytes(self, key: str) -> bytes: ...
    def source(self, key: str) -> Path | str: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def sweep(self, known_keys: set[str]) -> list[str]: ...
    def sweep_temp(self) -> list[str]: ...
    def healthy(self) -> bool: ...


def media_key(media_id: str, name: str) -> str:
    """The key of a clip's file: media_key(id, "original.mp4") == f"{id}/original.mp4"."""
    key = f"{media_id}/{name}"
    check_key(key)
    return key


def check_key(key: str) -> tuple[str, str]:
    """The (id, name) of a valid key; InvalidKey for anything else."""
    match = KEY_PATTERN.fullmatch(key)
    if match is None or ".." in key:
        raise InvalidKey(f"not a storage key: {key!r}")
    return match["id"], match["name"]


def host_tag() -> str:
    """This machine's name, reduced to what a temp file name may hold."""
    return re.sub(r"[^a-z0-9-]", "", socket.gethostname().lower())[:63]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
