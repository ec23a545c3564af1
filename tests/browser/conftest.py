"""Browser tests: one real `amps serve` and one Debian Chromium (Playwright, sync) per session.

Fixtures
- `library` (session): the server with a video, an audio clip (English captions on both once
  `POST /api/media/{id}/tracks` exists) and a clip whose file is gone; see `Library` and `Clip`.
- `browser` (session): the one Chromium.
- `page`: a fresh context and page per test; `new_page(**context_options)` for more, or for
  other options (javascript_enabled=False, locale="ar", **ZOOM_200, reduced_motion=...).
- `page_errors`: console errors and uncaught exceptions of those pages; must be empty at
  teardown unless the test allowed them (`page_errors.allow(regex)`).
A failing test leaves a screenshot of each of its pages in .cache/screenshots/FAILED-*.png.
"""

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, ErrorLog, screenshot
from tests.e2e.conftest import Server, free_port

TRACKS_ROUTE = "/api/media/{media_id}/tracks"
SIGNING_KEY = "browser-tests-signing-key-" + "k" * 16
CAPTIONS_VTT = """WEBVTT

00:00:00.000 --> 00:00:04.000
Welcome to the amps test clip.

00:00:05.000 --> 00:00:09.000
A tone plays at four hundred and forty hertz.

00:01:05.000 --> 00:01:10.000
One minute and five seconds in.

00:01:40.000 --> 00:01:45.000
One hundred seconds: the seek target.

00:03:20.000 --> 00:03:25.000
The end of the clip.
"""


@dataclass(frozen=True)
class Clip:
    """One uploaded clip: its API record (as last fetched) and its absolute URLs."""

    id: str
    record: dict[str, Any]
    base: str

    def _url(self, name: str, path: str) -> str:
        urls = self.record.get("urls") or {}
        return str(urls.get(name) or f"{self.base}{path}")

    @property
    def stream(self) -> str:
        return self._url("stream", f"/media/{self.id}/stream")

    @property
    def embed(self) -> str:
        return self._url("embed", f"/embed/{self.id}")

    @property
    def download(self) -> str:
        return self._url("download", f"/media/{self.id}/stream?download=1")

    @property
    def watch(self) -> str:
        return self._url("watch", f"/media/{self.id}")

    @property
    def poster(self) -> str:
        return self._url("poster", f"/media/{self.id}/poster")

    @property
    def api(self) -> str:
        return f"{self.base}/api/media/{self.id}"

    @property
    def duration(self) -> float:
        return float(self.record["duration"])

    @property
    def tracks(self) -> list[dict[str, Any]]:
        return list(self.record.get("tracks") or [])


@dataclass
class Library:
    """The session's server and clips. Tests must not change these clips: upload their own."""

    server: Server
    video: Clip
    audio: Clip
    gone: Clip  # uploaded, then its file deleted from disk: the "no media" state
    has_tracks_route: bool
    extra: dict[str, Clip] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def upload(self, path: Path, **fields: str) -> Clip:
        """Upload one more clip (loopback, no token) and wait until it is ready."""
        return upload(self.server, path, **fields)

    def add_track(self, clip: Clip, vtt: str, **fields: str) -> Clip:
        """Add a track (kind, srclang, label) to a clip; the clip with its new record."""
        return add_track(self.server, clip, vtt, **fields)

    def require_tracks(self) -> None:
        """Skip, saying why, while the tracks route is not on main yet."""
        if not self.has_tracks_route:
            pytest.skip(f"POST {TRACKS_ROUTE} does not exist yet: no captions to test")


