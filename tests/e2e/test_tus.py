"""Resumable uploads against a real `amps serve`: tuspy (a real tus client) in chunks, links cut
mid-body at random offsets, two writers at once, and the server SIGKILLed mid-upload."""

import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
from tusclient.client import TusClient

from tests.conftest import wait_processed
from tests.e2e.conftest import Server

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 256 * 1024


def offset_of(url: str) -> int:
    response = httpx.head(url, headers=TUS)
    assert response.status_code == 200, response.text
    return int(response.headers["Upload-Offset"])


def cut_patch(url: str, offset: int, data: bytes, send: int) -> None:
    """A PATCH announcing all of `data` whose link drops after `send` bytes of it."""
    parts = urlsplit(url)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head + data[:send])
        time.sleep(0.3)  # let the server read it before the link drops
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def wait_offset(url: str, expected: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while (offset := offset_of(url)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return offset


def finish_with_tuspy(server: Server, path: Path, url: str) -> str:
    """Resume the upload at `url` with tuspy (it asks HEAD for the offset) to its end."""
    with path.open("rb") as stream:  # tuspy leaves a file of its own opening unclosed
        uploader = TusClient(f"{server.url}/api/uploads").uploader(
            file_stream=stream, url=url, chunk_size=CHUNK, upload_checksum=True
        )
        uploader.upload()
    headers = uploader.request.response_headers
    assert headers["location"].endswith(f"/api/media/{headers['amps-media-id']}")
    return str(headers["amps-media-id"])


def test_tuspy_uploads_in_chunks_stops_and_resumes(
    server: Server, media_files: dict[str, Path]
) -> None:
    path = media_files["video.mp4"]
    with path.open("rb") as stream:
        uploader = TusClient(f"{server.url}/api/uploads").uploader(
            file_stream=stream, chunk_size=CHUNK, metadata={"filename": "a.mp4", "title": "Hi"}
        )
        uploader.upload(stop_at=4 * CHUNK)
    assert offset_of(uploader.url) == 4 * CHUNK
    media_id = finish_with_tuspy(server, path, uploader.url)
    with httpx.Client(base_url=server.url) as api:
        record = wait_processed(api, media_id)
        assert record["title"] == "Hi" and record["status"] == "ready"
        assert api.get(f"/media/{media_id}/stream").content == path.read_bytes()


def test_links_cut_at_random_offsets_keep_what_arrived(
    server: Server, media_files: dict[str, Path]
) -> None:
    path = media_files["audio.m4a"]
    data = path.read_bytes()
    created = httpx.post(
        f"{server.url}/api/uploads", headers={**TUS, "Upload-Length": str(len(data))}
    )
    url = created.headers["Location"]
    rng = random.Random(14)
    offset = 0
    for _ in range(3):
        send = rng.randrange(1, (len(data) - offset) // 2)
        cut_patch(url, offset, data[offset:], send)
        assert wait_offset(url, offset + send) == offset + send
        offset += send
    media_id = finish_with_tuspy(server, path, url)
    with httpx.Client(base_url=server.url) as api:
        assert api.get(f"/media/{media_id}/stream").content == data


def slow_body(data: bytes, sent: threading.Event, hold: threading.Event) -> Iterator[bytes]:
    yield data[: len(data) // 2]
    sent.set()
    hold.wait(20)
    yield data[len(data) // 2 :]


def test_a_second_writer_is_refused_while_one_writes(server: Server) -> None:
    data = b"x" * 2 * 1024 * 1024
    created = httpx.post(f"{server.url}/api/uploads", headers={**TUS, "Upload-Length": "9999999"})
    url = created.headers["Location"]
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    sent, hold = threading.Event(), threading.Event()
    results: list[int] = []

    def first() -> None:
        body = slow_body(data, sent, hold)
        results.append(httpx.patch(url, content=body, headers=headers, timeout=30).status_code)

    writer = threading.Thread(target=first)
    writer.start()
    assert sent.wait(10)
    time.sleep(0.3)
    second = httpx.patch(url, content=b"y" * 10, headers=headers)
    hold.set()
    writer.join(30)
    assert second.status_code == 423
    assert results == [204]
    assert offset_of(url) == len(data)


def test_server_killed_mid_upload_resumes_after_restart(
    server: Server, media_files: dict[str, Path]
) -> None:
    path = media_files["video.mp4"]
    data = path.read_bytes()
    with path.open("rb") as stream:
        uploader = TusClient(f"{server.url}/api/uploads").uploader(
            file_stream=stream, chunk_size=CHUNK, metadata={"filename": "killed.mp4"}
        )
        uploader.upload(stop_at=3 * CHUNK)
    url = uploader.url
    # A PATCH in flight when the server dies: its bytes may be on disk, its offset is not.
    sent, hold = threading.Event(), threading.Event()
    headers = {
        **TUS,
        "Upload-Offset": str(3 * CHUNK),
        "Content-Type": "application/offset+octet-stream",
    }

    def doomed() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.patch(url, content=slow_body(data[3 * CHUNK :], sent, hold), headers=headers)

    writer = threading.Thread(target=doomed)
    writer.start()
    assert sent.wait(10)
    time.sleep(0.5)
    server.kill()
    hold.set()
    writer.join(30)
    partial = next((server.media_dir / ".tmp" / "resumable").glob("*.part"))
    on_disk = partial.stat().st_size
    server.start()
    recorded = offset_of(url)
    assert 3 * CHUNK <= recorded <= on_disk
    media_id = finish_with_tuspy(server, path, url)
    with httpx.Client(base_url=server.url) as api:
        assert api.get(f"/media/{media_id}/stream").content == data
        assert wait_processed(api, media_id)["status"] == "ready"
    assert not partial.exists()


def test_a_long_patch_records_its_offset_as_it_goes(server: Server) -> None:
    """Killed 40 MiB into one PATCH, the server had recorded at least its first 32 MiB
    (checkpoints sync and record beside the reading), and never more than was on disk."""
    mib = 1024 * 1024
    created = httpx.post(
        f"{server.url}/api/uploads", headers={**TUS, "Upload-Length": str(64 * mib)}
    )
    url = created.headers["Location"]
    sent, hold = threading.Event(), threading.Event()
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    block = random.Random(1).randbytes(mib)

    def body() -> Iterator[bytes]:
        for _ in range(40):
            yield block
        sent.set()
        hold.wait(30)
        yield block

    def doomed() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.patch(url, content=body(), headers=headers, timeout=60)

    writer = threading.Thread(target=doomed)
    writer.start()
    assert sent.wait(30)
    time.sleep(1.5)  # the checkpoint's fsync and record, beside the reading
    server.kill()
    hold.set()
    writer.join(30)
    on_disk = next((server.media_dir / ".tmp" / "resumable").glob("*.part")).stat().st_size
    server.start()
    assert 32 * mib <= offset_of(url) <= on_disk
