"""The stream fast path's open-file cache stays right: deletes show at once, staleness is
bounded, descriptors are never closed under a response, and cold reads come back whole."""

import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from app.catalog.database import Catalog
from app.config import Settings
from app.library import Library
from app.main import create_app
from app.storage.local import LocalStorage
from app.streams.open_files import OpenFiles, read_at
from tests.e2e.conftest import Server, free_port
from tests.test_streaming import DATA, wav

TTL = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    settings = Settings(media_dir=tmp_path / "media")
    catalog = Catalog(settings.catalog_url)
    library = Library(settings, catalog, LocalStorage(settings.media_dir))
    library.start()
    yield library
    catalog.dispose()


def add_clip(library: Library, tmp_path: Path, data: bytes = DATA) -> str:
    source = tmp_path / f"source-{len(data)}-{os.urandom(4).hex()}.wav"
    source.write_bytes(data)
    return library.add_file(source).id


def files_of(library: Library, clock: Clock, max_open: int = 256) -> OpenFiles:
    assert isinstance(library.storage, LocalStorage)
    return OpenFiles(library.catalog, library.storage, TTL, clock=clock, max_open=max_open)


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_clip_deleted_through_the_api_is_404_at_once(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "media", stream_cache_seconds=3600)
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        media_id = client.post("/api/media", files={"file": ("a.wav", DATA)}).json()["id"]
        stream = f"/media/{media_id}/stream"
        assert client.get(stream, headers={"range": "bytes=0-9"}).content == DATA[:10]
        assert client.delete(f"/api/media/{media_id}").status_code == 204
        gone = client.get(stream, headers={"range": "bytes=0-9"})
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("server_name", ["uvicorn", "granian"])
def test_clip_deleted_by_another_process_is_404_at_once(
    library: Library, tmp_path: Path, server_name: str
) -> None:
    media_id = add_clip(library, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env["AMPS_STREAM_CACHE_SECONDS"] = "3600"  # only the unlinked file can tell
    server = Server(library.settings.media_dir, free_port(), env, ("--server", server_name))
    server.start()
    try:
        stream = f"{server.url}/media/{media_id}/stream"
        assert httpx.get(stream, headers={"range": "bytes=0-9"}).content == DATA[:10]
        assert library.delete(media_id)  # this process shares the folder and the catalog
        gone = httpx.get(stream, headers={"range": "bytes=0-9"})
    finally:
        server.stop()
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


def test_record_gone_while_its_file_stays_is_noticed_after_the_ttl(
    library: Library, tmp_path: Path
) -> None:
    media_id, clock = add_clip(library, tmp_path), Clock()
    files = files_of(library, clock)

    async def check() -> None:
        entry = await files.acquire(media_id)
        assert entry is not None
        files.release(entry)
        library.catalog.delete(media_id)  # the record only: the file is left behind
        clock.now += TTL / 2
        again = await files.acquire(media_id)
        assert again is entry  # within the TTL the cache does not ask
        files.release(again)
        clock.now += TTL
        assert await files.acquire(media_id) is None  # the route answers: 404
        assert entry.fd == -1  # closed when dropped

    anyio.run(check)


def test_rewritten_file_is_opened_afresh(library: Library, tmp_path: Path) -> None:
    media_id, clock = add_clip(library, tmp_path), Clock()
    files = files_of(library, clock)
    media = library.catalog.get(media_id)
    assert media is not None

    async def check() -> None:
        first = await files.acquire(media_id)
        assert first is not None
        files.release(first)
        path = library.file_of(media)
        assert path is not None
        replacement = path.with_name("replacement")
        replacement.write_bytes(wav(5000))
        os.replace(replacement, path)
        second = await files.acquire(media_id)
        assert second is not None and second is not first
        assert second.validators.size == 5000
        assert await read_at(second.fd, 0, 5000) == wav(5000)
        files.release(second)

    anyio.run(check)


def test_descriptor_stays_open_until_its_last_response_ends(
    library: Library, tmp_path: Path
) -> None:
    media_id, clock = add_clip(library, tmp_path), Clock()
    files = files_of(library, clock)

    async def check() -> None:
        held = await files.acquire(media_id)
        assert held is not None
        clock.now += 2 * TTL  # expired: the next request replaces the entry
        newer = await files.acquire(media_id)
        assert newer is not None and newer is not held
        assert await read_at(held.fd, 0, 100) == DATA[:100]  # still open for its response
        fd = held.fd
        files.release(held)
        assert not is_open(fd)
        files.release(newer)
        files.close()
        assert newer.fd == -1 and files.entries == {}

    anyio.run(check)


def test_at_most_max_open_descriptors_are_kept(library: Library, tmp_path: Path) -> None:
    ids = [add_clip(library, tmp_path) for _ in range(3)]
    files = files_of(library, Clock(), max_open=2)

    async def check() -> None:
        entries = []
        for media_id in ids:
            entry = await files.acquire(media_id)
            assert entry is not None
            files.release(entry)
            entries.append(entry)
        assert list(files.entries) == ids[1:]
        assert entries[0].fd == -1 and all(is_open(e.fd) for e in entries[1:])
        files.close()

    anyio.run(check)


def test_unknown_or_invalid_ids_are_left_to_the_route(library: Library) -> None:
    files = files_of(library, Clock())

    async def check() -> None:
        assert await files.acquire("A" * 22) is None
        assert files.entries == {}

    anyio.run(check)


def test_cold_data_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "cold.bin"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # out of the page cache

        async def read() -> bytes:
            return await read_at(fd, 1000, 2 << 20)

        assert anyio.run(read) == data[1000 : 1000 + (2 << 20)]
        with pytest.raises(EOFError):
            anyio.run(read_at, fd, len(data) - 10, 20)
    finally:
        os.close(fd)
