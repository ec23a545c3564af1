"""Clips in an S3-compatible object store (AMPS_STORAGE_URL=s3://bucket/prefix).

Keys are the same "<id>/<name>" as on disk, under the prefix. An upload streams into a
multipart upload of a temp key (.tmp/<host>.<pid>-<token>.part), is probed there through a
short-lived presigned URL, then copied to its final key (with its probed Content-Type) and the
temp key deleted: an interrupted upload leaves no visible object, and sweep() removes temp
objects and multipart uploads whose writer is gone.

Two clients, each where it was measured or needed (bench/s3_clients.py, SeaweedFS on
loopback, 2 cores): obstore (Rust object_store) moves the bytes: 64 KiB ranged GET p50
0.6 ms vs boto3 1.5 ms and aioboto3 1.8 ms; 16 at once 2,125/s vs 694/s and 719/s; a 64 MiB
GET 1,082 MiB/s vs 580 and 692; a streamed 256 MiB multipart upload 70 MiB/s vs 42 (boto3);
import 4 ms vs 109 and 192. botocore does what object_store leaves out on purpose: CopyObject
with a new Content-Type, presigned URLs with response-content-type/-disposition, and
listing/aborting multipart uploads; all off the hot path.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from app.config import Settings
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
    StorageError,
    check_key,
    host_tag,
    pid_alive,
)
from app.storage.local import Reservation, SharedQuota

if TYPE_CHECKING:
    from obstore import WritableFile

log = logging.getLogger("amps")
MIB = 1024 * 1024
# S3 parts are at least 5 MiB; 8 MiB parts, at most 4 in flight, bound an upload's memory
# to about 40 MiB whatever its size.
PART_SIZE = 8 * MIB
PARTS_IN_FLIGHT = 4
COPY_LIMIT = 5 * 1024**3  # the largest object one CopyObject may copy
COPY_PART_SIZE = 1024**3  # part copies past it: 1 GiB each (S3 allows 5 MiB to 5 GiB)
PROBE_READ_BUFFER = 256 * 1024  # mutagen and the truncation checks read headers and tails
STORAGE_URL = re.compile(r"s3://(?P<bucket>[^/]+)/?(?P<prefix>.*)")
CACHE_CONTROL = "public, max-age=86400"  # as app.streaming's, for direct and CDN readers
MISSING_MEMORY = 300.0  # seconds known() trusts a read that found a key missing
MAX_MISSING = 10_000
RESUMABLE_DIR = ".resumable"  # resumable (tus) uploads: multipart uploads and their tails


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # opaque-tag, without quotes
    last_modified: datetime


def parse_storage_url(url: str) -> tuple[str, str]:
    """The (bucket, prefix) of s3://bucket/prefix; the prefix has no slashes at either end."""
    match = STORAGE_URL.fullmatch(url)
    if match is None:
        raise ValueError(f"not an s3:// storage URL: {url!r}")
    return match["bucket"], match["prefix"].strip("/")


class PendingObject:
    """An upload being written to a temp key: counts and hashes what goes through it."""

    def __init__(self, key: str, writer: WritableFile, quota: Reservation | None = None) -> None:
        self.key = key
        self.size = 0
        self.quota = quota
        self._writer: WritableFile | None = writer
        self._hash = hashlib.sha256()

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()

    @property
    def finished(self) -> bool:
        return self._writer is None

    def write(self, data: bytes) -> None:
        if self._writer is None:
            raise StorageError("write to a finished upload")
        if self.quota is not None:
            self.quota.claim(len(data))
        try:
            self._writer.write(data)
        except Exception as error:
            raise StorageError(f"writing to the object store failed: {error}") from error
        self.size += len(data)
        self._hash.update(data)

    def flush(self) -> None:
        """Nothing to do: finish() completes the upload."""

    def finish(self) -> None:
        """Complete the multipart upload: the temp object then exists, whole."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except Exception as error:
                raise StorageError(f"completing the upload failed: {error}") from error

    def abort(self) -> None:
        """Abort the multipart upload (obstore aborts when its context exits with an error)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with contextlib.suppress(Exception):
                writer.__exit__(StorageError, StorageError("aborted"), None)


