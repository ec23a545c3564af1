"""Real clients (curl, ffprobe, raw sockets) against a real `amps serve` process."""

import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx

from tests.conftest import stored_files
from tests.e2e.conftest import Server
from tests.media import LENGTH


def curl_upload(server: Server, path: Path, *extra: str) -> dict[str, object]:
    out = subprocess.run(
        ["curl", "-sS", "-f", "-F", f"file=@{path}", *extra, f"{server.url}/api/media"],
        check=True,
        capture_output=True,
    )
    record: dict[str, object] = json.loads(out.stdout)
    return record


def test_curl_upload_then_ffprobe_over_http_reads_moov_at_end(
    server: Server, media_files: dict[str, Path]
) -> None:
    record = curl_upload(server, media_files["moov-at-end.mp4"], "-F", "title=Moov last")
    stream = f"{server.url}/media/{record['id']}/stream"
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", stream],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert abs(float(out.stdout) - LENGTH) < 0.1


def test_curl_range_then_resume_reassembles_identical_bytes(
    server: Server, media_files: dict[str, Path], tmp_path: Path
) -> None:
    source = media_files["video.webm"]
    record = curl_upload(server, source)
    stream = f"{server.url}/media/{record['id']}/stream"
    target = tmp_path / "copy.webm"
    subprocess.run(["curl", "-sS", "-f", "-r", "0-99999", "-o", str(target), stream], check=True)
    assert target.stat().st_size == 100_000
    subprocess.run(["curl", "-sS", "-f", "-C", "-", "-o", str(target), stream], check=True)
    assert target.read_bytes() == source.read_bytes()


def test_client_hanging_up_mid_body_leaves_nothing(
    server: Server, media_files: dict[str, Path]
) -> None:
    data = media_files["audio.flac"].read_bytes()
    boundary = "cut-short"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.flac"\r\n'
        "Content-Type: audio/flac\r\n\r\n"
    ).encode()
    request = (
        f"POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + len(data) + 100}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request + head + data[: len(data) // 2])
        time.sleep(0.5)
    assert wait_until_empty(server.media_dir), stored_files(server.media_dir, posters=False)
    assert httpx.get(f"{server.url}/api/media").json()["total"] == 0


def test_kill_during_upload_then_restart_leaves_no_stray_file(
    server: Server, media_files: dict[str, Path]
) -> None:
    kept = curl_upload(server, media_files["cbr.mp3"])
    temp = server.media_dir / ".tmp"
    # The poster is rendered in the background after an upload: let it finish first.
    wait_for(lambda: any(server.media_dir.rglob("poster.*")) and not list(temp.glob("*")))
    data = media_files["audio.wav"].read_bytes()
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    request = (
        "POST /api/media HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(head) + len(data) + 10}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request + head + data[: len(data) // 2])
        wait_for(lambda: any(p.stat().st_size > 0 for p in temp.glob("*.part")))
        server.kill()
    server.start()
    assert list(temp.glob("*")) == []
    [left] = stored_files(server.media_dir, posters=False)
    assert kept["id"] in left.parts
    assert httpx.get(f"{server.url}/api/media").json()["total"] == 1
    stream = httpx.get(f"{server.url}/media/{kept['id']}/stream")
    assert stream.content == media_files["cbr.mp3"].read_bytes()


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    """Poll generously: these machines are shared and sometimes slow."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.05)


def wait_until_empty(media_dir: Path, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while stored_files(media_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not stored_files(media_dir)
