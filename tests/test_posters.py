"""Posters: rendered by real ffmpeg from uploaded clips, stored once, served with validators."""

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.media.posters import (
    MIN_RATE,
    SHORT_CLIP,
    WAVEFORM_SAMPLES,
    PosterError,
    envelope_rate,
    render_poster,
    waveform_graph,
)
from tests.conftest import stored_files, wait_processed
from tests.media import LADDER_LENGTH, LENGTH, ffmpeg, ladder_clip, truncate

PROBLEM = "application/problem+json"


def upload(client: TestClient, path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post("/api/media", files={"file": (path.name, handle)})
    assert response.status_code == 201, response.text
    record: dict[str, Any] = wait_processed(client, response.json()["id"])
    return record


def image_info(data: bytes, tmp_path: Path) -> dict[str, Any]:
    """Codec and size of an image, as ffprobe reads it."""
    path = tmp_path / "poster"
    path.write_bytes(data)
    report = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    stream: dict[str, Any] = json.loads(report.stdout)["streams"][0]
    return stream


@pytest.fixture
def video(client: TestClient, media_files: dict[str, Path]) -> dict[str, Any]:
    return upload(client, media_files["video.mp4"])


@pytest.fixture
def audio(client: TestClient, media_files: dict[str, Path]) -> dict[str, Any]:
    return upload(client, media_files["audio.wav"])


def test_video_poster_is_jpeg_of_the_clip_aspect(
    client: TestClient, video: dict[str, Any], tmp_path: Path
) -> None:
    response = client.get(video["urls"]["poster"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    info = image_info(response.content, tmp_path)
    assert info["codec_name"] == "mjpeg"
    assert (info["width"], info["height"]) == (video["width"], video["height"])


def test_audio_poster_is_waveform_png(
    client: TestClient, audio: dict[str, Any], tmp_path: Path
) -> None:
    response = client.get(audio["urls"]["poster"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    info = image_info(response.content, tmp_path)
    assert (info["codec_name"], info["width"], info["height"]) == ("png", 1280, 360)


def test_poster_cache_headers(client: TestClient, video: dict[str, Any]) -> None:
    response = client.get(video["urls"]["poster"])
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.headers["etag"].startswith('"')


def test_second_request_served_from_storage(
    client: TestClient, settings: Settings, video: dict[str, Any]
) -> None:
    first = client.get(video["urls"]["poster"])
    stored = [p for p in stored_files(settings.media_dir) if p.name == "poster.jpg"]
    assert len(stored) == 1
    modified = stored[0].stat().st_mtime_ns
    second = client.get(video["urls"]["poster"])
    assert second.headers["etag"] == first.headers["etag"]
    assert second.content == first.content == stored[0].read_bytes()
    assert stored[0].stat().st_mtime_ns == modified


def test_if_none_match_304(client: TestClient, audio: dict[str, Any]) -> None:
    etag = client.get(audio["urls"]["poster"]).headers["etag"]
    response = client.get(audio["urls"]["poster"], headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_head_poster(client: TestClient, video: dict[str, Any]) -> None:
    response = client.head(video["urls"]["poster"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert int(response.headers["content-length"]) > 0


def test_concurrent_first_requests_leave_one_good_poster(
    client: TestClient, settings: Settings, video: dict[str, Any], tmp_path: Path
) -> None:
    library = client.app.state.library  # type: ignore[attr-defined]
    media = library.catalog.get(video["id"])
    with ThreadPoolExecutor(max_workers=3) as pool:
        keys = set(pool.map(lambda _: library.poster_key(media), range(3)))
    assert len(keys) == 1
    poster = library.storage.read_bytes(keys.pop())
    assert image_info(poster, tmp_path)["codec_name"] == "mjpeg"
    names = sorted(p.name for p in stored_files(settings.media_dir))
    assert names == ["original.mp4", "poster.jpg", "poster.small.jpg"]  # the job made both


def test_small_poster_is_a_lighter_still_of_the_same_frame(
    media_files: dict[str, Path], tmp_path: Path
) -> None:
    """What embeds show first: at most 640 px wide, the clip's aspect, a fraction of the bytes."""
    source = ladder_clip(media_files["video.mp4"].parent)  # 1280x720
    full, small = tmp_path / "full.jpg", tmp_path / "small.jpg"
    render_poster(source, "video", LADDER_LENGTH, full, timeout=20)
    render_poster(source, "video", LADDER_LENGTH, small, timeout=20, size="small")
    assert image_info(full.read_bytes(), tmp_path)["width"] == 1280
    info = image_info(small.read_bytes(), tmp_path)
    assert (info["codec_name"], info["width"], info["height"]) == ("mjpeg", 640, 360)
    assert small.stat().st_size < full.stat().st_size / 2  # 0.27 on a detailed frame


def test_poster_sizes_are_served_and_go_with_the_clip(
    client: TestClient, settings: Settings, video: dict[str, Any], audio: dict[str, Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    small = client.get(video["urls"]["poster"], params={"size": "small"})
    assert small.status_code == 200 and small.headers["content-type"] == "image/jpeg"
    assert small.content != client.get(video["urls"]["poster"]).content
    assert image_info(small.content, tmp_path)["width"] == video["width"]  # never enlarged
    waveform = client.get(audio["urls"]["poster"], params={"size": "small"})
    assert waveform.content == client.get(audio["urls"]["poster"]).content  # one size
    refused = client.get(video["urls"]["poster"], params={"size": "huge"})
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert client.delete(f"/api/media/{video['id']}").status_code == 204
    assert not [p for p in stored_files(settings.media_dir) if video["id"] in str(p)]


def test_openapi_get_and_head_poster(client: TestClient) -> None:
    operations = client.get("/openapi.json").json()["paths"]["/media/{media_id}/poster"]
    assert (operations["get"]["operationId"], operations["head"]["operationId"]) == (
        "get_poster",
        "head_poster",
    )


def test_unknown_clip_404(client: TestClient) -> None:
    response = client.get(f"/media/{'A' * 22}/poster")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_missing_source_file_404(
    client: TestClient, settings: Settings, video: dict[str, Any]
) -> None:
    for path in stored_files(settings.media_dir):
        path.unlink()
    response = client.get(video["urls"]["poster"])
    assert response.status_code == 404
    assert "not available" in response.json()["detail"]


def test_render_failure_404_stores_nothing(
    client: TestClient, settings: Settings, video: dict[str, Any]
) -> None:
    for path in stored_files(settings.media_dir):
        if path.name.startswith("poster."):  # made in the background after the upload
            path.unlink()
    [original] = stored_files(settings.media_dir)
    original.write_bytes(b"no longer a video")
    response = client.get(video["urls"]["poster"])
    assert response.status_code == 404
    assert response.json()["detail"].startswith("No poster could be made")
    assert stored_files(settings.media_dir) == [original]


def test_render_still_past_the_video_end_uses_first_frame(
    media_files: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "still.jpg"
    render_poster(media_files["video.webm"], "video", LENGTH * 20, target, timeout=20)
    assert image_info(target.read_bytes(), tmp_path)["width"] == 160


def test_render_truncated_audio_still_draws(media_files: dict[str, Path], tmp_path: Path) -> None:
    source = truncate(media_files["cbr.mp3"], tmp_path / "half.mp3")
    target = tmp_path / "wave.png"
    render_poster(source, "audio", LENGTH, target, timeout=20)
    assert target.stat().st_size > 0


def test_render_timeout_kills_ffmpeg(media_files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(PosterError, match="took too long"):
        render_poster(media_files["audio.wav"], "audio", LENGTH, tmp_path / "w.png", 0.01)


@pytest.mark.parametrize("minutes", [2, 93, 180, 22 * 60])
def test_long_waveform_is_drawn_from_a_bounded_envelope(minutes: int) -> None:
    rate = envelope_rate(minutes * 60)
    assert rate is not None
    graph = waveform_graph(minutes * 60)
    # The last resampling before showwavespic sets what it keeps: a fixed number of samples.
    assert f"aresample={rate},aeval=sqrt" in graph
    assert graph.index(f"aresample={rate}") < graph.index("showwavespic")
    assert 1280 <= rate * minutes * 60 <= WAVEFORM_SAMPLES


def test_a_days_waveform_still_takes_a_few_samples_a_second() -> None:
    assert envelope_rate(7 * 24 * 3600) == MIN_RATE


def test_short_waveform_draws_every_sample_up_to_a_bound() -> None:
    assert envelope_rate(SHORT_CLIP) is None
    graph = waveform_graph(LENGTH / 10)
    assert "aresample" not in graph
    # Even when the file lasts longer than the probe said.
    assert graph.index(f"atrim=end={2 * SHORT_CLIP:g},") < graph.index("showwavespic")


def peak_rss_of_ffmpeg_child(render: threading.Thread) -> int:
    """VmHWM (peak resident bytes since exec) of the ffmpeg `render` runs, read till it ends."""
    peak = 0
    me = psutil.Process()
    while render.is_alive():
        for child in me.children():
            try:
                if child.name() == "ffmpeg":
                    status = Path(f"/proc/{child.pid}/status").read_text()
                    kb = next(line for line in status.splitlines() if line.startswith("VmHWM"))
                    peak = max(peak, int(kb.split()[1]) * 1024)
            except (psutil.NoSuchProcess, FileNotFoundError, StopIteration):
                continue
        time.sleep(0.005)
    return peak


def waveform_peak_rss(source: Path, duration: float, target: Path) -> int:
    render = threading.Thread(target=render_poster, args=(source, "audio", duration, target, 60))
    render.start()
    peak = peak_rss_of_ffmpeg_child(render)
    render.join()
    assert target.stat().st_size > 0
    return peak


def test_waveform_memory_does_not_grow_with_the_clip(tmp_path: Path) -> None:
    # An hour of 16 kHz mono: every sample kept would be 115 MB of s16 in ffmpeg.
    hour = tmp_path / "hour.wav"
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=r=16000:d=3600:a=0.5", "-c:a", "pcm_s16le", str(hour))
    short = tmp_path / "short.wav"
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=r=16000:d=10:a=0.5", "-c:a", "pcm_s16le", str(short))
    base = waveform_peak_rss(short, 10, tmp_path / "short.png")
    long = waveform_peak_rss(hour, 3600, tmp_path / "hour.png")
    print(f"ffmpeg peak RSS: 10 s {base / 2**20:.0f} MB, 1 h {long / 2**20:.0f} MB")
    assert base > 0
    assert long < base + 30 * 2**20
