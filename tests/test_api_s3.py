"""The API with its clips in a real SeaweedFS: uploads probed in the store, streams proxied or
redirected, posters, tracks, deletes and health (the range rules: tests/test_streaming.py)."""

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.media.probe import probe_file
from app.storage.s3 import S3Storage
from tests.conftest import stored_files
from tests.media import LENGTH, truncate
from tests.seaweed import SeaweedFS
from tests.test_api import EXPECTED, upload
from tests.test_storage_s3 import objects, uploads

VTT = b"WEBVTT\n\n00:00.000 --> 00:02.000\nHello from the store\n"


@pytest.fixture
def client(s3_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(s3_settings), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def storage_of(client: TestClient) -> S3Storage:
    storage = client.app.state.library.storage  # type: ignore[attr-defined]
    assert isinstance(storage, S3Storage)
    return storage


def stored(client: TestClient) -> list[str]:
    """Object keys under the library's prefix, without it."""
    storage = storage_of(client)
    return [key.removeprefix(storage.prefix + "/") for key in objects(storage)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_upload_into_the_store_probes_as_a_local_file_does(
    client: TestClient, media_files: dict[str, Path], s3_settings: Settings, name: str
) -> None:
    response = upload(client, media_files[name])
    assert response.status_code == 201, response.text
    record = response.json()
    local = probe_file(media_files[name], 20)
    assert (record["kind"], record["mime_type"]) == EXPECTED[name]
    assert record["duration"] == local.duration and abs(record["duration"] - LENGTH) < 0.1
    assert record["size"] == media_files[name].stat().st_size
    key = f"{record['id']}/original{local.extension}"
    assert key in stored(client)
    storage = storage_of(client)
    head = storage.admin.head_object(Bucket=storage.bucket, Key=f"{storage.prefix}/{key}")
    assert head["ContentType"] == record["mime_type"]
    assert not any(k.startswith(".tmp/") for k in stored(client))
    assert stored_files(s3_settings.media_dir) == []  # nothing on the local disk


def test_truncated_upload_is_refused_and_leaves_nothing_in_the_store(
    client: TestClient, media_files: dict[str, Path], tmp_path: Path
) -> None:
    cut = truncate(media_files["video.webm"], tmp_path / "cut.webm", 0.6)
    response = upload(client, cut)
    assert response.status_code == 422, response.text
    assert stored(client) == [] and uploads(storage_of(client)) == []


def test_not_media_is_refused_and_leaves_nothing_in_the_store(
    client: TestClient, tmp_path: Path
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"just some text, not a clip\n" * 100)
    assert upload(client, text).status_code == 415
    assert stored(client) == []


@pytest.fixture
def clip(client: TestClient, media_files: dict[str, Path]) -> dict[str, Any]:
    response = upload(client, media_files["moov-at-end.mp4"], title="Stored")
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def test_stream_serves_ranges_and_conditions_from_the_store(
    client: TestClient, clip: dict[str, Any], media_files: dict[str, Path]
) -> None:
    data = media_files["moov-at-end.mp4"].read_bytes()
    url = clip["urls"]["stream"]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    tail = client.get(url, headers={"Range": "bytes=-1000"})
    assert tail.status_code == 206 and tail.content == data[-1000:]
    assert tail.headers["content-range"] == f"bytes {len(data) - 1000}-{len(data) - 1}/{len(data)}"
    several = client.get(url, headers={"Range": "bytes=0-9,100-199"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert data[100:200] in several.content
    etag = whole.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    past = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(data)


def test_download_names_the_file(client: TestClient, clip: dict[str, Any]) -> None:
    response = client.get(clip["urls"]["stream"] + "?download=1")
    assert response.headers["content-disposition"] == 'attachment; filename="Stored.mp4"'


def test_poster_is_rendered_from_the_store_and_kept_there(
    client: TestClient, clip: dict[str, Any]
) -> None:
    response = client.get(clip["urls"]["poster"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content.startswith(b"\xff\xd8")
    assert f"{clip['id']}/poster.jpg" in stored(client)
    again = client.get(clip["urls"]["poster"], headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_tracks_are_stored_served_and_shown_in_the_transcript(
    client: TestClient, clip: dict[str, Any]
) -> None:
    added = client.post(
        f"/api/media/{clip['id']}/tracks",
        files={"file": ("en.vtt", VTT)},
        data={"srclang": "en"},
    )
    assert added.status_code == 201, added.text
    track = client.get(added.json()["url"])
    assert track.status_code == 200 and b"Hello from the store" in track.content
    assert track.headers["content-type"] == "text/vtt; charset=utf-8"
    page = client.get(clip["urls"]["watch"])
    assert "Hello from the store" in page.text


def test_delete_removes_every_object_of_the_clip(client: TestClient, clip: dict[str, Any]) -> None:
    client.post(
        f"/api/media/{clip['id']}/tracks", files={"file": ("en.vtt", VTT)}, data={"srclang": "en"}
    )
    assert client.get(clip["urls"]["poster"]).status_code == 200
    names = sorted(key.rpartition("/")[2].partition("-")[0] for key in stored(client))
    assert names == ["original.mp4", "poster.jpg", "poster.small.jpg", "track"], names
    assert client.delete(clip["urls"]["api"]).status_code == 204
    assert stored(client) == []
    assert client.get(clip["urls"]["stream"]).status_code == 404


def test_object_gone_from_the_store_gives_404_not_500(
    client: TestClient, clip: dict[str, Any]
) -> None:
    storage = storage_of(client)
    storage.delete(f"{clip['id']}/original.mp4")
    response = client.get(clip["urls"]["stream"], headers={"Range": "bytes=0-99"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_healthz_checks_the_store(s3_settings: Settings) -> None:
    with TestClient(create_app(s3_settings)) as client:
        assert client.get("/healthz").json()["checks"]["storage"] is True
    from tests.e2e.conftest import free_port

    down = s3_settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(down)) as client:  # starts, its sweep put off
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["checks"]["storage"] is False


@pytest.fixture
def redirecting(s3_settings: Settings) -> Iterator[TestClient]:
    settings = s3_settings.model_copy(update={"s3_redirect": True, "s3_url_expiry": 60})
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def test_redirect_mode_sends_get_to_a_presigned_url_that_serves_the_bytes(
    redirecting: TestClient, media_files: dict[str, Path]
) -> None:
    data = media_files["video.webm"].read_bytes()
    record = upload(redirecting, media_files["video.webm"], title="Away").json()
    url = record["urls"]["stream"]
    response = redirecting.get(url, headers={"Range": "bytes=100-199"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "private, max-age=30"
    location = response.headers["location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=60" in location
    ranged = httpx.get(location, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == data[100:200]
    assert ranged.headers["content-type"] == "video/webm"
    assert httpx.get(location).content == data
    download = redirecting.get(url + "?download=1", follow_redirects=False).headers["location"]
    assert httpx.get(download).headers["content-disposition"] == 'attachment; filename="Away.webm"'
    # The same object without a signature: the bucket is not public.
    bare = location.split("?", 1)[0]
    assert httpx.get(bare).status_code == 403


def test_redirect_mode_answers_head_and_conditions_itself(
    redirecting: TestClient, media_files: dict[str, Path]
) -> None:
    record = upload(redirecting, media_files["audio.ogg"]).json()
    url = record["urls"]["stream"]
    head = redirecting.head(url, follow_redirects=False)
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == media_files["audio.ogg"].stat().st_size
    etag = head.headers["etag"]
    again = redirecting.get(url, headers={"If-None-Match": etag}, follow_redirects=False)
    assert again.status_code == 304
    past = redirecting.get(url, headers={"Range": "bytes=999999999-"}, follow_redirects=False)
    assert past.status_code == 416
    # Posters and tracks stay proxied: small, and same-origin for the player.
    assert redirecting.get(record["urls"]["poster"], follow_redirects=False).status_code == 200


def test_upload_while_the_store_is_down_is_503_not_500(
    s3_settings: Settings, media_files: dict[str, Path]
) -> None:
    from tests.e2e.conftest import free_port

    down = s3_settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(down), client=("127.0.0.1", 50000)) as client:
        response = upload(client, media_files["audio.ogg"])
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "60"


def test_redirects_point_at_the_public_endpoint_when_one_is_set(
    s3_settings: Settings, media_files: dict[str, Path], seaweedfs: SeaweedFS
) -> None:
    public = seaweedfs.endpoint.replace("127.0.0.1", "localhost")  # same store, another name
    settings = s3_settings.model_copy(
        update={"s3_redirect": True, "s3_public_endpoint_url": public}
    )
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        record = upload(client, media_files["audio.ogg"]).json()  # probed on the inner one
        location = client.get(record["urls"]["stream"], follow_redirects=False).headers["location"]
    assert location.startswith(public + "/")
    assert httpx.get(location).content == media_files["audio.ogg"].read_bytes()


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("list.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{url}\n#EXT-X-ENDLIST\n"),
        ("list.ffconcat", "ffconcat version 1.0\nfile '{url}'\n"),
    ],
)
def test_probing_over_http_fetches_nothing_an_upload_names(
    client: TestClient, name: str, template: str
) -> None:
    """In S3 mode ffprobe may speak HTTP (to read the presigned URL): a playlist naming
    another URL must still be refused without that URL being fetched."""
    import http.server
    import threading

    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder) as trap:
        threading.Thread(target=trap.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{trap.server_address[1]}/clip.wav"
        response = client.post(
            "/api/media", files={"file": (name, template.format(url=url).encode())}
        )
        trap.shutdown()
    assert response.status_code == 415, response.text
    assert hits == [] and stored(client) == []


def test_redirect_mode_hands_off_a_private_clip_only_when_signed(
    s3_settings: Settings, media_files: dict[str, Path]
) -> None:
    """The presigned redirect is a hand-off past which nothing is checked: a private clip's
    stream and poster are judged (token or signed URL) before it, else 404 as unknown."""
    settings = s3_settings.model_copy(
        update={"s3_redirect": True, "signing_keys": SecretStr("k" * 32)}
    )
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        record = upload(client, media_files["audio.ogg"], visibility="private").json()
        stream = f"/media/{record['id']}/stream"
        for method in ("GET", "HEAD"):
            refused = client.request(method, stream, follow_redirects=False)
            assert refused.status_code == 404 and "location" not in refused.headers
        assert client.get(f"/media/{record['id']}/poster").status_code == 404
        urls = client.post(f"/api/media/{record['id']}/signed-url", json={"ttl": 60}).json()
        path = urls["stream"].removeprefix("http://testserver")
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 307
        location = response.headers["location"]
        assert httpx.get(location).content == media_files["audio.ogg"].read_bytes()
