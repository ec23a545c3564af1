"""Background jobs through the app factory: renditions, posters, re-probes, failures, restarts.

Real ffmpeg and ffprobe; each test over SQLite (threads in the server) and PostgreSQL
(procrastinate, its worker run by the server) where the engine matters.
"""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.jobs.processing import DAMAGED, TOO_SLOW, Processor, TryAgain
from app.main import create_app
from app.media.renditions import browsers_play
from app.storage.local import LocalStorage
from tests.conftest import wait_processed
from tests.media import LENGTH, ffmpeg

NO_MEDIA = "No media source currently available"


@pytest.fixture
def job_settings(settings: Settings, database_url: str | None) -> Settings:
    return settings.model_copy(update={"database_url": database_url})


@pytest.fixture
def app_client(job_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(job_settings), client=("127.0.0.1", 50000)) as client:
        yield client


def post(client: TestClient, path: Path, **fields: str) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post("/api/media", files={"file": (path.name, handle)}, data=fields)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def ffprobe_codecs(path: Path) -> list[str]:
    report = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=format_name",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [s["codec_name"] for s in json.loads(report)["streams"]]


@pytest.mark.parametrize(
    ("mime_type", "codecs", "plays"),
    [
        ("video/mp4", ["h264", "aac"], True),
        ("video/webm", ["vp9", "opus"], True),
        ("audio/mpeg", ["mp3"], True),
        ("audio/wav", ["pcm_s16le"], True),
        ("video/x-msvideo", ["mpeg4", "mp3"], False),
        ("video/mp4", ["hevc", "aac"], False),
        ("video/mp4", ["mpeg4", "aac"], False),
        ("video/quicktime", ["h264", "aac"], False),
        ("video/x-matroska", ["h264", "ac3"], False),
        ("audio/aiff", ["pcm_s16be"], False),
        ("audio/mp4", [], False),
    ],
)
def test_browsers_play_decides_from_container_and_codecs(
    mime_type: str, codecs: list[str], plays: bool
) -> None:
    assert browsers_play(mime_type, codecs) is plays


