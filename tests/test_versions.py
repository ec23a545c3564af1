"""Versions of a clip (described, sign): stored, refused, listed, served, removed; pages."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import MEDIA_CACHE, stored_files, wait_processed
from tests.media import ffmpeg
from tests.test_api_s3 import stored

LENGTH = 10
TINY = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", "30k"]
SOURCES: dict[str, list[str]] = {
    # The programme: a test pattern and a 440 Hz tone.
    "clip.mp4": ["-f", "lavfi", "-i", f"testsrc2=size=96x54:rate=10:duration={LENGTH}",
                 "-f", "lavfi", "-i", f"sine=frequency=440:duration={LENGTH}",
                 *TINY, "-c:a", "aac", "-b:a", "24k", "-shortest"],
    # The same length with a different tone mixed in: the described version.
    "described.mp4": ["-f", "lavfi", "-i", f"testsrc2=size=96x54:rate=10:duration={LENGTH}",
                      "-f", "lavfi", "-i", f"sine=frequency=660:duration={LENGTH}",
                      *TINY, "-c:a", "aac", "-b:a", "24k", "-shortest"],
    # Four seconds too long: past both 2% and 2 s.
    "long.mp4": ["-f", "lavfi", "-i", f"testsrc2=size=96x54:rate=10:duration={LENGTH + 4}",
                 "-f", "lavfi", "-i", f"sine=frequency=660:duration={LENGTH + 4}",
                 *TINY, "-c:a", "aac", "-b:a", "24k", "-shortest"],
    # The interpreter: another test pattern, no sound.
    "sign.mp4": ["-f", "lavfi", "-i", f"smptebars=size=64x48:rate=10:duration={LENGTH}",
                 *TINY, "-an"],
    # One browsers cannot play (MPEG-4 Part 2 in AVI): the jobs make a web copy.
    "sign.avi": ["-f", "lavfi", "-i", f"smptebars=size=64x48:rate=10:duration={LENGTH}",
                 "-c:v", "mpeg4", "-q:v", "10", "-an"],
    "tone.m4a": ["-f", "lavfi", "-i", f"sine=frequency=660:duration={LENGTH}",
                 "-c:a", "aac", "-b:a", "24k"],
}  # fmt: skip


@pytest.fixture(scope="session")
def files() -> dict[str, Path]:
    directory = MEDIA_CACHE / "versions"
    directory.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, args in SOURCES.items():
        target = made[name] = directory / name
        if not target.exists():
            ffmpeg(*args, str(directory / f"partial-{name}"))
            (directory / f"partial-{name}").rename(target)
    (directory / "notes.mp4").write_bytes(b"These are meeting notes, not a video.\n" * 50)
    made["notes.mp4"] = directory / "notes.mp4"
    return made


def post_clip(client: TestClient, path: Path) -> dict[str, Any]:
    with path.open("rb") as body:
        response = client.post("/api/media", files={"file": (path.name, body)})
    assert response.status_code == 201, response.text
    return wait_processed(client, response.json()["id"])


def post_version(client: TestClient, media_id: str, path: Path, role: str) -> Any:
    with path.open("rb") as body:
        return client.post(
            f"/api/media/{media_id}/versions",
            files={"file": (path.name, body)},
            data={"role": role},
        )


@pytest.fixture
def clip(client: TestClient, files: dict[str, Path]) -> dict[str, Any]:
    return post_clip(client, files["clip.mp4"])


def test_described_version_is_recorded_listed_and_served_with_ranges(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path]
) -> None:
    response = post_version(client, clip["id"], files["described.mp4"], "described")
    assert response.status_code == 201, response.text
    version = response.json()
    url = f"http://testserver/media/{clip['id']}/versions/described"
    assert version["role"] == "described" and version["url"] == url
    assert version["size"] == files["described.mp4"].stat().st_size
    assert abs(version["duration"] - LENGTH) < 0.2 and version["duration_text"] == "0:10"
    assert client.get(f"/api/media/{clip['id']}").json()["versions"] == [version]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == files["described.mp4"].read_bytes()
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    etag = whole.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    head = client.head(url)
    assert head.status_code == 200 and head.headers["accept-ranges"] == "bytes"
    assert client.get(url, headers={"Range": "bytes=999999999-"}).status_code == 416


def test_mismatched_duration_is_refused_naming_both_durations(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path], settings: Settings
) -> None:
    before = stored_files(settings.media_dir)
    response = post_version(client, clip["id"], files["long.mp4"], "described")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "0:14" in detail and "0:10" in detail, detail
    assert stored_files(settings.media_dir, temp=False) == before
    assert client.get(f"/api/media/{clip['id']}").json()["versions"] == []


def test_not_media_is_415_and_nothing_is_kept(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path], settings: Settings
) -> None:
    before = stored_files(settings.media_dir)
    response = post_version(client, clip["id"], files["notes.mp4"], "sign")
    assert response.status_code == 415, response.text
    assert stored_files(settings.media_dir, temp=False) == before


@pytest.mark.parametrize(
    ("name", "role", "words"),
    [("tone.m4a", "sign", "must be a video"), ("tone.m4a", "described", "must be video too"),
     ("sign.mp4", "subtitles", "`described`")],
)  # fmt: skip
def test_unfit_versions_are_422(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path], name: str, role: str,
    words: str, settings: Settings,
) -> None:  # fmt: skip
    before = stored_files(settings.media_dir)
    response = post_version(client, clip["id"], files[name], role)
    assert response.status_code == 422 and words in response.json()["detail"]
    assert stored_files(settings.media_dir, temp=False) == before


def test_a_new_version_replaces_the_old_one_and_its_file(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path], settings: Settings
) -> None:
    assert post_version(client, clip["id"], files["clip.mp4"], "described").status_code == 201
    first = set(stored_files(settings.media_dir))
    assert post_version(client, clip["id"], files["described.mp4"], "described").status_code == 201
    now = set(stored_files(settings.media_dir))
    assert len(now) == len(first) and now != first
    served = client.get(f"/media/{clip['id']}/versions/described").content
    assert served == files["described.mp4"].read_bytes()


def test_delete_a_version_then_the_clip_removes_every_file(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path], settings: Settings
) -> None:
    media_id = clip["id"]
    assert post_version(client, media_id, files["described.mp4"], "described").status_code == 201
    assert post_version(client, media_id, files["sign.mp4"], "sign").status_code == 201
    roles = [v["role"] for v in client.get(f"/api/media/{media_id}").json()["versions"]]
    assert roles == ["described", "sign"]
    assert client.delete(f"/api/media/{media_id}/versions/sign").status_code == 204
    assert client.get(f"/media/{media_id}/versions/sign").status_code == 404
    assert client.delete(f"/api/media/{media_id}/versions/sign").status_code == 404
    assert len(client.get(f"/api/media/{media_id}").json()["versions"]) == 1
    assert client.delete(f"/api/media/{media_id}").status_code == 204
    assert stored_files(settings.media_dir, temp=False) == []
    assert client.get(f"/media/{media_id}/versions/described").status_code == 404


def test_unplayable_version_gets_a_web_copy_from_the_jobs(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path]
) -> None:
    response = post_version(client, clip["id"], files["sign.avi"], "sign")
    assert response.status_code == 201, response.text
    version = wait_for_version(client, clip["id"], lambda v: v["mime_type"] == "video/mp4")
    served = client.get(version["url"], headers={"Range": "bytes=0-11"})
    assert served.status_code == 206 and served.content[4:8] == b"ftyp"


def wait_for_version(client: TestClient, media_id: str, done: Any) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        [version] = client.get(f"/api/media/{media_id}").json()["versions"]
        if done(version):
            return version  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"the version never got its web copy: {version}")


def test_writes_follow_the_one_rule(
    tmp_path: Path, files: dict[str, Path], settings: Settings
) -> None:
    token = Settings(media_dir=tmp_path / "t", api_token="s3cret", probe_timeout=20)
    with TestClient(create_app(token), client=("127.0.0.1", 1)) as client:
        client.headers["Authorization"] = "Bearer s3cret"
        media_id = post_clip(client, files["clip.mp4"])["id"]
        del client.headers["Authorization"]
        assert post_version(client, media_id, files["sign.mp4"], "sign").status_code == 401
        client.headers["Authorization"] = "Bearer s3cret"
        client.headers["Origin"] = "https://elsewhere.example"
        assert post_version(client, media_id, files["sign.mp4"], "sign").status_code == 403
        assert client.delete(f"/api/media/{media_id}/versions/sign").status_code == 403
        del client.headers["Origin"]
        assert post_version(client, media_id, files["sign.mp4"], "sign").status_code == 201
    with TestClient(create_app(settings), client=("203.0.113.9", 1)) as remote:
        assert remote.delete(f"/api/media/{media_id}/versions/sign").status_code == 403


def test_pages_link_the_versions_and_the_embed_starts_described(
    client: TestClient, clip: dict[str, Any], files: dict[str, Path]
) -> None:
    media_id = clip["id"]
    assert "amps-sign" not in client.get(f"/media/{media_id}").text
    post_version(client, media_id, files["described.mp4"], "described")
    post_version(client, media_id, files["sign.mp4"], "sign")
    described = f"http://testserver/media/{media_id}/versions/described"
    sign = f"http://testserver/media/{media_id}/versions/sign"
    watch = client.get(f"/media/{media_id}").text
    assert f'<a href="{described}">Described version</a>' in watch
    assert f'<a href="{sign}">Sign language video</a>' in watch
    assert 'data-control="sign"' in watch
    assert f'<source src="http://testserver/media/{media_id}/stream"' in watch
    embed = client.get(f"/embed/{media_id}", params={"described": "1", "lang": "es"}).text
    assert f'<source src="{described}"' in embed and "Versión audiodescrita" in embed
    assert f'<a href="{sign}">Vídeo en lengua de signos</a>' in embed


@pytest.fixture
def s3_client(s3_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(s3_settings), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def test_versions_live_in_the_object_store_too(
    s3_client: TestClient, files: dict[str, Path]
) -> None:
    media_id = post_clip(s3_client, files["clip.mp4"])["id"]
    response = post_version(s3_client, media_id, files["sign.mp4"], "sign")
    assert response.status_code == 201, response.text
    assert any("version-sign" in key for key in stored(s3_client))
    part = s3_client.get(response.json()["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == files["sign.mp4"].read_bytes()[:100]
    long = post_version(s3_client, media_id, files["long.mp4"], "described")
    assert long.status_code == 422
    assert s3_client.delete(f"/api/media/{media_id}").status_code == 204
    assert stored(s3_client) == []
