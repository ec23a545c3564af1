"""S3Storage against a real SeaweedFS: keys, commits, discards, sweeps, health."""

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from app.config import Settings
from app.storage.base import InvalidKey, MissingKey, RemoteFile, StorageError, host_tag, media_key
from app.storage.s3 import PART_SIZE, S3Storage, parse_storage_url
from tests.seaweed import BUCKET, SeaweedFS

ID = "AbCdEfGhIjKlMnOp"
KEY = media_key(ID, "original.mp4")


@pytest.fixture
def storage(s3_settings: Settings) -> Iterator[S3Storage]:
    yield S3Storage(s3_settings, orphan_grace=0)


def objects(storage: S3Storage) -> list[str]:
    """Every object under the storage's prefix, named as the bucket names it."""
    found = storage.admin.list_objects_v2(Bucket=BUCKET, Prefix=storage.prefix + "/")
    return sorted(o["Key"] for o in found.get("Contents", []))


def uploads(storage: S3Storage) -> list[dict[str, Any]]:
    """Multipart uploads begun and neither completed nor aborted, under the prefix."""
    found = storage.admin.list_multipart_uploads(Bucket=BUCKET, Prefix=storage.prefix + "/")
    return list(found.get("Uploads", []))


def test_storage_url_gives_bucket_and_prefix() -> None:
    assert parse_storage_url("s3://media/a/b/") == ("media", "a/b")
    assert parse_storage_url("s3://media") == ("media", "")
    with pytest.raises(ValueError):
        parse_storage_url("https://media/a")


def test_put_read_info_delete(storage: S3Storage) -> None:
    storage.put_bytes(KEY, b"clip bytes", "video/mp4")
    assert objects(storage) == [f"{storage.prefix}/{KEY}"]
    assert storage.read_bytes(KEY) == b"clip bytes"
    assert storage.exists(KEY)
    info = storage.info(KEY)
    assert info.size == 10 and info.etag and '"' not in info.etag
    head = storage.admin.head_object(Bucket=BUCKET, Key=f"{storage.prefix}/{KEY}")
    assert head["ContentType"] == "video/mp4"
    storage.delete(KEY)
    storage.delete(KEY)  # already gone: no error
    assert objects(storage) == [] and not storage.exists(KEY)
    with pytest.raises(MissingKey):
        storage.read_bytes(KEY)
    with pytest.raises(MissingKey):
        storage.source(KEY)


