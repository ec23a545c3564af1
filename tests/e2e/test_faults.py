"""Faults against a real `amps serve` process: a crash among concurrent uploads, a full
disk, a probe past its time, a client that stalls, a file gone from storage. Each ends with
nothing lost, nothing half-written and the server still serving."""

import contextlib
import hashlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest

from tests import media
from tests.conftest import MEDIA_CACHE, stored_files
from tests.e2e.conftest import Server, free_port

NO_MEDIA = "No media source currently available"
CHUNK = 64 * 1024


def start_server(tmp_path: Path, **settings: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env.update({f"AMPS_{name.upper()}": value for name, value in settings.items()})
    server = Server(media_dir=tmp_path / "media", port=free_port(), env=env)
    server.start()
    return server


@contextlib.contextmanager
def running(tmp_path: Path, **settings: str) -> Iterator[Server]:
    server = start_server(tmp_path, **settings)
    try:
        yield server
    finally:
        server.stop()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def form_head(boundary: str, name: str = "clip.bin") -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def request_head(port: int, boundary: str, length: int) -> bytes:
    return (
        f"POST /api/media HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


def read_status(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """The status and whatever came back until the server closed (or timeout)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


def api_total(server: Server) -> int:
    total: int = httpx.get(f"{server.url}/api/media").json()["total"]
    return total


def library_leftovers(server: Server, settle: float = 10.0) -> list[Path]:
    """Files no record accounts for (temp files, partial or orphaned clips), after waiting
    up to `settle` seconds for background work (a poster being drawn) to finish."""
    deadline = time.monotonic() + settle
    while True:
        records = httpx.get(f"{server.url}/api/media?limit=100").json()["items"]
        ids = {r["id"] for r in records}
        left = [
            p
            for p in stored_files(server.media_dir)
            if not (ids & set(p.parts) and p.name.startswith(("original.", "poster.", "track-")))
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# --- kill -9 among ten concurrent uploads ---------------------------------------------------


def slow_upload(port: int, data: bytes, pace: float, results: dict[int, object], key: int) -> None:
    """Send the clip in 64 KiB pieces, `pace` seconds apart; record (status, body) or error."""
    boundary = f"fault{key}"
    body = form_head(boundary) + data + f"\r\n--{boundary}--\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request_head(port, boundary, len(body)))
            for start in range(0, len(body), CHUNK):
                sock.sendall(body[start : start + CHUNK])
                time.sleep(pace)
            results[key] = read_status(sock, 60)
    except OSError as exc:  # the server was killed under us
        results[key] = exc


def test_kill_during_ten_uploads_keeps_every_completed_one_and_nothing_else(
    server: Server, media_files: dict[str, Path]
) -> None:
    names = ["audio.opus", "cbr.mp3", "audio.m4a", "video.webm", "audio.ogg"] * 2
    sources = [media_files[name].read_bytes() for name in names]
    results: dict[int, object] = {}
    # Half go fast and finish; half trickle and are cut off mid-body by the kill.
    threads = [
        threading.Thread(
            target=slow_upload, args=(server.port, data, 0.0 if i % 2 == 0 else 0.5, results, i)
        )
        for i, data in enumerate(sources)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(1 for i in range(0, 10, 2) if i in results) < 5:
        time.sleep(0.05)
    assert all(i in results for i in range(0, 10, 2)), "the fast uploads never finished"
    time.sleep(0.3)  # the slow ones are mid-body now
    assert len(list((server.media_dir / ".tmp").iterdir())) > 0, "no upload was in flight"
    server.kill()
    for thread in threads:
        thread.join(30)
    server.start()

    completed = {i: r for i, r in results.items() if isinstance(r, tuple) and r[0] == 201}
    assert len(completed) >= 5, results
    records = httpx.get(f"{server.url}/api/media?limit=100").json()["items"]
    # A clip may be recorded just before the kill with its answer lost: it is still whole.
    known = {sha256(data): i for i, data in enumerate(sources)}
    assert len(records) >= len(completed)
    for record in records:
        body = httpx.get(record["urls"]["stream"]).content
        assert sha256(body) in known, f"{record['id']} is not any of the uploads, byte for byte"
        assert len(body) == record["size"]
    assert library_leftovers(server) == [], "partial uploads were left behind"
    assert not list((server.media_dir / ".tmp").iterdir())


# --- a full disk ------------------------------------------------------------------------------


def upload_bytes(server: Server, data: bytes, name: str = "clip.bin") -> httpx.Response:
    return httpx.post(f"{server.url}/api/media", files={"file": (name, data)}, timeout=60)


def test_storage_quota_full_is_507_with_nothing_half_written(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    clip = media_files["audio.opus"].read_bytes()
    with running(tmp_path, storage_quota_bytes=str(len(clip) * 2 + 100_000)) as server:
        assert upload_bytes(server, clip).status_code == 201
        refused = upload_bytes(server, media_files["audio.flac"].read_bytes())
        assert refused.status_code == 507
        assert refused.headers["content-type"] == "application/problem+json"
        assert "storage is full" in refused.json()["detail"]
        assert api_total(server) == 1 and library_leftovers(server) == []
        assert upload_bytes(server, clip).status_code == 201, "what fits is still taken"
        assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 5 MiB tmpfs, where the machine lets us mount one (root on Linux)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the quota test covers 507"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_really_full_disk_is_507_with_nothing_half_written(
    tmp_path: Path, small_disk: Path, media_files: dict[str, Path]
) -> None:
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"  # the catalog lives elsewhere
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env["AMPS_DATABASE_URL"] = catalog
    server = Server(media_dir=small_disk, port=free_port(), env=env)
    server.start()
    try:
        clip = media_files["audio.opus"].read_bytes()
        assert upload_bytes(server, clip).status_code == 201
        refused = upload_bytes(server, os.urandom(6 * 1024 * 1024))
        assert refused.status_code == 507, refused.text
        assert "storage is full" in refused.json()["detail"]
        assert api_total(server) == 1 and library_leftovers(server) == []
        assert upload_bytes(server, clip).status_code == 201, "the space was given back"
        stream = httpx.get(f"{server.url}/api/media").json()["items"][0]["urls"]["stream"]
        assert sha256(httpx.get(stream).content) == sha256(clip)
    finally:
        server.stop()


# --- a probe past its time ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def slow_to_decode() -> Path:
    """100 kB of H.264 at 8192x4320: seconds of one core to decode its last 3 s (a small
    upload that costs much, the kind the probe's time limit is for). Cached between runs."""
    target = MEDIA_CACHE / "8k-gray.mp4"
    if not target.exists():
        MEDIA_CACHE.mkdir(parents=True, exist_ok=True)
        partial = MEDIA_CACHE / "partial-8k-gray.mp4"
        source = "color=c=gray:s=8192x4320:r=15:d=3.5"
        media.ffmpeg("-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "ultrafast",
                     "-crf", "51", "-pix_fmt", "yuv420p", str(partial))  # fmt: skip
        partial.rename(target)
    return target


@pytest.mark.parametrize(
    ("clip", "timeout"),
    [("vbr-no-xing.mp3", "0.05"), ("8k", "1")],
    ids=["tiny-timeout", "slow-to-decode"],
)
def test_probe_past_its_time_refuses_the_upload_and_the_server_keeps_serving(
    tmp_path: Path, media_files: dict[str, Path], slow_to_decode: Path, clip: str, timeout: str
) -> None:
    source = slow_to_decode if clip == "8k" else media_files[clip]
    with running(tmp_path, probe_timeout=timeout) as server:
        started = time.monotonic()
        response = upload_bytes(server, source.read_bytes(), source.name)
        assert response.status_code == 422, response.text
        assert "took too long" in response.json()["detail"]
        assert time.monotonic() - started < float(timeout) + 5
        assert api_total(server) == 0 and library_leftovers(server) == []
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        # No ffprobe or ffmpeg is left running after the refusal (granian's workers are
        # children of its main process: only the tools count).
        tree = psutil.Process(server.process.pid).children(recursive=True)  # type: ignore[union-attr]
        assert [p.name() for p in tree if p.name() in ("ffprobe", "ffmpeg")] == []


# --- a client that stalls -------------------------------------------------------------------------


def test_stalled_upload_is_dropped_with_408_and_leaves_nothing(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    data = media_files["audio.opus"].read_bytes()
    with running(tmp_path, upload_read_timeout="1") as server:
        boundary = "stall"
        head = form_head(boundary)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request_head(server.port, boundary, len(head) + len(data) + 20))
            sock.sendall(head + data[: len(data) // 3])
            started = time.monotonic()
            status, answer = read_status(sock, 10)
            waited = time.monotonic() - started
        assert status == 408, answer[:300]
        assert b"stopped arriving" in answer
        assert 0.5 < waited < 5
        assert api_total(server) == 0 and library_leftovers(server) == []
        assert not list((server.media_dir / ".tmp").iterdir())
        assert upload_bytes(server, data).status_code == 201, "the worker is free again"


def test_trickling_upload_that_keeps_moving_is_not_cut_off(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    data = media_files["audio.opus"].read_bytes()[: 6 * CHUNK]
    with running(tmp_path, upload_read_timeout="1") as server:
        results: dict[int, object] = {}
        slow_upload(server.port, data, 0.4, results, 0)  # 7 pieces, 2.8 s in all
        status, answer = results[0]  # type: ignore[misc]
        assert status in (415, 422), answer[:300]  # a cut clip: refused by the probe, not 408


# --- a file gone from storage ---------------------------------------------------------------------


def test_vanished_file_404s_and_pages_say_no_media(
    server: Server, media_files: dict[str, Path]
) -> None:
    record = upload_bytes(server, media_files["video.mp4"].read_bytes(), "v.mp4").json()
    for path in stored_files(server.media_dir):
        if record["id"] in path.parts:
            path.unlink()
    base = server.url
    stream = httpx.get(record["urls"]["stream"])
    assert (
        stream.status_code == 404 and stream.headers["content-type"] == "application/problem+json"
    )
    assert httpx.head(record["urls"]["stream"]).status_code == 404
    assert httpx.get(record["urls"]["stream"], headers={"range": "bytes=0-99"}).status_code == 404
    assert httpx.get(record["urls"]["poster"]).status_code == 404
    for page in (record["urls"]["watch"], record["urls"]["embed"]):
        response = httpx.get(page)
        assert response.status_code < 500 and NO_MEDIA in response.text
    for url in (f"{base}/", f"{base}/api/media", record["urls"]["api"], f"{base}/healthz"):
        assert httpx.get(url).status_code == 200, url
    oembed = httpx.get(f"{base}/oembed", params={"url": record["urls"]["watch"]})
    assert oembed.status_code == 200


def test_full_disk_under_the_catalog_is_503_and_reads_go_on(
    small_disk: Path, media_files: dict[str, Path]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    server = Server(media_dir=small_disk, port=free_port(), env=env)  # the catalog on it too
    server.start()
    try:
        record = upload_bytes(server, media_files["audio.opus"].read_bytes()).json()
        filler = small_disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as handle:
            while True:
                handle.write(b"\0" * CHUNK)
        edit = httpx.patch(
            record["urls"]["api"], json={"title": "x" * 300, "description": "y" * 20_000}
        )
        # SQLite needs new pages for a 20 kB description, and there are none: 503, not 500.
        assert edit.status_code == 503, edit.text
        assert edit.headers["retry-after"] and "nothing was changed" in edit.json()["detail"]
        assert httpx.get(record["urls"]["api"]).status_code == 200
        assert upload_bytes(server, media_files["cbr.mp3"].read_bytes()).status_code == 507
        filler.unlink()
        edit = httpx.patch(record["urls"]["api"], json={"title": "Back"})
        assert edit.status_code == 200 and edit.json()["title"] == "Back"
    finally:
        server.stop()