class S3Storage:
    """Objects under s3://bucket/prefix/<id>/<name>; uploads go through .tmp/ temp keys."""

    def __init__(
        self, settings: Settings, *, orphan_grace: float = 300.0, quota: SharedQuota | None = None
    ) -> None:
        """`quota`: AMPS_STORAGE_QUOTA_BYTES counted with other replicas (PostgreSQL); an
        object store has no quota otherwise (counting it would mean listing the bucket)."""
        assert settings.storage_url is not None
        self.bucket, self.prefix = parse_storage_url(settings.storage_url)
        self.settings = settings
        self.orphan_grace = orphan_grace
        self.url_expiry = settings.s3_url_expiry
        self.store = S3Store(self.bucket, prefix=self.prefix or None, **_obstore_config(settings))
        self.quota = quota
        self._admin: Any = None
        self._public_signer: Any = None
        # Keys a read found missing, and when: pages ask known() instead of the store.
        self._missing: dict[str, float] = {}

    @property
    def public_origin(self) -> str:
        """Where presigned redirects point, as a CSP source: scheme://host[:port]."""
        settings = self.settings
        endpoint = settings.s3_public_endpoint_url or _endpoint(settings)
        if not endpoint:  # AWS: bucket.s3.region.amazonaws.com or s3.region.amazonaws.com
            return "https://*.amazonaws.com"
        parts = urlsplit(endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    # Keys: ours are "<id>/<name>" and ".tmp/<temp>"; the store's add the prefix.
    def _full(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    @staticmethod
    def _key(key: str) -> str:
        check_key(key)
        return key

    @property
    def admin(self) -> Any:
        """The botocore client, made on first use (its import alone costs ~100 ms)."""
        if self._admin is None:
            self._admin = _botocore_client(self.settings)
        return self._admin

    def begin(self) -> PendingObject:
        key = f"{TEMP_DIR}/{host_tag()}.{os.getpid()}-{secrets.token_urlsafe(12)}.part"
        writer = obstore.open_writer(
            self.store, key, buffer_size=PART_SIZE, max_concurrency=PARTS_IN_FLIGHT
        )
        return PendingObject(key, writer, self.quota.account() if self.quota else None)

    @contextlib.contextmanager
    def opened(self, pending: Pending) -> Iterator[Path | RemoteFile]:
        """The finished upload as a presigned URL (for ffprobe) and a ranged-read file."""
        upload = _own(pending)
        upload.finish()
        with self._remote(upload.key, upload.size) as remote:
            yield remote

    @contextlib.contextmanager
    def opened_key(self, key: str) -> Iterator[Path | RemoteFile]:
        """A stored object, read as `opened` reads an upload (for a re-probe)."""
        with self._remote(key, self.info(key).size) as remote:
            yield remote

    @contextlib.contextmanager
    def _remote(self, key: str, size: int) -> Iterator[RemoteFile]:
        url = self.presign(key, expires=self.settings.probe_timeout + 60)
        reader = obstore.open_reader(self.store, key, buffer_size=PROBE_READ_BUFFER, size=size)
        try:
            # mutagen and the probe need only read/seek/tell of a BinaryIO.
            yield RemoteFile(url, cast(BinaryIO, _ReaderFile(reader)), size)
        finally:
            reader.close()

    def commit(self, pending: Pending, key: str, media_type: str | None = None) -> None:
        """Copy the finished upload to key (typed as probed), then delete the temp key."""
        self._key(key)
        upload = _own(pending)
        upload.finish()
        target = {"Bucket": self.bucket, "Key": self._full(key), "CacheControl": CACHE_CONTROL}
        if media_type:
            target["ContentType"] = media_type
        source = {"Bucket": self.bucket, "Key": self._full(upload.key)}
        try:
            if upload.size <= COPY_LIMIT:
                self.admin.copy_object(**target, CopySource=source, MetadataDirective="REPLACE")
            else:
                self._copy_in_parts(source, target, upload.size)
        except Exception as error:
            raise StorageError(f"storing {key} failed: {error}") from error
        if upload.quota is not None:
            upload.quota.settle(key)
        self._forget_missing(key)
        self._delete_quietly(upload.key)

    def _copy_in_parts(self, source: dict[str, str], target: dict[str, str], size: int) -> None:
        """CopyObject stops at 5 GiB: past it, a multipart upload of server-side part copies."""
        admin = self.admin
        upload_id = admin.create_multipart_upload(**target)["UploadId"]
        where = {"Bucket": target["Bucket"], "Key": target["Key"], "UploadId": upload_id}
        try:
            parts = []
            for number, start in enumerate(range(0, size, COPY_PART_SIZE), 1):
                end = min(start + COPY_PART_SIZE, size) - 1
                copied = admin.upload_part_copy(
                    **where, PartNumber=number, CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                )  # fmt: skip
                parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            admin.complete_multipart_upload(**where, MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):
                admin.abort_multipart_upload(**where)
            raise

    def discard(self, pending: Pending) -> None:
        upload = _own(pending)
        if upload.finished:
            self._delete_quietly(upload.key)
        else:
            upload.abort()
        if upload.quota is not None:
            upload.quota.cancel(upload.size)

    def put_bytes(self, key: str, data: bytes, media_type: str | None = None) -> None:
        """One PUT: S3 shows the whole object or none of it."""
        self._key(key)
        attributes: dict[Any, str] = {"Cache-Control": CACHE_CONTROL}
        if media_type:
            attributes["Content-Type"] = media_type
        account = self.quota.account() if self.quota else None
        if account is not None:
            account.claim(len(data))
        try:
            obstore.put(self.store, key, data, attributes=attributes)
        except Exception as error:
            if account is not None:
                account.cancel(len(data))
            raise StorageError(f"storing {key} failed: {error}") from error
        if account is not None:
            account.settle(key)
        self._forget_missing(key)

    def read_bytes(self, key: str) -> bytes:
        self._key(key)
        try:
            return bytes(obstore.get(self.store, key).bytes())
        except FileNotFoundError:
            self.note_missing(key)
            raise MissingKey(key) from None
        except Exception as error:
            raise StorageError(f"reading {key} failed: {error}") from error

    def info(self, key: str) -> ObjectInfo:
        """Size, ETag and date of a stored object; MissingKey when there is none."""
        self._key(key)
        try:
            meta = obstore.head(self.store, key)
        except FileNotFoundError:
            self.note_missing(key)
            raise MissingKey(key) from None
        except Exception as error:
            raise StorageError(f"looking up {key} failed: {error}") from error
        etag = (meta["e_tag"] or f"{meta['size']:x}").strip('"')
        self._forget_missing(key)
        return ObjectInfo(meta["size"], etag, meta["last_modified"])

    def exists(self, key: str) -> bool:
        """Asks the store (a HEAD request): for one key, never for every clip of a page."""
        try:
            self.info(key)
        except MissingKey:
            return False
        return True

    def known(self, key: str) -> bool:
        """Whether a key the catalog records is there, without asking the store: yes,
        unless a read in this process found it missing in the last MISSING_MEMORY seconds.
        A HEAD per clip costs 10-30 ms on a cloud store; pages list dozens of clips."""
        seen = self._missing.get(key)
        if seen is None:
            return True
        if time.monotonic() - seen < MISSING_MEMORY:
            return False
        self._missing.pop(key, None)
        return True

    def note_missing(self, key: str) -> None:
        """A read found nothing under key (known() says so for a while)."""
        if len(self._missing) >= MAX_MISSING:
            self._missing.clear()
        self._missing[key] = time.monotonic()

    def _forget_missing(self, key: str) -> None:
        self._missing.pop(key, None)

    def source(self, key: str) -> str:
        """A presigned URL ffmpeg can read the object from; MissingKey when there is none."""
        self.info(key)
        return self.presign(self._key(key), expires=self.settings.probe_timeout + 60)

    def presign(
        self,
        key: str,
        *,
        expires: float | None = None,
        media_type: str | None = None,
        disposition: str | None = None,
        public: bool = False,
    ) -> str:
        """A GET URL for the object that anyone holding it may use until it expires;
        `public`: on the store's public endpoint (redirects), else on the one we use (ffmpeg)."""
        signer = self.admin
        if public and self.settings.s3_public_endpoint_url:
            if self._public_signer is None:
                self._public_signer = _botocore_client(
                    self.settings, self.settings.s3_public_endpoint_url
                )
            signer = self._public_signer
        params = {"Bucket": self.bucket, "Key": self._full(key)}
        if media_type:
            params["ResponseContentType"] = media_type
        if disposition:
            params["ResponseContentDisposition"] = disposition
        url: str = signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=int(expires or self.url_expiry)
        )
        return url

    def delete(self, key: str) -> None:
        self._key(key)
        try:
            obstore.delete(self.store, key)
        except FileNotFoundError:
            pass
        except Exception as error:
            raise StorageError(f"removing {key} failed: {error}") from error
        self.note_missing(key)

    def _delete_quietly(self, key: str) -> None:
        try:
            obstore.delete(self.store, key)
        except Exception as error:  # the sweep at start-up gets it
            log.warning("could not remove %s: %s", key, error)

    def sweep(self, known_keys: set[str]) -> list[str]:
        """Remove dead uploads (temp objects and multipart uploads) and old unknown objects.

        The rules of LocalStorage.sweep: objects under a known id are kept, and so is anything
        younger than orphan_grace. A multipart upload of another host may still be arriving,
        so it is aborted only after TEMP_MAX_AGE; ours as soon as its process is gone.
        """
        now = datetime.now(UTC)
        known_ids = {key.partition("/")[0] for key in known_keys}
        removed: list[str] = []
        try:
            for batch in obstore.list(self.store):
                for meta in batch:
                    key, age = meta["path"], (now - meta["last_modified"]).total_seconds()
                    if self._is_leftover(key, age, known_keys, known_ids):
                        self._delete_quietly(key)
                        removed.append(key)
            return removed + self._sweep_uploads(now)
        except Exception as error:
            raise StorageError(f"sweeping the object store failed: {error}") from error

    def sweep_temp(self) -> list[str]:
        """Remove dead uploads only (temp objects and multipart uploads): two listings of
        the temp prefix, however many clips the store holds."""
        now = datetime.now(UTC)
        removed: list[str] = []
        try:
            for batch in obstore.list(self.store, prefix=TEMP_DIR):
                for meta in batch:
                    key, age = meta["path"], (now - meta["last_modified"]).total_seconds()
                    if self._is_leftover(key, age, set(), set()):
                        self._delete_quietly(key)
                        removed.append(key)
            return removed + self._sweep_uploads(now)
        except Exception as error:
            raise StorageError(f"sweeping the object store failed: {error}") from error

    def _is_leftover(self, key: str, age: float, known_keys: set[str], known_ids: set[str]) -> bool:
        folder, _, name = key.partition("/")
        if folder == TEMP_DIR:
            # A temp object lives while its upload is probed: never judge one younger than that.
            probing = self.settings.probe_timeout + 120
            return _temp_is_dead(name, age, max(self.orphan_grace, probing))
        if not KEY_PATTERN.fullmatch(key) or key in known_keys or folder in known_ids:
            return False
        return age > self.orphan_grace

    def _sweep_uploads(self, now: datetime) -> list[str]:
        temp_prefix = self._full(TEMP_DIR) + "/"
        removed = []
        paginator = self.admin.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=temp_prefix):
            for upload in page.get("Uploads", []):
                name = upload["Key"][len(temp_prefix) :]
                age = (now - upload["Initiated"]).total_seconds()
                if _temp_is_dead(name, age, TEMP_MAX_AGE):
                    self.admin.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed.append(f"{TEMP_DIR}/{name} (multipart upload)")
        return removed

    # Resumable (tus) uploads: a multipart upload of .resumable/<id> and its tail objects
    # .resumable/<id>.tail-<start> (beside it, not under it: a filer-backed store such as
    # SeaweedFS cannot complete an object whose key is a folder), outside .tmp/ so the temp
    # sweep above never judges them: the catalog decides when they expire (drop_resumable).
    # Any replica can continue one.

    def _resumable_key(self, upload_id: str) -> str:
        if not ID_PATTERN.fullmatch(upload_id):
            raise InvalidKey(f"not an upload id: {upload_id!r}")
        return f"{RESUMABLE_DIR}/{upload_id}"

    def _multipart_ids(self, upload_id: str) -> list[str]:
        key = self._full(self._resumable_key(upload_id))
        page = self.admin.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        return [u["UploadId"] for u in page.get("Uploads", []) if u["Key"] == key]

    def _multipart_id(self, upload_id: str) -> str:
        try:
            ids = self._multipart_ids(upload_id)
        except Exception as error:
            raise StorageError(f"finding the upload {upload_id} failed: {error}") from error
        if not ids:
            raise MissingKey(upload_id)
        return str(ids[0])

    def create_resumable(self, upload_id: str) -> None:
        key = self._full(self._resumable_key(upload_id))
        try:
            self.admin.create_multipart_upload(Bucket=self.bucket, Key=key)
        except Exception as error:
            raise StorageError(f"starting the upload {upload_id} failed: {error}") from error

    def _put_part(self, target: dict[str, str], number: int, data: bytes) -> None:
        try:
            self.admin.upload_part(**target, PartNumber=number, Body=data)
        except Exception as error:
            raise StorageError(f"sending part {number} of an upload failed: {error}") from error

    def _part_target(self, upload_id: str) -> dict[str, str]:
        key = self._full(self._resumable_key(upload_id))
        return {"Bucket": self.bucket, "Key": key, "UploadId": self._multipart_id(upload_id)}

    def _put_tail(self, target: dict[str, str], start: int, data: bytes) -> None:
        key = f"{target['Key'].removeprefix(self._full(''))}.tail-{start}"
        try:
            obstore.put(self.store, key, data)
        except Exception as error:
            raise StorageError(f"storing the tail of an upload failed: {error}") from error

    def _read_tail(self, upload_id: str, start: int, length: int) -> bytes:
        if length == 0:
            return b""
        key = f"{self._resumable_key(upload_id)}.tail-{start}"
        try:
            tail = bytes(obstore.get_range(self.store, key, start=0, length=length))
        except FileNotFoundError:
            raise MissingKey(key) from None
        except Exception as error:
            raise StorageError(f"reading the tail of {upload_id} failed: {error}") from error
        if len(tail) < length:
            raise MissingKey(f"{key}: {len(tail)} bytes kept, {length} recorded")
        return tail

    def append_resumable(self, upload_id: str, offset: int) -> AppendObject:
        """The upload opened to append at `offset`, its tail read back (less than a part)."""
        target = self._part_target(upload_id)  # MissingKey when it was aborted
        start = offset - offset % PART_SIZE
        return AppendObject(self, target, offset, self._read_tail(upload_id, start, offset - start))

    def completed_resumable(self, upload_id: str, length: int) -> PendingObject:
        """Send the tail as the last part, complete the multipart upload and hash the object:
        a finished pending upload, for the library to probe and commit or discard."""
        start = length - length % PART_SIZE
        tail = self._read_tail(upload_id, start, length - start)
        count = start // PART_SIZE
        where = self._part_target(upload_id)
        if tail:
            self._put_part(where, count + 1, tail)
            count += 1
        try:
            listed = self.admin.list_parts(**where, MaxParts=10_000).get("Parts", [])
            etags = {part["PartNumber"]: part["ETag"] for part in listed}
            parts = [{"PartNumber": n, "ETag": etags[n]} for n in range(1, count + 1)]
            self.admin.complete_multipart_upload(**where, MultipartUpload={"Parts": parts})
        except KeyError as error:
            raise MissingKey(f"{upload_id}: part {error} is missing") from None
        except Exception as error:
            raise StorageError(f"completing the upload {upload_id} failed: {error}") from error
        self._delete_tails(upload_id)
        key = self._resumable_key(upload_id)
        pending = PendingObject(key, cast("WritableFile", None), None)
        pending._writer = None
        pending.size = self.info_of(key).size
        digest = hashlib.sha256()
        for chunk in obstore.get(self.store, key).stream(min_chunk_size=MIB):
            digest.update(chunk)
        pending._hash = digest
        return pending

    def info_of(self, relative: str) -> ObjectInfo:
        """info() for one of our own keys outside the clips' "<id>/<name>" layout."""
        try:
            meta = obstore.head(self.store, relative)
        except FileNotFoundError:
            raise MissingKey(relative) from None
        except Exception as error:
            raise StorageError(f"looking up {relative} failed: {error}") from error
        return ObjectInfo(meta["size"], (meta["e_tag"] or "").strip('"'), meta["last_modified"])

    def _delete_tails(self, upload_id: str) -> None:
        for key, _ in self._listed(f"{self._resumable_key(upload_id)}.tail-"):
            self._delete_quietly(key)

    def _listed(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Our keys starting with `prefix` (any string: obstore's list takes folders only)."""
        full = self._full(prefix)
        start = len(full) - len(prefix)
        paginator = self.admin.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for item in page.get("Contents", []):
                yield item["Key"][start:], item["LastModified"]

    def drop_resumable(self, upload_id: str) -> None:
        """Abort the multipart upload and remove its tails (and the object, once completed)."""
        key = self._resumable_key(upload_id)
        try:
            for multipart in self._multipart_ids(upload_id):
                self.admin.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._full(key), UploadId=multipart
                )
            self._delete_tails(upload_id)
            obstore.delete(self.store, key)
        except FileNotFoundError:
            pass
        except Exception as error:
            raise StorageError(f"removing the upload {upload_id} failed: {error}") from error

    def resumable_ages(self) -> dict[str, float]:
        """Every resumable upload in the store (multipart uploads and tails) and its age."""
        now = datetime.now(UTC)
        ages: dict[str, float] = {}

        def seen(name: str, moment: datetime) -> None:
            upload_id = name.partition(".")[0]
            if ID_PATTERN.fullmatch(upload_id):
                age = (now - moment).total_seconds()
                ages[upload_id] = min(age, ages.get(upload_id, age))

        prefix = f"{RESUMABLE_DIR}/"
        for key, moment in self._listed(prefix):
            seen(key[len(prefix) :], moment)
        full = self._full(prefix)
        paginator = self.admin.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for multipart in page.get("Uploads", []):
                seen(multipart["Key"][len(full) :], multipart["Initiated"])
        return ages

    def healthy(self) -> bool:
        """The bucket takes a write and a delete with our credentials."""
        key = f"{TEMP_DIR}/health-{host_tag()}.{os.getpid()}-{secrets.token_urlsafe(6)}"
        try:
            obstore.put(self.store, key, b"")
            obstore.delete(self.store, key)
        except Exception as error:
            log.warning("object store check failed: %s", error)
            return False
        return True


class AppendObject:
    """A resumable upload on S3 opened by one request: a multipart upload whose parts are
    PART_SIZE bytes each (part n holds bytes [(n-1) * PART_SIZE, n * PART_SIZE)), plus a tail
    shorter than a part kept as an object of its own, `<id>.tail-<start>`, until it grows into a
    part or the upload ends. Named by where it starts, a tail written by a request that died
    before its offset was recorded never overwrites the one the recorded offset needs; a part
    it sent is sent again, under the same number, by the request that resumes."""

    def __init__(
        self, storage: S3Storage, target: dict[str, str], offset: int, tail: bytes
    ) -> None:
        self.storage = storage
        self.target = target  # the multipart upload: Bucket, Key, UploadId
        # The shared quota, claimed as bytes arrive (a reservation lapses after its TTL: the
        # clip's record counts once it is whole).
        self.quota = storage.quota.account() if storage.quota is not None else None
        self.start = offset
        self.size = 0
        self._part_start = offset - len(tail)
        self._initial = bytes(tail)
        self._buffer = bytearray(tail)

    @property
    def end(self) -> int:
        return self.start + self.size

    def write(self, data: bytes) -> None:
        if self.quota is not None:
            self.quota.claim(len(data))
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) >= PART_SIZE:
            part = bytes(self._buffer[:PART_SIZE])
            self.storage._put_part(self.target, self._part_start // PART_SIZE + 1, part)
            del self._buffer[:PART_SIZE]
            self._part_start += PART_SIZE

    def sync(self) -> None:
        """Make the bytes so far durable: the parts are; the tail is written as an object."""
        if self._buffer:
            self.storage._put_tail(self.target, self._part_start, bytes(self._buffer))

    def rewind(self) -> None:
        """Back to where this request started (a part it sent is sent again later)."""
        self._buffer = bytearray(self._initial)
        self._part_start = self.start - len(self._initial)
        self.size = 0

    def close(self) -> None:
        self._buffer = bytearray()


def _temp_is_dead(name: str, age: float, foreign_after: float) -> bool:
    """Whether a temp key's writer is gone: ours with a dead pid, anyone's when old enough."""
    match = TEMP_PATTERN.fullmatch(name)
    if match is None:  # health-check objects and strays
        return age > TEMP_MAX_AGE or (name.startswith("health-") and age > 60)
    ours_and_dead = match["host"] == host_tag() and not pid_alive(int(match["pid"]))
    return ours_and_dead or age > foreign_after or age > TEMP_MAX_AGE


def _own(pending: Pending) -> PendingObject:
    if not isinstance(pending, PendingObject):
        raise TypeError("not an upload of this storage")
    return pending


class _ReaderFile:
    """obstore's ranged reader as the binary file mutagen and the probe read."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        return bytes(self._reader.read(None if size is None or size < 0 else size))

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position: int = self._reader.seek(offset, whence)
        return position

    def tell(self) -> int:
        position: int = self._reader.tell()
        return position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


def _obstore_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "client_options": {"timeout": "60s", "connect_timeout": "5s"},
        # The default retries for 3 minutes: a health check or a reader would hang as long.
        "retry_config": {"max_retries": 3, "retry_timeout": timedelta(seconds=20)},
    }
    endpoint = _endpoint(settings)
    if endpoint:
        config["endpoint"] = endpoint
        config["virtual_hosted_style_request"] = False
        if endpoint.startswith("http://"):
            config["client_options"]["allow_http"] = True
    config["region"] = _region(settings)
    if settings.s3_access_key_id:
        config["access_key_id"] = settings.s3_access_key_id
    if settings.s3_secret_access_key:
        config["secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    return config


def _endpoint(settings: Settings) -> str | None:
    return settings.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None


def _region(settings: Settings) -> str:
    return (
        settings.s3_region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )


def _botocore_client(settings: Settings, endpoint: str | None = None) -> Any:
    import botocore.session
    from botocore.config import Config

    endpoint = endpoint or _endpoint(settings)
    secret = settings.s3_secret_access_key
    config = Config(
        signature_version="s3v4",  # the default for presigning refuses response-* params
        s3={"addressing_style": "path" if endpoint else "auto"},
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3},
    )
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=_region(settings),
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=config,
    )
