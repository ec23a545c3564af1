"""Resumable uploads (tus 1.0.0) on the app itself: the protocol's answers, its refusals, and
that an upload ends as a clip exactly as a multipart upload does, or leaves nothing."""

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import stored_files, wait_processed

TUS = {"Tus-Resumable": "1.0.0"}
BODY = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def create(client: TestClient, length: int | None, **fields: str) -> str:
    headers = {**TUS, "Upload-Metadata": metadata(**fields)}
    if length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(length)
    response = client.post("/api/uploads", headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    location = response.headers["Location"]
    assert location.startswith("http://testserver/api/uploads/")
    return location.removeprefix("http://testserver")


def patch(client: TestClient, url: str, offset: int, data: bytes, **headers: str):  # type: ignore[no-untyped-def]
    return client.patch(
        url, content=data, headers={**BODY, "Upload-Offset": str(offset), **headers}
    )


def partial_files(settings: Settings) -> list[Path]:
    return sorted((settings.media_dir / ".tmp" / "resumable").glob("*"))


@pytest.fixture
def tus_settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        media_dir=tmp_path / "media",
        database_url=database_url,
        max_upload_bytes=20 * 1024**2,
        probe_timeout=20,
    )


@pytest.fixture
def tus_client(tus_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(tus_settings), client=("127.0.0.1", 50000)) as client:
        yield client


def test_options_says_what_the_server_speaks(client: TestClient, settings: Settings) -> None:
    response = client.options("/api/uploads")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "expiration",
        "checksum",
    }
    assert response.headers["Tus-Max-Size"] == str(settings.max_upload_bytes)
    assert "sha256" in response.headers["Tus-Checksum-Algorithm"].split(",")