@pytest.mark.parametrize("key", ["../x", f"{ID}/../../etc", ".tmp/x.part", f"{ID}/Upper.mp4"])
def test_keys_outside_the_layout_are_refused(storage: S3Storage, key: str) -> None:
    for attempt in (
        lambda: storage.put_bytes(key, b"x"),
        lambda: storage.read_bytes(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
    ):
        with pytest.raises(InvalidKey):
            attempt()
    assert objects(storage) == []


def test_upload_is_probed_at_a_temp_key_then_committed(storage: S3Storage) -> None:
    data = os.urandom(PART_SIZE + 12345)  # two parts: a real multipart upload
    pending = storage.begin()
    pending.write(data[: PART_SIZE // 2])
    pending.write(data[PART_SIZE // 2 :])
    assert objects(storage) == []  # nothing visible while it arrives
    with storage.opened(pending) as stored:
        assert isinstance(stored, RemoteFile) and stored.size == len(data)
        [temp] = objects(storage)
        assert temp.startswith(f"{storage.prefix}/.tmp/{host_tag()}.{os.getpid()}-")
        stored.file.seek(len(data) - 10)
        assert stored.file.read() == data[-10:]
        assert "X-Amz-Signature=" in stored.url and ".tmp/" in stored.url
    storage.commit(pending, KEY, "video/mp4")
    assert objects(storage) == [f"{storage.prefix}/{KEY}"]
    assert storage.read_bytes(KEY) == data
    assert pending.size == len(data)
    assert uploads(storage) == []


def test_discard_mid_upload_aborts_the_multipart_upload(storage: S3Storage) -> None:
    pending = storage.begin()
    for _ in range(3):
        pending.write(os.urandom(PART_SIZE // 2))
    storage.discard(pending)
    assert objects(storage) == [] and uploads(storage) == []


def test_discard_after_probing_removes_the_temp_object(storage: S3Storage) -> None:
    pending = storage.begin()
    pending.write(b"not media")
    with storage.opened(pending):
        assert len(objects(storage)) == 1
    storage.discard(pending)
    assert objects(storage) == []


def test_sweep_removes_dead_uploads_and_orphans_and_keeps_the_rest(
    storage: S3Storage, seaweedfs: SeaweedFS
) -> None:
    import obstore

    known, orphan = KEY, media_key("ZyXwVuTsRqPoNmLk", "original.mp3")
    poster = media_key(ID, "poster.jpg")  # not a record's key, but its clip is known
    for key in (known, orphan, poster):
        storage.put_bytes(key, b"x")
    dead, dead_upload = (
        f".tmp/{host_tag()}.{2**22 + n}-{secrets.token_urlsafe(12)}.part" for n in (1, 2)
    )  # pids above the kernel's maximum: dead
    obstore.put(storage.store, dead, b"half")
    writer = obstore.open_writer(storage.store, dead_upload, buffer_size=PART_SIZE)
    writer.write(os.urandom(PART_SIZE + 1))  # one part sent, the upload left open
    live = storage.begin()  # ours, alive: kept
    live.write(os.urandom(PART_SIZE + 1))
    assert len(uploads(storage)) == 2
    removed = storage.sweep({known})
    assert orphan in removed and dead in removed
    assert f"{dead_upload} (multipart upload)" in removed
    assert objects(storage) == sorted(f"{storage.prefix}/{k}" for k in (known, poster))
    [left] = uploads(storage)
    assert left["Key"] == f"{storage.prefix}/{live.key}"
    storage.discard(live)
    del writer


def test_sweep_keeps_young_orphans(s3_settings: Settings) -> None:
    storage = S3Storage(s3_settings, orphan_grace=300)
    storage.put_bytes(KEY, b"x")
    assert storage.sweep(set()) == []
    assert objects(storage) == [f"{storage.prefix}/{KEY}"]


def test_healthy_when_the_bucket_takes_writes(storage: S3Storage) -> None:
    assert storage.healthy()
    assert objects(storage) == []


def test_unhealthy_when_the_store_is_down(s3_settings: Settings) -> None:
    from tests.e2e.conftest import free_port

    down = s3_settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    assert not S3Storage(down).healthy()


def test_wrong_secret_is_unhealthy_and_writes_fail(s3_settings: Settings) -> None:
    from pydantic import SecretStr

    wrong = s3_settings.model_copy(update={"s3_secret_access_key": SecretStr("nope")})
    storage = S3Storage(wrong)
    assert not storage.healthy()
    with pytest.raises(StorageError):
        storage.put_bytes(KEY, b"x")


def test_sweep_keeps_another_hosts_temp_object_while_it_may_be_probed(
    storage: S3Storage,
) -> None:
    import obstore

    theirs = f".tmp/other-host.1-{secrets.token_urlsafe(12)}.part"
    obstore.put(storage.store, theirs, b"being probed by another replica")
    assert storage.sweep(set()) == []  # orphan_grace is 0, the probe's time is not
    assert objects(storage) == [f"{storage.prefix}/{theirs}"]


def test_commit_past_copy_object_limit_copies_in_parts(
    storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads past 5 GiB are committed with part copies; shown here with the limits scaled
    down (S3's smallest part is 5 MiB) so the object stays small."""
    import app.storage.s3 as storage_s3

    monkeypatch.setattr(storage_s3, "COPY_LIMIT", 6 * 1024 * 1024)
    monkeypatch.setattr(storage_s3, "COPY_PART_SIZE", 5 * 1024 * 1024)
    data = os.urandom(12 * 1024 * 1024 + 7)  # three part copies: 5, 5 and 2 MiB
    pending = storage.begin()
    pending.write(data)
    storage.commit(pending, KEY, "video/mp4")
    assert storage.read_bytes(KEY) == data
    head = storage.admin.head_object(Bucket=BUCKET, Key=f"{storage.prefix}/{KEY}")
    assert head["ContentType"] == "video/mp4" and head["ETag"].endswith('-3"')
    assert objects(storage) == [f"{storage.prefix}/{KEY}"] and uploads(storage) == []
