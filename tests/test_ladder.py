"""The rendition ladder: made by the clip's job from a real 33 s 720p clip, listed in its record,
played over HLS byte-range playlists built from each file's index, served by the stream fast
path, removed with the clip. Keyframes checked with ffprobe."""

import json
import math
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.media.ladder import rungs_for
from tests import media
from tests.conftest import MEDIA_CACHE

NAMES = ["240p", "360p", "720p", "audio"]
BYTERANGE = re.compile(r"#EXT-X-BYTERANGE:(\d+)@(\d+)")
EXTINF = re.compile(r"#EXTINF:([\d.]+),")
SIGNING_KEY = "ladder-signing-key-of-at-least-32-characters"


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ladder") / "media"


@pytest.fixture(scope="module")
def client(media_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        media_dir=media_dir,
        probe_timeout=30,
        stream_cache_seconds=5,
        automatic_captions=False,
        signing_keys=SIGNING_KEY,  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def upload(client: TestClient, path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post("/api/media", files={"file": (path.name, handle)})
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def wait_for(client: TestClient, media_id: str, done: Any, timeout: float = 150) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = client.get(f"/api/media/{media_id}").json()
        if done(record) or time.monotonic() > deadline:
            return record
        time.sleep(0.3)


@pytest.fixture(scope="module")
def clip(client: TestClient) -> dict[str, Any]:
    """The 720p clip, once its ladder is recorded."""
    record = upload(client, media.ladder_clip(MEDIA_CACHE))
    record = wait_for(client, record["id"], lambda r: r["renditions"])
    assert record["status"] == "ready", record
    assert [r["name"] for r in record["renditions"]] == NAMES, record
    return record


def local_file(media_dir: Path, media_id: str, name: str) -> Path:
    file = "audio.m4a" if name == "audio" else f"{name}.mp4"
    return media_dir / media_id[:2] / media_id / f"rendition-{file}"


def playlist_ranges(text: str) -> tuple[tuple[int, int], list[tuple[int, int]], list[float]]:
    """(init offset, length), the segments' (offset, length), their durations."""
    init = re.search(r'#EXT-X-MAP:URI="[^"]+",BYTERANGE="(\d+)@(\d+)"', text)
    assert init is not None, text
    ranges = [(int(offset), int(length)) for length, offset in BYTERANGE.findall(text)]
    return (int(init[2]), int(init[1])), ranges, [float(d) for d in EXTINF.findall(text)]


def keyframe_times(path: Path) -> list[float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts_time,flags", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [float(t) for t, flags in (line.split(",")[:2] for line in out.split()) if "K" in flags]


def test_which_clips_get_a_ladder() -> None:
    assert [r.name for r in rungs_for("video", 1920, 1080, 60)] == ["240p", "360p", "720p"]
    assert [r.name for r in rungs_for("video", 854, 480, 60)] == ["240p", "360p"]
    assert rungs_for("video", 640, 360, 600) == []  # 360p or less: nothing to gain
    assert rungs_for("video", 1280, 720, 29.9) == []  # too short
    assert rungs_for("audio", None, None, 600) == []


def test_the_record_lists_the_ladder(client: TestClient, clip: dict[str, Any]) -> None:
    base = "http://testserver"
    assert clip["urls"]["hls"] == f"{base}/media/{clip['id']}/hls/master.m3u8"
    heights = {r["name"]: r["height"] for r in clip["renditions"]}
    assert heights == {"240p": 240, "360p": 360, "720p": 720, "audio": None}
    for rendition in clip["renditions"]:
        response = client.get(rendition["url"])
        assert response.status_code == 200
        assert len(response.content) == rendition["size"]
        assert rendition["bitrate"] > 0
        assert response.headers["content-type"] == rendition["mime_type"]
    sizes = [r["bitrate"] for r in clip["renditions"][:3]]
    assert sizes == sorted(sizes), "each rung is bigger than the one below"
    # The original plays in browsers: the ladder is no web copy of it.
    assert clip["urls"]["playable"].endswith("/stream")


def test_short_clips_have_no_ladder(client: TestClient, tmp_path: Path) -> None:
    short = tmp_path / "short-720p.mp4"
    source = "testsrc=size=1280x720:rate=5:duration=4"
    media.ffmpeg("-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "ultrafast", str(short))
    small = upload(client, short)
    record = wait_for(client, small["id"], lambda r: r["status"] != "processing")
    assert record["status"] == "ready"
    assert record["renditions"] == [] and record["urls"]["hls"] is None
    response = client.get(f"/media/{small['id']}/hls/master.m3u8")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_master_playlist(client: TestClient, clip: dict[str, Any]) -> None:
    response = client.get(clip["urls"]["hls"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "max-age" in response.headers["cache-control"]
    lines = response.text.splitlines()
    assert lines[0] == "#EXTM3U"
    variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert [line for line in lines if line.endswith(".m3u8")] == [
        "240p.m3u8",
        "360p.m3u8",
        "720p.m3u8",
    ]
    assert "RESOLUTION=1280x720" in variants[2] and 'CODECS="avc1.64' in variants[2]
    bandwidths = [int(re.search(r"BANDWIDTH=(\d+)", v)[1]) for v in variants]  # type: ignore[index]
    assert bandwidths == sorted(bandwidths)
    again = client.get(clip["urls"]["hls"], headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    head = client.head(clip["urls"]["hls"])
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(response.content)
    preflight = client.options(clip["urls"]["hls"])
    assert preflight.status_code == 204


@pytest.mark.parametrize("name", NAMES)
def test_media_playlist_ranges_are_the_file(
    client: TestClient, clip: dict[str, Any], media_dir: Path, name: str
) -> None:
    base = f"/media/{clip['id']}"
    response = client.get(f"{base}/hls/{name}.m3u8")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    text = response.text
    assert text.startswith("#EXTM3U\n") and text.rstrip().endswith("#EXT-X-ENDLIST")
    uri = f"../renditions/{'audio.m4a' if name == 'audio' else name + '.mp4'}"
    assert all(line == uri for line in text.splitlines() if not line.startswith("#"))
    (init_at, init_length), ranges, durations = playlist_ranges(text)
    assert init_at == 0 and len(ranges) == len(durations) >= 16
    at = init_length
    for offset, length in ranges:  # contiguous from the init data on
        assert offset == at
        at += length
    data = local_file(media_dir, clip["id"], name).read_bytes()
    assert at <= len(data)
    # Every range, as HLS clients ask for it, is that slice of the file; the file's own
    # init data starts with ftyp and each segment with a fragment (moof).
    url = f"{base}/renditions/{uri.rpartition('/')[2]}"
    for offset, length in [(0, init_length), *ranges]:
        got = client.get(url, headers={"range": f"bytes={offset}-{offset + length - 1}"})
        assert got.status_code == 206
        assert got.content == data[offset : offset + length]
    assert data[4:8] == b"ftyp" and all(
        data[o + 4 : o + 8] in (b"moof", b"styp") for o, _ in ranges
    )
    assert math.isclose(sum(durations), clip["duration"], abs_tol=0.1)
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text)[1])  # type: ignore[index]
    assert target >= max(durations) - 0.5


def test_every_segment_starts_with_a_keyframe_at_the_same_times(
    client: TestClient, clip: dict[str, Any], media_dir: Path
) -> None:
    starts = []
    for name in NAMES[:3]:
        text = client.get(f"/media/{clip['id']}/hls/{name}.m3u8").text
        durations = playlist_ranges(text)[2]
        segment_starts = [round(sum(durations[:i]), 2) for i in range(len(durations))]
        # Presentation times start after the B-frame delay: counted from the first keyframe.
        times = keyframe_times(local_file(media_dir, clip["id"], name))
        keyframes = [round(t - times[0], 2) for t in times]
        assert keyframes == segment_starts, name
        starts.append(segment_starts)
    assert starts[0] == starts[1] == starts[2]
    assert all(b - a == pytest.approx(2, abs=0.01) for a, b in zip(starts[0], starts[0][1:]))


def test_rendition_ranges_take_the_fast_path(
    client: TestClient, clip: dict[str, Any], media_dir: Path
) -> None:
    url = f"/media/{clip['id']}/renditions/360p.mp4"
    data = local_file(media_dir, clip["id"], "360p").read_bytes()
    for ask in ("bytes=1000-", "bytes=0-99"):
        client.app.state.open_files.forget(clip["id"])  # type: ignore[attr-defined]
        fast = client.get(url, headers={"range": ask})
        assert f"{clip['id']}/360p.mp4" in client.app.state.open_files.entries  # type: ignore[attr-defined]
        start, _, end = ask[6:].partition("-")
        assert fast.status_code == 206
        assert fast.content == data[int(start) : int(end) + 1 if end else None]
        # The route (no fast path) answers the same.
        settings = Settings(media_dir=media_dir, stream_cache_seconds=0)
        with TestClient(create_app(settings)) as route:
            slow = route.get(url, headers={"range": ask})
        assert slow.content == fast.content
        same = ("content-range", "content-type", "etag", "last-modified", "cache-control")
        assert {h: slow.headers[h] for h in same} == {h: fast.headers[h] for h in same}
    assert client.get(f"/media/{clip['id']}/renditions/1080p.mp4").status_code == 404


def test_a_private_clips_ladder_plays_only_signed(client: TestClient, clip: dict[str, Any]) -> None:
    """HLS players follow the playlists' URIs: from a signed master every playlist and file
    they name carries the signature, and nothing of the ladder answers without one."""
    base = f"/media/{clip['id']}"
    assert client.patch(f"/api/media/{clip['id']}", json={"visibility": "private"}).is_success
    try:
        signed = client.post(f"/api/media/{clip['id']}/signed-url", json={"ttl": 600}).json()
        query = urlsplit(signed["watch"]).query
        for path in (f"{base}/hls/master.m3u8", f"{base}/hls/360p.m3u8"):
            assert client.get(path).status_code == 404
        assert client.get(f"{base}/renditions/360p.mp4").status_code == 404
        master = client.get(f"{base}/hls/master.m3u8?{query}")
        assert master.status_code == 200 and "no-store" in master.headers["cache-control"]
        variants = [line for line in master.text.splitlines() if not line.startswith("#")]
        assert variants and all(v.startswith(f"{base}/hls/") and "sig=" in v for v in variants)
        playlist = client.get(variants[1])
        assert playlist.status_code == 200
        uris = [line for line in playlist.text.splitlines() if not line.startswith("#")]
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist.text)
        assert init is not None and init[1] == uris[0]
        assert set(uris) == {f"{base}/renditions/360p.mp4?{query}"}
        got = client.get(uris[0], headers={"range": "bytes=0-99"})
        assert got.status_code == 206 and len(got.content) == 100
    finally:
        client.patch(f"/api/media/{clip['id']}", json={"visibility": "public"})
    assert client.get(f"{base}/hls/360p.m3u8").text.count("../renditions/360p.mp4") >= 2


def test_ladder_files_probe_as_fragmented_h264_aac(clip: dict[str, Any], media_dir: Path) -> None:
    path = local_file(media_dir, clip["id"], "240p")
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout)  # fmt: skip
    codecs = sorted(s["codec_name"] for s in info["streams"])
    assert codecs == ["aac", "h264"]
    # One global index per track (ffmpeg's global_sidx), all before the first fragment: no
    # index box per fragment, as ffmpeg's HLS single-file output writes.
    boxes = top_level_boxes(path)
    first = boxes.index("moof")
    assert boxes[:2] == ["ftyp", "moov"] and set(boxes[2:first]) == {"sidx"}
    assert boxes[first:].count("sidx") == 0 and boxes.count("moof") >= 16
    # Fragments to the end, no `mfra` trailer: else Chromium reads the file's tail first.
    for name in ("240p", "audio"):
        assert top_level_boxes(local_file(media_dir, clip["id"], name))[-2:] == ["moof", "mdat"]


def top_level_boxes(path: Path) -> list[str]:
    data, at, kinds = path.read_bytes(), 0, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        kinds.append(data[at + 4 : at + 8].decode("latin-1"))
        at += size
    return kinds


def test_the_ladder_goes_with_the_clip(
    client: TestClient, clip: dict[str, Any], media_dir: Path
) -> None:
    """Last: it deletes the module's clip."""
    record = clip
    files = [local_file(media_dir, record["id"], name) for name in NAMES]
    assert all(f.exists() for f in files)
    assert client.delete(f"/api/media/{record['id']}").status_code == 204
    folder = media_dir / record["id"][:2] / record["id"]
    assert not folder.exists() or not any(folder.iterdir())
    assert client.get(f"/media/{record['id']}/renditions/240p.mp4").status_code == 404


def test_the_ladder_in_an_object_store(s3_settings: Settings) -> None:
    """On S3 (SeaweedFS): made from the object's URL, stored beside it, served, removed."""
    source = MEDIA_CACHE / "ladder-480p.mp4"
    if not source.exists():
        media.ffmpeg(
            "-f", "lavfi", "-i", "testsrc=size=854x480:rate=4:duration=31",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=31", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(source),
        )  # fmt: skip
    settings = s3_settings.model_copy(update={"automatic_captions": False})
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        record = upload(client, source)
        record = wait_for(client, record["id"], lambda r: r["renditions"])
        assert [r["name"] for r in record["renditions"]] == ["240p", "360p", "audio"]
        storage = client.app.state.library.storage  # type: ignore[attr-defined]
        keys = {f"{record['id']}/rendition-{n}" for n in ("240p.mp4", "360p.mp4", "audio.m4a")}
        keys |= {f"{record['id']}/hls-{n}.m3u8" for n in ("240p", "360p", "audio")}
        assert all(storage.exists(key) for key in keys)
        playlist = client.get(f"/media/{record['id']}/hls/360p.m3u8")
        assert playlist.status_code == 200 and "#EXT-X-BYTERANGE" in playlist.text
        (_, init_length), ranges, _ = playlist_ranges(playlist.text)
        offset, length = ranges[3]
        url = f"/media/{record['id']}/renditions/360p.mp4"
        got = client.get(url, headers={"range": f"bytes={offset}-{offset + length - 1}"})
        assert got.status_code == 206 and got.content[4:8] == b"moof"
        whole = storage.read_bytes(f"{record['id']}/rendition-360p.mp4")
        assert got.content == whole[offset : offset + length] and init_length < offset
        assert client.delete(f"/api/media/{record['id']}").status_code == 204
        assert not any(storage.exists(key) for key in keys)
