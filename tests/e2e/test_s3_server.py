"""A real `amps serve` process over a real SeaweedFS: big uploads stream through in bounded
memory, and a client hanging up or a crash leaves no object and no multipart upload."""

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import s3_environment
from tests.e2e.conftest import Server, free_port
from tests.e2e.test_server import wait_for
from tests.seaweed import BUCKET, SeaweedFS
from tests.streamed_upload import MIB, PeakRss, multipart_body

BIG = 120 * MIB
# What the server may grow by while a file of any size passes through: 8 MiB parts, 4 in
# flight, read buffers and the probe; a server holding the file would grow by BIG.
RSS_BOUND = 90 * MIB


@pytest.fixture
def s3_server(tmp_path: Path, seaweedfs: SeaweedFS) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env |= s3_environment(seaweedfs) | {"AMPS_MAX_UPLOAD_BYTES": str(BIG + MIB)}
    running = Server(media_dir=tmp_path / "media", port=free_port(), env=env)
    running.start()
    yield running
    running.stop()


def prefix_of(server: Server) -> str:
    return server.env["AMPS_STORAGE_URL"].removeprefix(f"s3://{BUCKET}/") + "/"


def objects(weed: SeaweedFS, server: Server) -> list[str]:
    found = weed.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix_of(server))
    return sorted(o["Key"] for o in found.get("Contents", []))


def uploads(weed: SeaweedFS, server: Server) -> list[dict[str, Any]]:
    found = weed.client().list_multipart_uploads(Bucket=BUCKET, Prefix=prefix_of(server))
    return list(found.get("Uploads", []))


@pytest.fixture(scope="session")
def big_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 120 MiB of uncompressed 720p video in Matroska: made in seconds, probes as video."""
    target = tmp_path_factory.mktemp("big") / "big.mkv"
    frames = BIG // (1280 * 720 * 3 // 2)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-frames:v", str(frames), "-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(target)],
        check=True,
    )  # fmt: skip
    return target


def test_big_upload_streams_into_the_store_in_bounded_memory(
    s3_server: Server, seaweedfs: SeaweedFS, big_video: Path, tmp_path: Path
) -> None:
    assert s3_server.process is not None
    # A small upload first: what the first upload loads once (the S3 clients, the probe's
    # modules) is not growth with the file's size.
    small = tmp_path / "small.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(big_video), "-frames:v", "5", "-c", "copy", str(small)],
        check=True,
    )  # fmt: skip
    warm_body, warm_length = multipart_body(small, "amps-small", "small.mkv")
    warm_headers = {"Content-Type": "multipart/form-data; boundary=amps-small"}
    warm = httpx.post(
        f"{s3_server.url}/api/media",
        content=warm_body,
        headers=warm_headers | {"Content-Length": str(warm_length)},
        timeout=60,
    )
    assert warm.status_code == 201, warm.text
    body, length = multipart_body(big_video, "amps-big", "big.mkv", "video/x-matroska")
    headers = {"Content-Type": "multipart/form-data; boundary=amps-big"}
    headers["Content-Length"] = str(length)
    # The clip's web-playable job starts its ffmpeg (x264 at 720p: 50-110 MiB, bounded by the
    # encoder, not by the file) as soon as the record exists, before the answer reaches us:
    # that is background work, not the upload, so it is left out (ffprobe, the probe, is not).
    with PeakRss(s3_server.process.pid, leave_out=("ffmpeg",)) as rss:
        response = httpx.post(
            f"{s3_server.url}/api/media", content=body, headers=headers, timeout=300
        )
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["size"] == big_video.stat().st_size and record["kind"] == "video"
    growth = rss.peak - rss.start
    assert growth < RSS_BOUND, f"the server grew by {growth / MIB:.0f} MiB"
    assert f"{prefix_of(s3_server)}{record['id']}/original.mkv" in objects(seaweedfs, s3_server)
    assert uploads(seaweedfs, s3_server) == []
    tail = httpx.get(record["urls"]["stream"], headers={"Range": "bytes=-65536"})
    with big_video.open("rb") as file:
        file.seek(-65536, os.SEEK_END)
        assert tail.status_code == 206 and tail.content == file.read()


def send_half(server: Server, path: Path, sent: int) -> socket.socket:
    """Open an upload of `path` and send its first `sent` bytes; the caller hangs up or not."""
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mkv"\r\n\r\n'
    request = (
        "POST /api/media HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(head) + path.stat().st_size + 10}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(request + head)
    with path.open("rb") as file:
        while sent > 0:
            chunk = file.read(min(MIB, sent))
            sock.sendall(chunk)
            sent -= len(chunk)
    return sock


def test_client_hanging_up_mid_upload_leaves_no_object_or_multipart_upload(
    s3_server: Server, seaweedfs: SeaweedFS, big_video: Path
) -> None:
    with send_half(s3_server, big_video, 40 * MIB):
        wait_for(lambda: uploads(seaweedfs, s3_server) != [])  # parts are being written
    wait_for(lambda: uploads(seaweedfs, s3_server) == [], seconds=30)
    assert objects(seaweedfs, s3_server) == []
    assert httpx.get(f"{s3_server.url}/api/media").json()["total"] == 0


def test_crash_mid_upload_then_restart_sweeps_the_multipart_upload(
    s3_server: Server, seaweedfs: SeaweedFS, big_video: Path
) -> None:
    with send_half(s3_server, big_video, 40 * MIB):
        wait_for(lambda: uploads(seaweedfs, s3_server) != [])
        s3_server.kill()
    assert uploads(seaweedfs, s3_server) != []  # left behind by the crash
    s3_server.start()  # same host, its pid dead: swept at start-up
    assert uploads(seaweedfs, s3_server) == []
    assert objects(seaweedfs, s3_server) == []
    time.sleep(0)
