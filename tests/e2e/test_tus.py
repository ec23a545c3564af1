"""Resumable uploads against a real `amps serve`: tuspy (a real tus client) in chunks, links cut
mid-body at random offsets, two writers at once, and the server SIGKILLed mid-upload."""

import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
from tusclient.client import TusClient

from tests.conftest import wait_processed
from tests.e2e.conftest import Server, free_port

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


def test_s3_server_killed_after_sending_a_part_resumes(
    tmp_path: Path, seaweedfs: Any, media_files: dict[str, Path]
) -> None:
    """On S3 storage: 6 MiB wait as a tail; a PATCH sends part 1 (8 MiB) and dies with the
    server before recording it. After a restart the upload goes on from 6 MiB, sends part 1
    again under the same number, and the clip is the file, byte for byte."""
    from tests.conftest import s3_environment

    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env |= s3_environment(seaweedfs) | {"AMPS_RUN_JOBS": "false"}
    server = Server(media_dir=tmp_path / "media", port=free_port(), env=env)
    server.start()
    try:
        path = media_files["video.avi"]  # ~9 MiB
        data = path.read_bytes()
        mib = 1024 * 1024
        with path.open("rb") as stream:
            uploader = TusClient(f"{server.url}/api/uploads").uploader(
                file_stream=stream, chunk_size=3 * mib, metadata={"filename": "s3.avi"}
            )
            uploader.upload(stop_at=6 * mib)
        url = uploader.url
        assert offset_of(url) == 6 * mib
        sent, hold = threading.Event(), threading.Event()
        headers = {
            **TUS,
            "Upload-Offset": str(6 * mib),
            "Content-Type": "application/offset+octet-stream",
        }

        def body() -> Iterator[bytes]:
            yield data[6 * mib : 8 * mib + 500_000]  # past part 1's end: part 1 is sent
            sent.set()
            hold.wait(30)
            yield data[8 * mib + 500_000 :]

        def doomed() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.patch(url, content=body(), headers=headers, timeout=60)

        writer = threading.Thread(target=doomed)
        writer.start()
        assert sent.wait(30)
        time.sleep(1.5)  # part 1 reaches the store
        server.kill()
        hold.set()
        writer.join(30)
        # The dead request did send part 1 (so the resumed one must send it again).
        from tests.seaweed import BUCKET

        key = env["AMPS_STORAGE_URL"].removeprefix(f"s3://{BUCKET}/")
        key += "/.resumable/" + url.rsplit("/", 1)[-1]
        client = seaweedfs.client()
        (multipart,) = client.list_multipart_uploads(Bucket=BUCKET, Prefix=key)["Uploads"]
        parts = client.list_parts(Bucket=BUCKET, Key=key, UploadId=multipart["UploadId"])
        assert [part["PartNumber"] for part in parts.get("Parts", [])] == [1]
        server.start()
        assert offset_of(url) == 6 * mib
        media_id = finish_with_tuspy(server, path, url)
        assert httpx.get(f"{server.url}/media/{media_id}/stream").content == data
    finally:
        server.stop()