def test_upload_needing_a_rendition_turns_ready_with_an_h264_aac_copy(
    app_client: TestClient, media_files: dict[str, Path], tmp_path: Path
) -> None:
    record = post(app_client, media_files["video.avi"], title="Old camera")
    assert record["status"] == "processing"
    assert record["urls"]["playable"] == record["urls"]["stream"]  # no copy yet
    watch = app_client.get(f"/media/{record['id']}").text
    assert 'data-state="processing"' in watch and "please wait" in watch

    ready = wait_processed(app_client, record["id"], timeout=120)
    assert ready["status"] == "ready", ready
    assert ready["status_reason"] is None
    assert ready["urls"]["playable"].endswith(f"/media/{record['id']}/playable")
    assert ready["playable_mime_type"] == "video/mp4"
    # The original stays as uploaded, for download.
    original = app_client.get(f"/media/{record['id']}/stream")
    assert original.headers["content-type"] == "video/x-msvideo"
    assert original.content == media_files["video.avi"].read_bytes()

    copy = app_client.get(f"/media/{record['id']}/playable")
    assert copy.status_code == 200 and copy.headers["content-type"] == "video/mp4"
    assert copy.headers["etag"].startswith('"') and "accept-ranges" in copy.headers
    saved = tmp_path / "copy.mp4"
    saved.write_bytes(copy.content)
    assert ffprobe_codecs(saved) == ["h264", "aac"]
    assert copy.content[4:8] == b"ftyp" and b"moov" in copy.content[:4096]  # +faststart
    ranged = app_client.get(f"/media/{record['id']}/playable", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.content == copy.content[:100]
    again = app_client.get(
        f"/media/{record['id']}/playable", headers={"If-None-Match": copy.headers["etag"]}
    )
    assert again.status_code == 304

    watch = app_client.get(f"/media/{record['id']}").text
    assert f'<source src="{ready["urls"]["playable"]}" type="video/mp4">' in watch
    assert f"/media/{record['id']}/stream?download=1" in watch


def test_audio_browsers_cannot_play_gets_an_aac_m4a(
    app_client: TestClient, media_files: dict[str, Path], tmp_path: Path
) -> None:
    aiff = tmp_path / "speech.aiff"
    ffmpeg("-i", str(media_files["audio.wav"]), "-c:a", "pcm_s16be", str(aiff))
    record = post(app_client, aiff)
    ready = wait_processed(app_client, record["id"], timeout=120)
    assert (ready["status"], ready["playable_mime_type"]) == ("ready", "audio/mp4")
    copy = tmp_path / "copy.m4a"
    copy.write_bytes(app_client.get(f"/media/{record['id']}/playable").content)
    assert ffprobe_codecs(copy) == ["aac"]


def test_a_clip_browsers_play_gets_no_copy(
    app_client: TestClient, media_files: dict[str, Path]
) -> None:
    record = post(app_client, media_files["video.webm"])
    ready = wait_processed(app_client, record["id"])
    assert ready["status"] == "ready"
    assert ready["urls"]["playable"] == ready["urls"]["stream"]
    assert app_client.get(f"/media/{record['id']}/playable").status_code == 404


def test_the_poster_job_stores_the_poster_before_anyone_asks(
    app_client: TestClient, job_settings: Settings, media_files: dict[str, Path]
) -> None:
    video = wait_processed(app_client, post(app_client, media_files["video.mp4"])["id"])
    audio = wait_processed(app_client, post(app_client, media_files["cbr.mp3"])["id"])
    storage = LocalStorage(job_settings.media_dir)
    assert storage.exists(f"{video['id']}/poster.jpg")
    assert storage.exists(f"{audio['id']}/poster.png")
    poster = app_client.get(video["urls"]["poster"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"


def wait_reprobed(client: TestClient, media_id: str) -> dict[str, Any]:
    """The record once a re-probe replaced the duration of 1.0 s written over the real one."""
    deadline = time.monotonic() + 60
    while True:
        record: dict[str, Any] = client.get(f"/api/media/{media_id}").json()
        if record["duration"] != 1.0 or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


def test_reprobe_puts_back_what_the_file_says(
    app_client: TestClient, media_files: dict[str, Path]
) -> None:
    record = wait_processed(app_client, post(app_client, media_files["video.mp4"])["id"])
    catalog = app_client.app.state.catalog  # type: ignore[attr-defined]
    catalog.record_processing(record["id"], duration=1.0, codecs=[], width=None)
    assert app_client.app.state.library.reprobe(record["id"])  # type: ignore[attr-defined]
    again = wait_reprobed(app_client, record["id"])
    assert abs(again["duration"] - LENGTH) < 0.1
    assert again["codecs"] == ["h264", "aac"] and again["width"] == 320
    assert again["status"] == "ready"


def test_reprobe_reads_a_clip_kept_in_an_object_store(
    s3_settings: Settings, media_files: dict[str, Path]
) -> None:
    with TestClient(create_app(s3_settings), client=("127.0.0.1", 50000)) as client:
        record = wait_processed(client, post(client, media_files["vbr-no-xing.mp3"])["id"])
        catalog = client.app.state.catalog  # type: ignore[attr-defined]
        catalog.record_processing(record["id"], duration=1.0, codecs=[], bitrate=None)
        assert client.app.state.library.reprobe(record["id"])  # type: ignore[attr-defined]
        again = wait_reprobed(client, record["id"])
    # Counted packet by packet over ranged reads: ffprobe alone says ~195 s for this file.
    assert abs(again["duration"] - LENGTH) < 0.1
    assert again["codecs"] == ["mp3"] and again["status"] == "ready"
    assert not list(s3_settings.media_dir.rglob("*.mp3"))  # read from the store, not a copy


def test_a_file_damaged_on_disk_ends_failed_with_a_reason_after_a_restart(
    job_settings: Settings, media_files: dict[str, Path]
) -> None:
    """Uploaded while no jobs run (AMPS_RUN_JOBS=0), damaged, then picked up at the next start."""
    idle = job_settings.model_copy(update={"run_jobs": False})
    with TestClient(create_app(idle), client=("127.0.0.1", 50000)) as client:
        record = post(client, media_files["video.mp4"])
    path = next(job_settings.media_dir.rglob("original.mp4"))
    with path.open("r+b") as file:
        file.seek(path.stat().st_size // 2)
        file.write(b"\0" * 4096)
    with TestClient(create_app(job_settings), client=("127.0.0.1", 50000)) as client:
        failed = wait_processed(client, record["id"])
        assert (failed["status"], failed["status_reason"]) == ("failed", DAMAGED)
        page = client.get(f"/media/{record['id']}").text
    assert NO_MEDIA in page and "no longer matches what was uploaded" in page
    assert 'data-state="failed"' in page


def test_a_job_out_of_time_is_tried_again_then_fails_with_a_reason(
    settings: Settings, media_files: dict[str, Path]
) -> None:
    idle = settings.model_copy(update={"run_jobs": False})
    with TestClient(create_app(idle), client=("127.0.0.1", 50000)) as client:
        record = post(client, media_files["video.avi"])
        library = client.app.state.library  # type: ignore[attr-defined]
        hurried = settings.model_copy(update={"transcode_timeout": 0.05})
        processor = Processor(hurried, library.catalog, library.storage)
        with pytest.raises(TryAgain):
            processor.run("process", record["id"], final=False)
        assert library.catalog.get(record["id"]).status == "processing"
        processor.run("process", record["id"], final=True)
        failed = client.get(f"/api/media/{record['id']}").json()
        assert (failed["status"], failed["status_reason"]) == ("failed", TOO_SLOW)
        assert not list((settings.media_dir / ".tmp").glob("*.part"))  # nothing half-written


def test_cli_reprobe_on_sqlite_does_the_work_itself(
    settings: Settings, media_files: dict[str, Path]
) -> None:
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        record = wait_processed(client, post(client, media_files["cbr.mp3"])["id"])
        client.app.state.catalog.record_processing(record["id"], duration=2.0)  # type: ignore[attr-defined]
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "reprobe", record["id"], "--media-dir",
         str(settings.media_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{record['id']}: ready" in done.stdout
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        again = client.get(f"/api/media/{record['id']}").json()
    assert abs(again["duration"] - LENGTH) < 0.1
