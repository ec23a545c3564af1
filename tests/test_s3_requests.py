"""Requests amps sends to the object store, counted by a small HTTP proxy in front of a real
SeaweedFS: pages of many clips cost no request per clip, and the start-up sweep's listing of
the whole library runs while the server already answers."""

import http.client
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from app.catalog.database import new_id
from app.catalog.models import Media
from app.config import Settings
from app.main import create_app
from app.storage.base import media_key
from tests.conftest import s3_environment
from tests.e2e.conftest import Server, free_port
from tests.seaweed import SeaweedFS

CLIPS = 24  # one library page
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect"}


@dataclass
class CountingProxy:
    """Forwards every request to the store as it came (the Host header too, so signatures
    hold) and notes it; holds listings of the whole library while `hold_listings` is clear."""

    upstream: str
    requests: list[str] = field(default_factory=list)
    hold_listings: threading.Event = field(default_factory=threading.Event)
    listing_held: threading.Event = field(default_factory=threading.Event)
    listing_done: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.hold_listings.set()  # nothing held unless a test clears it

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                proxy.requests.append(f"{self.command} {self.path}")
                whole_listing = is_whole_listing(self.path)
                if whole_listing and not proxy.hold_listings.is_set():
                    proxy.listing_held.set()
                    proxy.hold_listings.wait(60)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                host = urlsplit(proxy.upstream)
                upstream = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP or name.lower() == "content-length":
                        upstream.putheader(name, value)
                upstream.endheaders(body)
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", response.getheader("Content-Length", "0"))
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                if whole_listing:
                    proxy.listing_done.set()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.hold_listings.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def is_whole_listing(path: str) -> bool:
    """A ListObjectsV2 of the library's prefix (not of its temp folder .tmp/)."""
    query = parse_qs(urlsplit(path).query)
    return "list-type" in query and ".tmp" not in query.get("prefix", [""])[0]


@pytest.fixture
def proxy(seaweedfs: SeaweedFS) -> Iterator[CountingProxy]:
    counting = CountingProxy(seaweedfs.endpoint)
    counting.start()
    yield counting
    counting.stop()


@pytest.fixture
def library(tmp_path: Path, seaweedfs: SeaweedFS, proxy: CountingProxy) -> Iterator[TestClient]:
    """A library of CLIPS ready clips in SeaweedFS, reached through the counting proxy."""
    env = s3_environment(seaweedfs) | {"AMPS_S3_ENDPOINT_URL": proxy.url}
    values = {k.removeprefix("AMPS_").lower(): v for k, v in env.items()}
    settings = Settings(media_dir=tmp_path / "media", run_jobs=False, **values)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        state = client.app.state  # type: ignore[attr-defined]
        state.library.sweeper.join(30)
        records = []
        for number in range(CLIPS):
            media_id = new_id()
            key = media_key(media_id, "original.mp3")
            state.library.storage.put_bytes(key, b"ID3" + bytes(number), "audio/mpeg")
            records.append(ready_clip(media_id, key, number))
        state.catalog.add_all(records)
        yield client


def ready_clip(media_id: str, key: str, number: int) -> Media:
    return Media(
        id=media_id, title=f"Clip {number}", kind="audio", status="ready", duration=65.0,
        mime_type="audio/mpeg", size=3 + number, codecs=["mp3"], tags={}, storage_key=key,
        sha256="0" * 64, created_at=datetime.now(UTC) - timedelta(seconds=number),
    )  # fmt: skip


def test_a_library_page_of_24_clips_asks_the_store_nothing_per_clip(
    library: TestClient, proxy: CountingProxy
) -> None:
    proxy.requests.clear()
    page = library.get("/")
    assert page.status_code == 200
    assert page.text.count("<img src=") == CLIPS  # each clip's poster shown: its file is there
    assert len(proxy.requests) <= 2, proxy.requests


def test_repeat_views_of_watch_pages_ask_the_store_nothing(
    library: TestClient, proxy: CountingProxy
) -> None:
    items = library.get("/api/media?limit=100").json()["items"]
    assert len(items) == CLIPS
    for item in items:  # the first view renders each page (one look at its file)
        assert library.get(f"/media/{item['id']}").status_code == 200
    proxy.requests.clear()
    for item in items:
        assert library.get(f"/media/{item['id']}").status_code == 200
        assert library.get(f"/embed/{item['id']}").status_code == 200
    assert len(proxy.requests) <= CLIPS, proxy.requests  # embed pages render once each
    proxy.requests.clear()
    for item in items:
        assert library.get(f"/embed/{item['id']}").status_code == 200
    assert proxy.requests == []


def test_a_file_gone_from_the_store_shows_as_missing(
    library: TestClient, proxy: CountingProxy
) -> None:
    [item] = library.get("/api/media?limit=1").json()["items"]
    storage = library.app.state.library.storage  # type: ignore[attr-defined]
    storage.delete(f"{item['id']}/original.mp3")
    watch = library.get(f"/media/{item['id']}")
    assert watch.status_code == 404  # the page says the file is missing
    assert library.get(f"/media/{item['id']}").status_code == 404


def test_the_start_up_sweep_never_delays_readiness(
    tmp_path: Path, seaweedfs: SeaweedFS, proxy: CountingProxy
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env |= s3_environment(seaweedfs) | {"AMPS_S3_ENDPOINT_URL": proxy.url}
    proxy.hold_listings.clear()  # the listing of the whole library takes as long as we like
    server = Server(media_dir=tmp_path / "media", port=free_port(), env=env)
    try:
        server.start()  # /healthz answered 200, or start() fails after 20 s
        assert proxy.listing_held.wait(10), "the sweep never listed the library"
        assert httpx.get(f"{server.url}/", timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/api/media", timeout=10).json()["total"] == 0
        assert not proxy.listing_done.is_set()  # all of it while the sweep was still listing
        proxy.hold_listings.set()
        assert proxy.listing_done.wait(10)
    finally:
        server.stop()