def test_upload_in_chunks_becomes_a_clip(
    tus_client: TestClient, tus_settings: Settings, media_files: dict[str, Path]
) -> None:
    data = media_files["video.mp4"].read_bytes()
    url = create(tus_client, len(data), filename="council.mp4", title="Council", language="en")
    head = tus_client.head(url, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    assert "GMT" in head.headers["Upload-Expires"]
    offset = 0
    for size in (1_000_000, 1_000_000):
        response = patch(tus_client, url, offset, data[offset : offset + size])
        assert response.status_code == 204, response.text
        offset += size
        assert response.headers["Upload-Offset"] == str(offset)
        assert "Amps-Media-Id" not in response.headers
    last = patch(tus_client, url, offset, data[offset:])
    assert last.status_code == 204, last.text
    assert last.headers["Upload-Offset"] == str(len(data))
    media_id = last.headers["Amps-Media-Id"]
    assert last.headers["Location"] == f"http://testserver/api/media/{media_id}"
    record = wait_processed(tus_client, media_id)
    assert record["title"] == "Council"
    assert record["language"] == "en"
    assert record["size"] == len(data)
    assert record["mime_type"] == "video/mp4"
    assert tus_client.get(f"/media/{media_id}/stream").content == data
    # The upload keeps pointing at its clip, and its partial file is gone.
    again = tus_client.head(url, headers=TUS)
    assert again.headers["Amps-Media-Id"] == media_id
    assert again.headers["Upload-Offset"] == str(len(data))
    assert partial_files(tus_settings) == []


def test_creation_with_upload_and_deferred_length(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    data = media_files["audio.m4a"].read_bytes()
    headers = {**BODY, "Upload-Defer-Length": "1", "Upload-Metadata": metadata(filename="a.m4a")}
    response = client.post("/api/uploads", content=data[:500_000], headers=headers)
    assert response.status_code == 201
    assert response.headers["Upload-Offset"] == "500000"
    assert response.headers["Upload-Defer-Length"] == "1"
    url = response.headers["Location"].removeprefix("http://testserver")
    last = patch(client, url, 500_000, data[500_000:], **{"Upload-Length": str(len(data))})
    assert last.status_code == 204, last.text
    record = wait_processed(client, last.headers["Amps-Media-Id"])
    assert record["kind"] == "audio" and record["title"] == "a"


def test_wrong_offset_is_409(client: TestClient) -> None:
    url = create(client, 1000)
    assert patch(client, url, 0, b"x" * 100).status_code == 204
    response = patch(client, url, 50, b"y" * 100)
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/problem+json"
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "100"


def test_bad_checksum_is_460_and_keeps_nothing(client: TestClient) -> None:
    url = create(client, 1000)
    chunk = b"z" * 300
    wrong = "sha256 " + base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    response = patch(client, url, 0, chunk, **{"Upload-Checksum": wrong})
    assert response.status_code == 460
    assert response.json()["title"] == "Checksum Mismatch"
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "0"
    right = "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    assert patch(client, url, 0, chunk, **{"Upload-Checksum": right}).status_code == 204
    unknown = patch(client, url, 300, chunk, **{"Upload-Checksum": "crc32 AAAA"})
    assert unknown.status_code == 400


def test_missing_or_wrong_tus_resumable_is_412(client: TestClient) -> None:
    response = client.post("/api/uploads", headers={"Upload-Length": "10"})
    assert response.status_code == 412
    assert response.headers["Tus-Version"] == "1.0.0"
    url = create(client, 10)
    assert client.head(url, headers={"Tus-Resumable": "0.2.2"}).status_code == 412
    wrong = client.patch(url, content=b"x", headers={**BODY, "Tus-Resumable": "0.2.2"})
    assert wrong.status_code == 412


def test_unknown_upload_is_404(client: TestClient) -> None:
    assert client.head("/api/uploads/AAAAAAAAAAAAAAAAAAAAAA", headers=TUS).status_code == 404
    assert client.head("/api/uploads/..%2F..%2Fetc", headers=TUS).status_code == 404
    assert patch(client, "/api/uploads/AAAAAAAAAAAAAAAAAAAAAA", 0, b"x").status_code == 404


def test_past_the_size_limit_is_413(client: TestClient, settings: Settings) -> None:
    too_big = {**TUS, "Upload-Length": str(settings.max_upload_bytes + 1)}
    assert client.post("/api/uploads", headers=too_big).status_code == 413
    url = create(client, 100)
    response = patch(client, url, 0, b"x" * 101)
    assert response.status_code == 413
    deferred = create(client, None)
    response = patch(client, deferred, 0, b"x" * (settings.max_upload_bytes + 1))
    assert response.status_code == 413


def test_termination_leaves_no_file(client: TestClient, settings: Settings) -> None:
    url = create(client, 1000)
    assert patch(client, url, 0, b"x" * 400).status_code == 204
    assert len(partial_files(settings)) == 1
    response = client.delete(url, headers=TUS)
    assert response.status_code == 204
    assert partial_files(settings) == []
    assert client.head(url, headers=TUS).status_code == 404
    assert patch(client, url, 400, b"x").status_code == 404


def test_expired_upload_is_410_and_swept(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "media", upload_expiry=1)
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        url = create(client, 1000)
        assert patch(client, url, 0, b"x" * 400).status_code == 204
        assert len(partial_files(settings)) == 1
        deadline = time.monotonic() + 10
        while partial_files(settings) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert partial_files(settings) == []
        assert client.head(url, headers=TUS).status_code == 410
        assert patch(client, url, 400, b"x").status_code == 410


def test_refused_file_leaves_nothing(client: TestClient, settings: Settings) -> None:
    text = b"This is not a video at all.\n" * 1000
    url = create(client, len(text), filename="notes.mp4")
    response = patch(client, url, 0, text)
    assert response.status_code in (415, 422)
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert stored_files(settings.media_dir) == []
    assert client.get("/api/media").json()["total"] == 0
    assert client.head(url, headers=TUS).status_code == 404


def test_writes_need_the_token(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "media", api_token="secret")
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        refused = client.post("/api/uploads", headers={**TUS, "Upload-Length": "10"})
        assert refused.status_code == 401
        auth = {**TUS, "Authorization": "Bearer secret", "Upload-Length": "10"}
        url = client.post("/api/uploads", headers=auth).headers["Location"]
        assert patch(client, url, 0, b"x").status_code == 401
        assert client.delete(url, headers=TUS).status_code == 401


def test_cross_site_creation_is_refused(client: TestClient) -> None:
    headers = {**TUS, "Upload-Length": "10", "Origin": "https://evil.example"}
    assert client.post("/api/uploads", headers=headers).status_code == 403


def test_a_bad_title_is_refused_at_creation(client: TestClient) -> None:
    headers = {**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(title="a\x00b")}
    response = client.post("/api/uploads", headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "title"


def test_a_body_of_another_type_is_415(client: TestClient) -> None:
    url = create(client, 10)
    response = client.patch(
        url, content=b"x", headers={**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"}
    )
    assert response.status_code == 415


def test_bytes_past_the_recorded_offset_are_cut(client: TestClient, settings: Settings) -> None:
    """A process killed after writing but before recording leaves extra bytes: the next
    append starts at the recorded offset, not at the file's end."""
    url = create(client, 1000)
    assert patch(client, url, 0, b"a" * 100).status_code == 204
    (partial,) = partial_files(settings)
    with partial.open("ab") as file:
        file.write(b"!" * 50)
    assert patch(client, url, 100, b"b" * 100).status_code == 204
    assert partial.read_bytes() == b"a" * 100 + b"b" * 100


def s3_leftovers(app: Any) -> list[str]:
    """Multipart uploads and objects of resumable uploads still in the store."""
    storage = app.state.library.storage
    prefix = storage._full(".resumable/")
    page = storage.admin.list_multipart_uploads(Bucket=storage.bucket, Prefix=prefix)
    found = [upload["Key"] for upload in page.get("Uploads", [])]
    return found + [key for key, _ in storage._listed(".resumable/")]


@pytest.fixture
def replicas(s3_settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps over one PostgreSQL catalog and one SeaweedFS prefix, each with its own
    (empty) media dir: stateless replicas."""
    from tests import pg

    pg.require_server()
    with pg.fresh_schema() as schema:
        apps = [
            create_app(
                s3_settings.model_copy(
                    update={
                        "database_url": pg.url(schema),
                        "media_dir": s3_settings.media_dir / n,
                        "run_jobs": False,  # the clip's record is the point, not its poster
                    }
                )
            )
            for n in ("a", "b")
        ]
        with (
            TestClient(apps[0], client=("127.0.0.1", 50000)) as first,
            TestClient(apps[1], client=("127.0.0.1", 50001)) as second,
        ):
            yield first, second


def test_s3_upload_continues_on_another_replica(
    replicas: tuple[TestClient, TestClient], media_files: dict[str, Path]
) -> None:
    first, second = replicas
    data = media_files["video.avi"].read_bytes()  # ~9 MiB: one 8 MiB part and a last one
    url = create(first, len(data), filename="interview.avi")
    step = 3 * 1024 * 1024
    # 6 MiB on the first replica: less than a part, so all of it waits as a tail object.
    for offset in (0, step):
        assert patch(first, url, offset, data[offset : offset + step]).status_code == 204
    assert second.head(url, headers=TUS).headers["Upload-Offset"] == str(2 * step)
    # The second replica reads the tail back, sends part 1 and keeps a new tail.
    middle = 2 * step + 2 * 1024 * 1024 + 1000
    assert patch(second, url, 2 * step, data[2 * step : middle]).status_code == 204
    assert patch(second, url, 1, b"x").status_code == 409
    last = patch(second, url, middle, data[middle:])
    assert last.status_code == 204, last.text
    media_id = last.headers["Amps-Media-Id"]
    assert first.get(f"/media/{media_id}/stream").content == data
    assert first.get(f"/api/media/{media_id}").json()["size"] == len(data)
    assert s3_leftovers(second.app) == []


def test_s3_termination_leaves_nothing(
    replicas: tuple[TestClient, TestClient], media_files: dict[str, Path]
) -> None:
    first, second = replicas
    data = media_files["video.avi"].read_bytes()
    url = create(first, len(data))
    assert patch(first, url, 0, data[: 8 * 1024 * 1024 + 1000]).status_code == 204
    assert s3_leftovers(first.app) != []
    assert second.delete(url, headers=TUS).status_code == 204
    assert s3_leftovers(first.app) == []
    assert first.head(url, headers=TUS).status_code == 404


def test_s3_expiry_leaves_nothing(s3_settings: Settings) -> None:
    settings = s3_settings.model_copy(update={"upload_expiry": 1})
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        url = create(client, 20 * 1024 * 1024)
        assert patch(client, url, 0, b"x" * (9 * 1024 * 1024)).status_code == 204
        assert s3_leftovers(client.app) != []  # a part and a tail
        deadline = time.monotonic() + 15
        while s3_leftovers(client.app) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert s3_leftovers(client.app) == []
        assert client.head(url, headers=TUS).status_code == 410


def test_s3_refused_file_leaves_nothing(replicas: tuple[TestClient, TestClient]) -> None:
    first, _ = replicas
    text = b"This is not a video at all.\n" * 400_000  # past one part
    url = create(first, len(text), filename="notes.mp4")
    assert patch(first, url, 0, text).status_code in (415, 422)
    assert s3_leftovers(first.app) == []
    assert first.get("/api/media").json()["total"] == 0


def test_tus_js_client_is_served_on_the_upload_page_only(client: TestClient) -> None:
    upload_page = client.get("/upload").text
    assert "/vendor/tus.min.js" in upload_page
    assert "/vendor/tus.min.js" not in client.get("/").text
    # The vendored bundle is the pinned npm package's own (static/ ships without node_modules).
    root = Path(__file__).resolve().parent.parent
    package = json.loads((root / "package.json").read_text())
    assert package["dependencies"]["tus-js-client"].startswith("4.3.")
    bundle = root / "node_modules" / "tus-js-client" / "dist" / "tus.min.js"
    if bundle.exists():  # after `make install`
        assert (root / "static" / "vendor" / "tus.min.js").read_bytes() == bundle.read_bytes()


def test_s3_upload_past_the_shared_quota_is_507(s3_settings: Settings) -> None:
    from tests import pg

    pg.require_server()
    with pg.fresh_schema() as schema:
        settings = s3_settings.model_copy(
            update={"database_url": pg.url(schema), "storage_quota_bytes": 4 * 1024 * 1024}
        )
        with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
            url = create(client, 9 * 1024 * 1024)
            response = patch(client, url, 0, b"x" * (9 * 1024 * 1024))
            assert response.status_code == 507
            assert int(client.head(url, headers=TUS).headers["Upload-Offset"]) <= 4 * 1024 * 1024


def test_upload_past_the_storage_quota_is_507(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "media", storage_quota_bytes=1024 * 1024)
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        url = create(client, 3 * 1024 * 1024)
        response = patch(client, url, 0, b"x" * (3 * 1024 * 1024))
        assert response.status_code == 507
        kept = int(client.head(url, headers=TUS).headers["Upload-Offset"])
        assert kept <= 1024 * 1024
        assert partial_files(settings)[0].stat().st_size == kept
