"""The clip API through the app factory: uploads, records, edits, deletes, problems."""

import hashlib
import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import stored_files, wait_processed
from tests.media import LENGTH, truncate

PROBLEM = "application/problem+json"
EXPECTED = {
    "video.mp4": ("video", "video/mp4"),
    "moov-at-end.mp4": ("video", "video/mp4"),
    "video.webm": ("video", "video/webm"),
    "cbr.mp3": ("audio", "audio/mpeg"),
    "vbr-no-xing.mp3": ("audio", "audio/mpeg"),
    "audio.ogg": ("audio", "audio/ogg"),
    "audio.wav": ("audio", "audio/wav"),
    "audio.flac": ("audio", "audio/flac"),
    "audio.m4a": ("audio", "audio/mp4"),
}


def upload(client: TestClient, path: Path, name: str | None = None, **fields: str):  # type: ignore[no-untyped-def]
    """POST the file; the answer is returned once the clip's background jobs are done too."""
    with path.open("rb") as handle:
        response = client.post(
            "/api/media", files={"file": (name or path.name, handle)}, data=fields
        )
    if response.status_code == 201:
        wait_processed(client, response.json()["id"])
    return response


def assert_nothing_kept(client: TestClient, settings: Settings) -> None:
    assert client.get("/api/media").json()["total"] == 0
    assert stored_files(settings.media_dir) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_upload_records_probe_results(
    client: TestClient, media_files: dict[str, Path], name: str
) -> None:
    response = upload(client, media_files[name], title="A clip")
    assert response.status_code == 201, response.text
    record = response.json()
    kind, mime = EXPECTED[name]
    assert (record["kind"], record["mime_type"], record["status"]) == (kind, mime, "processing")
    assert wait_processed(client, record["id"])["status"] == "ready"
    assert abs(record["duration"] - LENGTH) < 0.1
    assert record["duration_text"] == "3:25"
    assert record["size"] == media_files[name].stat().st_size
    assert response.headers["location"] == record["urls"]["api"]
    assert record["urls"]["stream"] == f"http://testserver/media/{record['id']}/stream"


def test_upload_video_has_dimensions(client: TestClient, media_files: dict[str, Path]) -> None:
    record = upload(client, media_files["video.mp4"]).json()
    assert (record["width"], record["height"]) == (320, 180)
    assert record["codecs"] == ["h264", "aac"]


def test_upload_stores_file_by_id_not_by_name(
    client: TestClient, settings: Settings, media_files: dict[str, Path]
) -> None:
    record = upload(client, media_files["cbr.mp3"], name="../../evil name.mp3").json()
    [stored] = stored_files(settings.media_dir, posters=False)
    assert record["id"] in stored.parts and "evil" not in str(stored)
    assert stored.read_bytes() == media_files["cbr.mp3"].read_bytes()


