import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from app.storage.base import InvalidKey, MissingKey, StorageError, StorageFull, host_tag, media_key
from app.storage.local import LocalStorage, PendingFile

ID = "AbCdEfGhIjKlMnOpQrStUv"
OTHER_ID = "Zz_-0123456789abcdefgh"
KEY = f"{ID}/original.mp4"

HOST = host_tag()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


def store(storage: LocalStorage, key: str, data: bytes = b"bytes") -> Path:
    storage.put_bytes(key, data)
    return storage.local_path(key)


def age(path: Path, seconds: float) -> None:
    """Make path look last written `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def temp_files(storage: LocalStorage) -> list[Path]:
    return sorted((storage.root / ".tmp").glob("*"))


def test_commit_lays_out_by_id(storage: LocalStorage) -> None:
    pending = storage.begin()
    pending.write(b"clip")
    storage.commit(pending, KEY)
    assert storage.local_path(KEY) == storage.root / ID[:2] / ID / "original.mp4"
    assert storage.local_path(KEY).read_bytes() == b"clip"


def test_pending_counts_size_and_sha256(storage: LocalStorage) -> None:
    pending = storage.begin()
    for chunk in (b"a" * 100_000, b"b" * 3, b""):
        pending.write(chunk)
    assert pending.size == 100_003
    assert pending.digest == hashlib.sha256(b"a" * 100_000 + b"bbb").hexdigest()
    storage.discard(pending)


def test_pending_is_readable_before_commit(storage: LocalStorage) -> None:
    pending = storage.begin()
    pending.write(b"probe me")
    pending.flush()
    assert pending.path.read_bytes() == b"probe me"
    storage.discard(pending)


def test_temp_files_live_in_root_tmp_named_by_host_and_pid(storage: LocalStorage) -> None:
    pending = storage.begin()
    assert pending.path.parent == storage.root / ".tmp"
    assert pending.path.name.startswith(f"{HOST}.{os.getpid()}-")
    assert pending.path.suffix == ".part"
    storage.discard(pending)


def test_commit_leaves_no_temp_file(storage: LocalStorage) -> None:
    pending = storage.begin()
    pending.write(b"clip")
    storage.commit(pending, KEY)
    assert temp_files(storage) == []


def test_committed_files_are_as_readable_as_ordinary_files(storage: LocalStorage) -> None:
    reference = storage.root / "reference"
    reference.write_bytes(b"")
    path = store(storage, KEY)
    assert path.stat().st_mode & 0o444 == reference.stat().st_mode & 0o444


def test_discard_leaves_nothing(storage: LocalStorage) -> None:
    pending = storage.begin()
    pending.write(b"half an upload")
    storage.discard(pending)
    assert temp_files(storage) == []
    assert pending.closed


def test_discard_twice_does_not_raise(storage: LocalStorage) -> None:
    pending = storage.begin()
    storage.discard(pending)
    storage.discard(pending)


def test_write_after_discard_raises(storage: LocalStorage) -> None:
    pending = storage.begin()
    storage.discard(pending)
    with pytest.raises(StorageError):
        pending.write(b"late")


def test_put_bytes_stores_content(storage: LocalStorage) -> None:
    key = f"{ID}/track-0123abcd.vtt"
    storage.put_bytes(key, b"WEBVTT\n")
    assert storage.local_path(key).read_bytes() == b"WEBVTT\n"
    assert temp_files(storage) == []


def test_put_bytes_replaces_atomically(storage: LocalStorage) -> None:
    path = store(storage, KEY, b"old" * 1000)
    with path.open("rb") as reader:
        storage.put_bytes(KEY, b"new")
        assert reader.read() == b"old" * 1000  # the reader keeps the whole old file
    assert path.read_bytes() == b"new"


def test_put_bytes_with_bad_key_leaves_no_temp(storage: LocalStorage) -> None:
    with pytest.raises(InvalidKey):
        storage.put_bytes("../x", b"data")
    assert temp_files(storage) == []


def test_commit_with_bad_key_keeps_pending_for_discard(storage: LocalStorage) -> None:
    pending = storage.begin()
    with pytest.raises(InvalidKey):
        storage.commit(pending, "../escape")
    storage.discard(pending)
    assert temp_files(storage) == []


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "a/../../b",
        f"{ID}/../{OTHER_ID}/x",
        f"{ID}/..",
        "/etc/passwd",
        f"/{ID}/x",
        f"{ID}\\..\\..\\x",
        f"..\\{ID}\\x",
        "%2e%2e/x",
        f"{ID}/%2e%2e",
        f"{ID}/%2fetc",
        f"{ID}/a\x00b",
        f"{ID}\x00/x",
        f"{ID}/a..b",
        f"{ID}/.hidden",
        f"{ID}/Upper.mp4",
        f"{ID}/a/b",
        f"{ID}/",
        ID,
        "",
        "short/x",
        f"{ID}/x\n",
        f"{ID}/{'a' * 65}",
    ],
)
def test_bad_keys_refused_everywhere(storage: LocalStorage, key: str) -> None:
    for attempt in (
        lambda: storage.put_bytes(key, b"x"),
        lambda: storage.local_path(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
    ):
        with pytest.raises(InvalidKey):
            attempt()


def test_symlink_out_of_root_refused(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "original.mp4").write_bytes(b"secret")
    (storage.root / ID[:2]).mkdir()
    (storage.root / ID[:2] / ID).symlink_to(outside)
    with pytest.raises(InvalidKey):
        storage.local_path(KEY)


def test_media_key_joins_id_and_name() -> None:
    assert media_key(ID, "original.mp4") == KEY


def test_media_key_refuses_bad_parts() -> None:
    with pytest.raises(InvalidKey):
        media_key("../" + ID, "original.mp4")
    with pytest.raises(InvalidKey):
        media_key(ID, "../original.mp4")


def test_local_path_of_missing_key_raises_key_error(storage: LocalStorage) -> None:
    with pytest.raises(KeyError):
        storage.local_path(KEY)
    with pytest.raises(MissingKey):
        storage.local_path(KEY)


def test_exists(storage: LocalStorage) -> None:
    assert not storage.exists(KEY)
    store(storage, KEY)
    assert storage.exists(KEY)


def test_delete_removes_file_and_empty_dirs(storage: LocalStorage) -> None:
    store(storage, KEY)
    storage.delete(KEY)
    assert not storage.exists(KEY)
    assert not (storage.root / ID[:2]).exists()


def test_delete_keeps_dirs_with_other_files(storage: LocalStorage) -> None:
    store(storage, KEY)
    poster = store(storage, f"{ID}/poster.jpg")
    storage.delete(KEY)
    assert poster.exists()


def test_delete_is_idempotent(storage: LocalStorage) -> None:
    store(storage, KEY)
    storage.delete(KEY)
    storage.delete(KEY)


def test_sweep_removes_temp_of_dead_process_on_this_host_at_once(storage: LocalStorage) -> None:
    (storage.root / ".tmp").mkdir()
    temp = storage.root / ".tmp" / f"{HOST}.{dead_pid()}-abc.part"
    temp.write_bytes(b"crashed upload")
    assert storage.sweep(set()) == [f".tmp/{temp.name}"]
    assert not temp.exists()


def test_sweep_removes_old_temp_of_dead_process_on_another_host(storage: LocalStorage) -> None:
    (storage.root / ".tmp").mkdir()
    temp = storage.root / ".tmp" / f"otherbox.{dead_pid()}-abc.part"
    temp.write_bytes(b"crashed upload")
    age(temp, 600)
    assert storage.sweep(set()) == [f".tmp/{temp.name}"]


def test_sweep_keeps_young_temp_of_a_pid_on_another_host(storage: LocalStorage) -> None:
    # That pid lives in another PID namespace sharing the volume (a container).
    (storage.root / ".tmp").mkdir()
    temp = storage.root / ".tmp" / f"otherbox.{dead_pid()}-abc.part"
    temp.write_bytes(b"upload")
    assert storage.sweep(set()) == []
    assert temp.exists()


def test_sweep_keeps_temp_of_live_process(storage: LocalStorage) -> None:
    pending = storage.begin()
    pending.write(b"uploading")
    age(pending.path, 3600)
    assert storage.sweep(set()) == []
    assert pending.path.exists()
    storage.discard(pending)


def test_sweep_removes_temp_older_than_a_day(storage: LocalStorage) -> None:
    pending = storage.begin()
    age(pending.path, 25 * 3600)
    assert storage.sweep(set()) == [f".tmp/{pending.path.name}"]
    storage.discard(pending)


def test_sweep_removes_old_orphans_and_their_dirs(storage: LocalStorage) -> None:
    age(store(storage, KEY), 301)
    assert storage.sweep(set()) == [KEY]
    assert not (storage.root / ID[:2]).exists()


def test_sweep_keeps_young_orphans(storage: LocalStorage) -> None:
    path = store(storage, KEY)
    age(path, 200)
    assert storage.sweep(set()) == []
    assert path.exists()


def test_sweep_grace_period_is_configurable(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media", orphan_grace=10)
    age(store(storage, KEY), 11)
    assert storage.sweep(set()) == [KEY]


def test_sweep_keeps_known_keys(storage: LocalStorage) -> None:
    path = store(storage, KEY)
    age(path, 10 * 24 * 3600)
    assert storage.sweep({KEY}) == []
    assert path.exists()


def test_sweep_keeps_other_files_of_known_media(storage: LocalStorage) -> None:
    poster = store(storage, f"{ID}/poster.jpg")
    age(poster, 3600)
    assert storage.sweep({KEY}) == []
    assert poster.exists()


def test_sweep_removes_only_the_orphans(storage: LocalStorage) -> None:
    age(store(storage, KEY), 3600)
    orphan = f"{OTHER_ID}/original.webm"
    age(store(storage, orphan), 3600)
    assert storage.sweep({KEY}) == [orphan]
    assert storage.exists(KEY)


def test_sweep_ignores_database_and_other_top_level_files(storage: LocalStorage) -> None:
    names = ["amps.sqlite3", "amps.sqlite3-wal", "amps.sqlite3-shm", ".gitkeep", "README"]
    for name in names:
        (storage.root / name).write_bytes(b"keep me")
        age(storage.root / name, 10 * 24 * 3600)
    (storage.root / "demo").mkdir()
    (storage.root / "demo" / "clip.mp4").write_bytes(b"not ours")
    assert storage.sweep(set()) == []
    assert all((storage.root / name).exists() for name in names)
    assert (storage.root / "demo" / "clip.mp4").exists()


def test_storage_full_on_enospc() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    pending = PendingFile(Path("/dev/full"), os.open("/dev/full", os.O_WRONLY))
    try:
        with pytest.raises(StorageFull):
            pending.write(b"x" * 65536)
        assert pending.size == 0
    finally:
        pending.close()


def test_storage_full_is_a_storage_error() -> None:
    assert issubclass(StorageFull, StorageError)


def test_root_is_created(tmp_path: Path) -> None:
    LocalStorage(tmp_path / "a" / "media")
    assert (tmp_path / "a" / "media").is_dir()


def test_healthy(storage: LocalStorage) -> None:
    assert storage.healthy()
    assert temp_files(storage) == []


def test_unhealthy_when_root_is_gone(storage: LocalStorage) -> None:
    storage.root.rmdir()
    assert not storage.healthy()
