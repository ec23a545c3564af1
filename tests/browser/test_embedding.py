"""Embedding from another origin (embed.js, amps-api.js, postMessage) and the site's pages."""

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from app.catalog.database import Catalog, new_id
from app.catalog.models import Media
from app.config import Settings
from app.storage.base import media_key
from tests.browser.conftest import Library
from tests.browser.helpers import assert_no_axe_violations, screenshot, throttle
from tests.conftest import stored_files
from tests.e2e.conftest import Server, free_port

HOST_SCRIPT = """
const events = (window.ampsEvents = []);
function attach() {
  const frame = document.querySelector("iframe[src*='/embed/']");
  if (!frame) return setTimeout(attach, 50);
  const player = (window.ampsPlayer = new AmpsPlayer(frame));
  for (const name of ["ready", "play", "pause", "timeupdate", "seeked", "ended", "error"])
    player.on(name, (state) => events.push({ name, time: state.currentTime, id: state.id }));
}
attach();
"""


class HostSite:
    """A second local origin serving host pages, as a news site would."""

    def __init__(self, pages: dict[str, str], port: int | None = None) -> None:
        self.pages = pages
        self.port = port or free_port()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/favicon.ico":
                    self.send_response(204)
                    self.end_headers()
                    return
                body = site.pages.get(self.path.split("?")[0])
                kind = "text/javascript" if self.path.endswith(".js") else "text/html"
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not here").encode())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def host_page(amps: str, clip_id: str, extra: str = "") -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>A news article</title></head><body><main><h1>Council votes</h1>{extra}
<div data-amps-id="{clip_id}"></div>
<script src="{amps}/static/embed.js" async></script>
<script src="{amps}/static/amps-api.js"></script>
<script src="/host.js"></script></main></body></html>"""


@pytest.fixture
def host(library: Library) -> Iterator[Callable[[str], HostSite]]:
    sites: list[HostSite] = []

    def make(amps_url: str, clip_id: str | None = None) -> HostSite:
        clip_id = clip_id or library.video.id
        site = HostSite({"/": host_page(amps_url, clip_id), "/host.js": HOST_SCRIPT})
        sites.append(site)
        return site

    yield make  # type: ignore[misc]
    for site in sites:
        site.close()


def events(page: Page, name: str) -> list[dict[str, object]]:
    return [e for e in page.evaluate("window.ampsEvents || []") if e["name"] == name]


def test_host_page_embeds_and_drives_the_player(
    page: Page, library: Library, host: Callable[[str], HostSite]
) -> None:
    site = host(library.url)
    page.goto(site.url)
    frame = page.locator("iframe")
    frame.wait_for()
    assert frame.get_attribute("title") == library.video.record["title"]
    assert frame.get_attribute("loading") == "lazy"
    assert frame.get_attribute("src") == library.video.embed
    page.wait_for_function("() => window.ampsEvents.some((e) => e.name === 'ready')")
    assert events(page, "ready")[0]["id"] == library.video.id
    page.evaluate("window.ampsPlayer.play()")
    page.wait_for_function(
        "() => window.ampsEvents.filter((e) => e.name === 'timeupdate').length >= 3"
    )
    assert events(page, "play")
    page.evaluate("window.ampsPlayer.seek(100)")
    page.wait_for_function("() => window.ampsEvents.some((e) => e.name === 'seeked')")
    assert abs(float(events(page, "seeked")[-1]["time"]) - 100) < 1  # type: ignore[arg-type]
    state = page.evaluate("window.ampsPlayer.pause()")
    assert state["paused"] is True and state["id"] == library.video.id
    box = frame.bounding_box()
    assert box and abs(box["width"] / box["height"] - 16 / 9) < 0.02
    screenshot(page, "host-page-embed")


def test_timeupdate_comes_about_four_times_a_second(
    page: Page, library: Library, host: Callable[[str], HostSite]
) -> None:
    page.goto(host(library.url).url)
    page.wait_for_function(
        "() => window.ampsEvents && window.ampsEvents.some((e) => e.name === 'ready')"
    )
    page.evaluate("window.ampsPlayer.play()")
    page.wait_for_function("() => window.ampsEvents.some((e) => e.name === 'play')")
    page.wait_for_timeout(2000)
    count = len(events(page, "timeupdate"))
    assert 5 <= count <= 10, count


ATTACKER = """<!doctype html><title>ad</title><script>
setTimeout(() => {
  for (let i = 0; i < parent.frames.length; i++)
    if (parent.frames[i] !== window)
      parent.frames[i].postMessage({amps: 1, method: "play", requestId: 7}, "*");
  parent.postMessage("attacked", "*");
}, 1500);
</script>"""


@pytest.fixture
def allowed_port() -> int:
    return free_port()


@pytest.fixture
def restricted_server(
    tmp_path: Path, library: Library, media_files: dict[str, Path], allowed_port: int
) -> Iterator[tuple[Server, str]]:
    """An amps server whose players only obey (and only let frame them) one allowed origin."""
    env = {**library.server.env, "AMPS_EMBED_ORIGINS": f"http://127.0.0.1:{allowed_port}"}
    server = Server(media_dir=tmp_path / "restricted", port=free_port(), env=env)
    server.start()
    with media_files["video.mp4"].open("rb") as handle:
        record = httpx.post(f"{server.url}/api/media", files={"file": ("v.mp4", handle)}).json()
    yield server, record["id"]
    server.stop()


def test_messages_from_origins_outside_the_allowed_list_are_ignored(
    page: Page, restricted_server: tuple[Server, str], allowed_port: int
) -> None:
    server, clip_id = restricted_server
    attacker = HostSite({"/": ATTACKER})
    extra = f'<iframe src="{attacker.url}/" title="Advertisement"></iframe>'
    site = HostSite(
        {"/": host_page(server.url, clip_id, extra), "/host.js": HOST_SCRIPT}, allowed_port
    )
    try:
        page.goto(site.url)
        page.wait_for_function(
            "window.ampsEvents && window.ampsEvents.some((e) => e.name === 'ready')"
        )
        player = page.frame_locator(f"iframe[src^='{server.url}']").locator("video")
        page.wait_for_timeout(2500)  # the attacker frame posts its command after 1.5 s
        assert player.evaluate("v => v.paused") is True, "a foreign origin started the player"
        state = page.evaluate("window.ampsPlayer.play()")
        assert state["id"] == clip_id
        page.wait_for_function("() => window.ampsEvents.some((e) => e.name === 'play')")
    finally:
        attacker.close()
        site.close()


def test_frame_ancestors_stops_framing_by_other_origins(
    page: Page,
    page_errors: object,
    restricted_server: tuple[Server, str],
    host: Callable[..., HostSite],
) -> None:
    server, clip_id = restricted_server
    page_errors.allow(
        r"violates the following Content Security Policy directive: \"frame-ancestors"
    )  # type: ignore[attr-defined]
    page.goto(host(server.url, clip_id).url)
    page.locator("iframe").wait_for()
    page.wait_for_timeout(1500)
    assert page.frame_locator("iframe").locator("video").count() == 0
    assert page.evaluate("window.ampsEvents.length") == 0


def test_upload_page_shows_progress_and_links_the_new_clip(
    page: Page, library: Library, media_files: dict[str, Path]
) -> None:
    page.goto(f"{library.url}/upload")
    page.set_input_files("#amps-file", media_files["audio.flac"])
    page.fill("#amps-title", "Uploaded from Chromium")
    page.click("button.amps-submit")
    link = page.locator(".amps-upload-status a")
    link.wait_for(timeout=30_000)
    assert page.locator("progress").evaluate("p => p.value") == 100
    assert link.inner_text() == "Uploaded from Chromium"
    assert page.evaluate("document.activeElement.textContent") == "Uploaded from Chromium"
    page.goto(library.url + "/")
    assert page.get_by_role("link", name="Uploaded from Chromium").count() == 1


def test_cancelling_an_upload_keeps_nothing(
    page: Page, library: Library, media_files: dict[str, Path], tmp_path: Path
) -> None:
    before = httpx.get(f"{library.url}/api/media").json()["total"]
    media_dir = library.server.media_dir
    # Other tests' posters are rendered in the background: compare the clips' files only.
    files_before = stored_files(media_dir, posters=False, temp=False)
    page.goto(f"{library.url}/upload")
    page.set_input_files("#amps-file", media_files["audio.flac"])
    session = throttle(page, download_kbps=10_000, upload_kbps=800, latency_ms=20)
    page.click("button.amps-submit")
    # Polled from here: wait_for_function evaluates a string, which our CSP forbids.
    deadline = time.monotonic() + 15
    while page.evaluate("document.querySelector('progress').value") < 5:
        assert time.monotonic() < deadline, "the progress bar never moved"
        time.sleep(0.05)
    cancel = page.locator("button.amps-cancel")
    assert cancel.is_visible() and page.evaluate("document.activeElement.className").endswith(
        "amps-cancel"
    )
    cancel.click()
    page.get_by_text("Upload cancelled. Nothing was kept.").wait_for()
    session.detach()
    deadline = time.monotonic() + 10
    while stored_files(media_dir, posters=False) != files_before and time.monotonic() < deadline:
        time.sleep(0.1)  # until the aborted upload's temp file is gone too
    assert stored_files(media_dir, posters=False) == files_before
    assert httpx.get(f"{library.url}/api/media").json()["total"] == before


@pytest.mark.parametrize("path", ["/", "/upload", "WATCH", "/?q=nothing-matches"])
def test_site_pages_have_no_axe_violations(page: Page, library: Library, path: str) -> None:
    page.goto(library.video.watch if path == "WATCH" else library.url + path)
    page.wait_for_load_state("networkidle")
    assert_no_axe_violations(page)


def test_upload_error_is_announced_next_to_the_field(
    page: Page, page_errors: object, library: Library, tmp_path: Path
) -> None:
    page_errors.allow(r"status of 415 \(Unsupported Media Type\)")  # type: ignore[attr-defined]
    fake = tmp_path / "song.mp3"
    fake.write_text("not audio\n" * 100)
    page.goto(f"{library.url}/upload")
    page.set_input_files("#amps-file", fake)
    page.click("button.amps-submit")
    error = page.locator("#amps-file-error")
    error.wait_for()
    assert "audio or video" in error.inner_text().lower() or error.inner_text()
    assert page.get_attribute("#amps-file", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "amps-file"
    assert_no_axe_violations(page)


def test_library_shows_a_processing_clip_turning_ready_without_a_reload(
    page: Page, library: Library
) -> None:
    catalog = Catalog(Settings(media_dir=library.server.media_dir).catalog_url)
    media_id = new_id()
    catalog.add(
        Media(
            id=media_id, title="Still processing zebra", kind="audio", status="processing",
            duration=5.0, mime_type="audio/mpeg", size=1, codecs=[], tags={},
            storage_key=media_key(media_id, "original.mp3"), sha256="0",
        )
    )  # fmt: skip
    try:
        page.goto(f"{library.url}/?q=zebra")
        status = page.locator(f'[data-id="{media_id}"] .amps-library-status')
        assert status.inner_text() == "Processing"
        catalog.update(media_id, status="ready")
        deadline = time.monotonic() + 10
        while status.inner_text() != "Ready":
            assert time.monotonic() < deadline, "the status never changed"
            time.sleep(0.2)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    finally:
        catalog.delete(media_id)
        catalog.dispose()


def test_watch_page_of_a_processing_clip_says_wait_then_plays_without_a_reader_reload(
    page: Page, library: Library, media_files: dict[str, Path]
) -> None:
    """A record set `processing` by hand (no job of this server's runs for it): the page says
    so, then reloads itself once the record turns ready, and the player plays."""
    from app.storage.local import LocalStorage

    catalog = Catalog(Settings(media_dir=library.server.media_dir).catalog_url)
    media_id = new_id()
    key = media_key(media_id, "original.mp4")
    data = media_files["video.mp4"].read_bytes()
    LocalStorage(library.server.media_dir).put_bytes(key, data, "video/mp4")
    catalog.add(
        Media(
            id=media_id, title="Still being prepared", kind="video", status="processing",
            duration=205.0, mime_type="video/mp4", size=len(data), codecs=["h264", "aac"],
            tags={}, storage_key=key, sha256="0" * 64,
        )
    )  # fmt: skip
    try:
        page.goto(f"{library.url}/media/{media_id}")
        assert "please wait" in page.inner_text(".amps-status")
        assert page.locator("video").count() == 0
        # The message sits on an empty stage, clear of the clip's length below it.
        status = page.locator(".amps-status").bounding_box()
        time_line = page.locator(".amps-time").bounding_box()
        assert status is not None and time_line is not None
        assert status["y"] + status["height"] <= time_line["y"], (status, time_line)
        catalog.update(media_id, status="ready")
        page.locator("video.amps-media").wait_for(timeout=15_000)
        assert page.get_attribute("[data-amps-player]", "data-state") == "ready"
        page.wait_for_function("() => document.querySelector('video').readyState >= 1")
    finally:
        catalog.delete(media_id)
        catalog.dispose()