def test_upload_title_defaults_to_file_name(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    record = upload(client, media_files["audio.wav"], name="Council_meeting 3 March.wav").json()
    assert record["title"] == "Council meeting 3 March"


def test_upload_mime_type_comes_from_the_container(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    record = upload(client, media_files["video.webm"], name="clip.mp3").json()
    assert record["mime_type"] == "video/webm"


def test_ids_are_unguessable_and_url_safe(client: TestClient, media_files: dict[str, Path]) -> None:
    ids = {upload(client, media_files["audio.opus"]).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(len(i) >= 16 and all(c.isalnum() or c in "-_" for c in i) for i in ids)


def test_text_file_named_mp3_is_refused_with_415(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_text("this is not audio\n" * 200)
    response = upload(client, fake)
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"]
    assert_nothing_kept(client, settings)


def test_random_bytes_are_refused(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(os.urandom(300_000))
    assert upload(client, corrupt).status_code in (415, 422)
    assert_nothing_kept(client, settings)


@pytest.mark.parametrize("name", ["video.mp4", "moov-at-end.mp4", "cbr.mp3", "audio.flac"])
def test_truncated_upload_is_refused_with_422(
    client: TestClient, settings: Settings, media_files: dict[str, Path], tmp_path: Path, name: str
) -> None:
    cut = truncate(media_files[name], tmp_path / name)
    response = upload(client, cut)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "file"
    assert_nothing_kept(client, settings)


def test_upload_over_the_limit_gives_413_and_keeps_nothing(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    settings = Settings(media_dir=tmp_path / "m", max_upload_bytes=1_000_000)
    with TestClient(create_app(settings), client=("127.0.0.1", 1)) as client:
        response = upload(client, media_files["audio.flac"])
        assert response.status_code == 413
        assert "1,000,000 bytes" in response.json()["detail"]
        assert_nothing_kept(client, settings)


def test_upload_over_the_limit_without_content_length_gives_413(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    settings = Settings(media_dir=tmp_path / "m", max_upload_bytes=100_000)
    data = media_files["cbr.mp3"].read_bytes()
    boundary = "xyzzy"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\n'

    def body():  # type: ignore[no-untyped-def]
        yield head.encode()
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(create_app(settings), client=("127.0.0.1", 1)) as client:
        response = client.post(
            "/api/media",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 413
        assert_nothing_kept(client, settings)


def test_upload_without_a_file_field_is_a_clear_400(client: TestClient) -> None:
    response = client.post("/api/media", data={"title": "x"}, files={"other": ("a", b"b")})
    assert response.status_code == 400
    assert "`file`" in response.json()["detail"]


def test_upload_that_is_not_multipart_is_a_clear_400(client: TestClient) -> None:
    response = client.post(
        "/api/media", content=b"\x00" * 10, headers={"content-type": "audio/mpeg"}
    )
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["detail"]


def test_upload_with_a_bad_language_names_the_field(
    client: TestClient, settings: Settings, media_files: dict[str, Path]
) -> None:
    response = upload(client, media_files["cbr.mp3"], language="<script>")
    assert response.status_code == 422
    assert response.json()["field"] == "language"
    assert_nothing_kept(client, settings)


def test_writes_need_the_token_when_one_is_set(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    settings = Settings(media_dir=tmp_path / "m", api_token="s3cret")
    with TestClient(create_app(settings), client=("127.0.0.1", 1)) as client:
        missing = upload(client, media_files["cbr.mp3"])
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        client.headers["Authorization"] = "Bearer wrong"
        assert upload(client, media_files["cbr.mp3"]).status_code == 403
        assert_nothing_kept(client, settings)
        client.headers["Authorization"] = "Bearer s3cret"
        assert upload(client, media_files["cbr.mp3"]).status_code == 201


def test_writes_from_other_hosts_are_refused_without_a_token(
    settings: Settings, media_files: dict[str, Path]
) -> None:
    with TestClient(create_app(settings), client=("203.0.113.9", 1)) as client:
        response = upload(client, media_files["cbr.mp3"])
        assert response.status_code == 403
        assert "AMPS_API_TOKEN" in response.json()["detail"]
        assert client.get("/api/media").status_code == 200


def test_behind_nginx_loopback_is_not_trusted_without_a_token(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    settings = Settings(media_dir=tmp_path / "m", accel_redirect="/_amps_media/")
    with TestClient(create_app(settings), client=("127.0.0.1", 1)) as client:
        response = upload(client, media_files["cbr.mp3"])
        assert response.status_code == 403
        assert "AMPS_API_TOKEN" in response.json()["detail"]


def test_list_is_paginated_newest_first(client: TestClient, media_files: dict[str, Path]) -> None:
    ids = [upload(client, media_files["audio.opus"], title=f"n{i}").json()["id"] for i in range(3)]
    page = client.get("/api/media", params={"limit": 2}).json()
    assert page["total"] == 3
    assert [m["id"] for m in page["items"]] == ids[::-1][:2]
    rest = client.get(page["next"]).json()
    assert [m["id"] for m in rest["items"]] == ids[:1] and rest["next"] is None


def test_list_searches_titles(client: TestClient, media_files: dict[str, Path]) -> None:
    upload(client, media_files["audio.opus"], title="Budget debate")
    upload(client, media_files["audio.opus"], title="Sports day")
    found = client.get("/api/media", params={"q": "budget"}).json()
    assert [m["title"] for m in found["items"]] == ["Budget debate"]


def test_list_refuses_bad_paging_with_a_problem(client: TestClient) -> None:
    response = client.get("/api/media", params={"limit": 0})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "limit" in response.json()["detail"]


@pytest.mark.parametrize("bad_id", ["nope", "..%2F..%2Fetc%2Fpasswd", "a" * 40, "%00"])
def test_unknown_ids_are_404_problems(client: TestClient, bad_id: str) -> None:
    for path in (f"/api/media/{bad_id}", f"/media/{bad_id}/stream"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


def test_patch_changes_title_and_description(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    media_id = upload(client, media_files["cbr.mp3"]).json()["id"]
    response = client.patch(f"/api/media/{media_id}", json={"title": "New", "description": "D"})
    assert response.status_code == 200
    assert client.get(f"/api/media/{media_id}").json()["title"] == "New"


@pytest.mark.parametrize("body", [{"title": None}, {"title": ""}, {"kind": "video"}, {"size": 1}])
def test_patch_refuses_what_it_cannot_change(
    client: TestClient, media_files: dict[str, Path], body: dict[str, object]
) -> None:
    media_id = upload(client, media_files["cbr.mp3"]).json()["id"]
    response = client.patch(f"/api/media/{media_id}", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_patch_with_broken_json_is_a_problem(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    media_id = upload(client, media_files["cbr.mp3"]).json()["id"]
    response = client.patch(
        f"/api/media/{media_id}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_delete_removes_record_and_file(
    client: TestClient, settings: Settings, media_files: dict[str, Path]
) -> None:
    media_id = upload(client, media_files["cbr.mp3"]).json()["id"]
    assert client.delete(f"/api/media/{media_id}").status_code == 204
    assert client.get(f"/api/media/{media_id}").status_code == 404
    assert client.delete(f"/api/media/{media_id}").status_code == 404
    assert_nothing_kept(client, settings)


def test_stream_serves_the_stored_bytes(client: TestClient, media_files: dict[str, Path]) -> None:
    record = upload(client, media_files["video.mp4"]).json()
    data = media_files["video.mp4"].read_bytes()
    whole = client.get(record["urls"]["stream"])
    assert whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    part = client.get(record["urls"]["stream"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]


def test_head_on_stream_gives_headers_only(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    record = upload(client, media_files["cbr.mp3"]).json()
    response = client.head(record["urls"]["stream"])
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == record["size"]


def test_download_names_the_file_after_the_title(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    record = upload(client, media_files["cbr.mp3"], title='Budget "final"/v2').json()
    response = client.get(record["urls"]["download"])
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert ".mp3" in disposition and "/v2" not in disposition


def test_stream_of_a_vanished_file_is_404(
    client: TestClient, settings: Settings, media_files: dict[str, Path]
) -> None:
    record = upload(client, media_files["cbr.mp3"]).json()
    for path in stored_files(settings.media_dir):
        path.unlink()
    response = client.get(record["urls"]["stream"])
    assert response.status_code == 404
    assert "not available" in response.json()["detail"]


def test_healthz_reports_each_check(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "checks": {"catalog": True, "storage": True, "ffprobe": True}}


def test_openapi_documents_the_upload(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    upload_op = spec["paths"]["/api/media"]["post"]
    assert (
        "file" in upload_op["requestBody"]["content"]["multipart/form-data"]["schema"]["required"]
    )
    assert "413" in upload_op["responses"] and "415" in upload_op["responses"]
    assert client.get("/docs").status_code == 200


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    response = client.get("/api/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
