"""Delivery in Chromium: the player in one script and one stylesheet, "Loading, please wait"
said on a slow link before the media is ready; (with a ladder) the rendition chosen, a
forced switch, "listen only" and the quality menu."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page

from tests.browser.conftest import Library
from tests.browser.helpers import throttle

# Status texts and media readiness as they happen, from the first byte of the page on.
WATCH_STATUS = """
window.__log = [];
const seen = (what) => window.__log.push([what, performance.now()]);
new MutationObserver(() => {
  const region = document.querySelector(".amps-status");
  if (region && region.textContent) seen("status:" + region.textContent);
}).observe(document, { subtree: true, childList: true, characterData: true });
document.addEventListener("loadedmetadata", () => seen("loadedmetadata"), true);
"""


def requests_of(page: Page) -> list[tuple[str, str]]:
    """Every request the page makes: (resource type, path)."""
    seen: list[tuple[str, str]] = []
    page.on("request", lambda r: seen.append((r.resource_type, urlsplit(r.url).path)))
    return seen


def test_embed_loads_one_script_and_one_stylesheet(page: Page, library: Library) -> None:
    seen = requests_of(page)
    page.goto(library.video.embed)
    page.wait_for_selector("[data-amps-player].amps-scripted")
    scripts = [path for kind, path in seen if kind == "script"]
    styles = [path for kind, path in seen if kind == "stylesheet"]
    assert len(scripts) == 1 and scripts[0].endswith("/build/player.js"), seen
    assert len(styles) == 1 and styles[0].endswith("/player.css"), seen


def loading_log(page: Page, url: str) -> list[tuple[str, float]]:
    """A cold load at 300 ms round trip and 1.6 Mbit/s: the status texts and metadata, in order."""
    page.add_init_script(WATCH_STATUS)
    cdp = throttle(page, download_kbps=1600, upload_kbps=750, latency_ms=300)
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    page.goto(url)
    page.wait_for_function("() => window.__log.some(([w]) => w == 'loadedmetadata')")
    log: list[Any] = page.evaluate("window.__log")
    return [(what, at) for what, at in log]


def test_loading_is_said_before_the_media_is_ready_on_a_slow_link(
    new_page: Callable[..., Page], library: Library
) -> None:
    for clip in (library.video, library.audio):
        log = loading_log(new_page(), clip.embed)
        events = [what for what, _ in log]
        assert "status:Loading, please wait" in events, (clip.record["kind"], log)
        assert events.index("status:Loading, please wait") < events.index("loadedmetadata"), log