def fetch_record(server: Server, media_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/media/{media_id}", timeout=10)
    assert response.status_code == 200, f"GET {media_id}: {response.status_code} {response.text}"
    record: dict[str, Any] = response.json()
    return record


def upload(server: Server, path: Path, timeout: float = 60, **fields: str) -> Clip:
    with path.open("rb") as body:
        response = httpx.post(
            f"{server.url}/api/media",
            files={"file": (path.name, body, "application/octet-stream")},
            data=fields,
            timeout=timeout,
        )
    assert response.status_code == 201, (
        f"upload of {path.name}: {response.status_code} {response.text}"
    )
    record: dict[str, Any] = response.json()
    deadline = time.monotonic() + timeout
    while record.get("status") == "processing" and time.monotonic() < deadline:
        time.sleep(0.2)
        record = fetch_record(server, record["id"])
    assert record.get("status") == "ready", f"{path.name} did not become ready: {record}"
    return Clip(id=record["id"], record=record, base=server.url)


def add_track(server: Server, clip: Clip, vtt: str, **fields: str) -> Clip:
    form = {"kind": "captions", "srclang": "en", "label": "English"} | fields
    response = httpx.post(
        f"{server.url}/api/media/{clip.id}/tracks",
        files={"file": (f"{form['kind']}.{form['srclang']}.vtt", vtt.encode(), "text/vtt")},
        data=form,
        timeout=30,
    )
    assert response.status_code in (200, 201), (
        f"POST {TRACKS_ROUTE} exists but refused a good WebVTT file for {clip.id}: "
        f"{response.status_code} {response.text}"
    )
    return Clip(id=clip.id, record=fetch_record(server, clip.id), base=clip.base)


def tracks_route_exists(server: Server) -> bool:
    """True once the app documents POST /api/media/{id}/tracks (whatever its parameter name)."""
    paths = httpx.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]
    pattern = re.compile(r"^/api/media/\{[^}]+\}/tracks$")
    return any(pattern.match(p) and "post" in ops for p, ops in paths.items())


def delete_clip_file(media_dir: Path, clip: Clip) -> None:
    """Remove the clip's original file from storage behind the app's back."""
    originals = [p for p in media_dir.rglob("original.*") if clip.id in p.parts]
    assert originals, f"no stored file for {clip.id} under {media_dir}"
    for path in originals:
        path.unlink()


@pytest.fixture(scope="session")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env["AMPS_SIGNING_KEYS"] = SIGNING_KEY  # for signed embeds of private clips
    media_dir = tmp_path_factory.mktemp("browser") / "media"
    running = Server(media_dir=media_dir, port=free_port(), env=env)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def library(browser_server: Server, media_files: dict[str, Path]) -> Library:
    """Uploaded once per session; read-only for tests."""
    server = browser_server
    video = upload(
        server,
        media_files["video.mp4"],
        title="Test pattern with a tone",
        description="A 3:25 test pattern and a 440 Hz tone, made by ffmpeg.",
        language="en",
    )
    audio = upload(
        server,
        media_files["cbr.mp3"],
        title="A tone in pink noise",
        description="3:25 of a 440 Hz tone in pink noise, loud then quiet.",
        language="en",
    )
    gone = upload(server, media_files["video.webm"], title="A clip whose file is gone")
    delete_clip_file(server.media_dir, gone)
    status = httpx.get(gone.stream, timeout=10).status_code
    assert status not in (200, 206), f"the deleted clip's stream still answers {status}"

    has_tracks = tracks_route_exists(server)
    if has_tracks:
        video = add_track(server, video, CAPTIONS_VTT)
        audio = add_track(server, audio, CAPTIONS_VTT)
        for clip in (video, audio):
            assert clip.tracks, f"the track added to {clip.id} is not in its record: {clip.record}"
    return Library(server=server, video=video, audio=audio, gone=gone, has_tracks_route=has_tracks)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, once per session (never `playwright install`)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make install`"
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield chromium
    chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page_errors() -> Iterator[ErrorLog]:
    log = ErrorLog()
    yield log
    log.check()


@pytest.fixture
def new_page(
    browser: Browser, page_errors: ErrorLog, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """new_page(**context_options) -> a page in its own fresh context, watched for errors."""
    contexts = []
    pages: list[Page] = []

    def make(**options: Any) -> Page:
        options.setdefault("viewport", {"width": 1280, "height": 720})
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page_errors.watch(page)
        pages.append(page)
        return page

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for number, page in enumerate(pages):
            if not page.is_closed():
                screenshot(page, f"FAILED-{request.node.name}-{number}", full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A fresh page (1280x720, English) in its own context."""
    return new_page()
