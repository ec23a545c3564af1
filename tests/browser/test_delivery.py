"""Delivery in Chromium: the player in one script and one stylesheet, "Loading, please wait"
said on a slow link before the media is ready; (with a ladder) the rendition chosen, a
forced switch, "listen only" and the quality menu."""

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from tests import media
from tests.browser.conftest import Clip, Library, fetch_record
from tests.browser.helpers import (
    assert_no_axe_violations,
    ax_find,
    ax_name,
    ax_one,
    ax_tree,
    screenshot,
    throttle,
    wait_for_media,
)
from tests.conftest import MEDIA_CACHE

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


# --- the rendition ladder: the player chooses, the quality menu --------------------------------


@pytest.fixture(scope="module")
def laddered(library: Library) -> Clip:
    """The shared 33 s 720p clip, once its ladder is made by the server's own job."""
    clip = library.upload(media.ladder_clip(MEDIA_CACHE), title="A 720p test pattern")
    deadline = time.monotonic() + 150
    while not clip.record["renditions"] and time.monotonic() < deadline:
        time.sleep(0.5)
        clip = Clip(id=clip.id, record=fetch_record(library.server, clip.id), base=clip.base)
    assert [r["name"] for r in clip.record["renditions"]] == ["240p", "360p", "720p", "audio"]
    return clip


def playing_file(page: Page) -> str:
    return str(page.eval_on_selector("video", "m => m.currentSrc")).rpartition("/")[2]


def open_embed(page: Page, clip: Clip) -> None:
    page.goto(clip.embed)
    page.wait_for_selector("[data-amps-player].amps-scripted")


@pytest.mark.parametrize(("width", "expected"), [(320, "240p.mp4"), (1280, "720p.mp4")])
def test_the_player_chooses_a_rendition_for_its_size(
    new_page: Callable[..., Page], laddered: Clip, width: int, expected: str
) -> None:
    page = new_page(viewport={"width": width, "height": width * 9 // 16 + 120})
    open_embed(page, laddered)
    assert playing_file(page) == expected
    wait_for_media(page, "m.readyState >= 1")
    name = expected.removesuffix(".mp4")
    assert ax_one(page, "button", f"Quality: Auto ({name})")


def said(page: Page, text: str) -> None:
    """The status region (role=status, visually hidden) says `text`."""
    page.wait_for_function(f"() => document.querySelector('.amps-status').textContent == {text!r}")


def choose(page: Page, label: str) -> None:
    page.click("[data-menu=quality]")
    page.click(f"#amps-quality-menu label:has-text('{label}')")


def test_a_forced_switch_and_listen_only_keep_the_position(page: Page, laddered: Clip) -> None:
    open_embed(page, laddered)
    assert playing_file(page) == "720p.mp4"
    page.click("[data-control=play]")
    wait_for_media(page, "m.currentTime > 0.2 && !m.paused")
    page.eval_on_selector("video", "m => { m.currentTime = 12; }")
    wait_for_media(page, "m.currentTime > 12.2 && !m.paused")
    choose(page, "240p")
    state = wait_for_media(page, "m.currentSrc.endsWith('/240p.mp4') && m.currentTime > 12")
    assert 12 < state["currentTime"] < 16 and not state["paused"], state
    said(page, "Quality: 240p")
    screenshot(page, "quality-menu-240p")

    choose(page, "Listen only")
    state = wait_for_media(page, "m.currentSrc.endsWith('/audio.m4a') && m.currentTime > 12.5")
    assert not state["paused"] and state["currentTime"] < 18, state
    assert page.eval_on_selector("video", "m => m.videoWidth") == 0  # sound alone: the poster
    assert page.get_attribute("video", "poster")
    said(page, "Quality: Listen only")
    screenshot(page, "quality-listen-only")
    page.reload()  # the choice is kept
    page.wait_for_selector("[data-amps-player].amps-scripted")
    assert playing_file(page) == "audio.m4a"
    assert ax_one(page, "button", "Quality: Listen only")


def test_quality_menu_keyboard_and_axe(page: Page, laddered: Clip) -> None:
    open_embed(page, laddered)
    button = "[data-menu=quality]"
    page.focus(button)
    page.keyboard.press("Enter")
    assert page.get_attribute(button, "aria-expanded") == "true"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.value") == "auto"
    screenshot(page, "quality-menu-open")
    assert_no_axe_violations(page)
    names = [ax_name(node) for node in ax_find(ax_tree(page), "radio")]
    assert "Auto (720p)" in names and "Listen only" in names and "360p" in names, names
    page.keyboard.press("ArrowDown")  # native radios: 240p
    wait_for_media(page, "m.currentSrc.endsWith('/240p.mp4')")
    assert page.is_visible("#amps-quality-menu"), "an arrow key closed the menu"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.dataset.menu") == "quality"
    assert ax_one(page, "button", "Quality: 240p")


def test_clips_without_a_ladder_have_no_quality_menu(page: Page, library: Library) -> None:
    open_embed(page, library.video)
    assert page.query_selector("[data-menu=quality]") is None
    assert (
        playing_file(page)
        == urlsplit(library.video.record["urls"]["playable"]).path.rpartition("/")[2]
    )


def test_the_described_version_of_a_laddered_clip(
    page: Page, library: Library, laddered: Clip
) -> None:
    """The quality menu plays the programme's renditions; the described version is one file:
    chosen, it plays (the ladder steps aside and its menu hides), and going back the ladder
    picks again, at the same moment both ways."""
    with media.ladder_clip(MEDIA_CACHE).open("rb") as body:  # same length: a fine stand-in
        answer = httpx.post(f"{library.url}/api/media/{laddered.id}/versions",
                            files={"file": ("described.mp4", body)}, data={"role": "described"},
                            timeout=60)  # fmt: skip
    assert answer.status_code == 201, answer.text
    try:
        open_embed(page, laddered)
        assert playing_file(page) == "720p.mp4"
        page.eval_on_selector("video", "m => { m.currentTime = 10; }")
        wait_for_media(page, "!m.seeking && m.readyState >= 2")
        page.click("[data-menu=description]")
        page.get_by_role("checkbox", name="Described version").check()
        state = wait_for_media(page, "m.currentSrc.endsWith('/versions/described') && "
                                     "!m.seeking && m.readyState >= 2")  # fmt: skip
        assert 9.5 < state["currentTime"] < 10.5, state
        assert page.is_hidden("[data-menu=quality]")
        assert_no_axe_violations(page)
        if not page.is_visible("#amps-description-menu"):
            page.click("[data-menu=description]")
        page.get_by_role("checkbox", name="Described version").uncheck()
        state = wait_for_media(page, "m.currentSrc.endsWith('/720p.mp4') && "
                                     "!m.seeking && m.readyState >= 2")  # fmt: skip
        assert 9.5 < state["currentTime"] < 10.5, state
        assert page.is_visible("[data-menu=quality]")
        if not page.is_visible("#amps-description-menu"):
            page.click("[data-menu=description]")
        page.get_by_role("checkbox", name="Described version").check()
        page.reload()  # the choice is kept: the ladder stays aside from the start
        page.wait_for_selector("[data-amps-player].amps-scripted")
        wait_for_media(page, "m.currentSrc.endsWith('/versions/described') && m.readyState >= 1")
        assert page.is_hidden("[data-menu=quality]")
    finally:
        httpx.delete(f"{library.url}/api/media/{laddered.id}/versions/described", timeout=30)


# Where the 720p file played last, and every switch of file with the time it happened at.
WATCH_SWITCHES = """
window.__last = 0; window.__switches = [];
document.addEventListener("timeupdate", (e) => {
  const m = e.target, file = m.currentSrc.split("/").pop();
  if (file == "720p.mp4" && m.currentTime) window.__last = m.currentTime; // not the reset to 0
}, true);
document.addEventListener("loadedmetadata", (e) => {
  window.__switches.push(e.target.currentSrc.split("/").pop());
}, true);
"""


def test_auto_steps_down_after_stalls_from_the_same_moment(
    new_page: Callable[..., Page], laddered: Clip
) -> None:
    """A link too slow for 720p: after two stalls Auto plays a lower rendition, from where
    the reader was, still playing; the quality button says so."""
    rates = {r["name"]: r["bitrate"] for r in laddered.record["renditions"]}
    page = new_page()  # 1280 px wide: Auto starts at 720p
    page.add_init_script(WATCH_SWITCHES)
    throttle(page, download_kbps=0.6 * rates["720p"] / 1000, latency_ms=80)
    page.goto(laddered.embed, wait_until="commit")
    page.wait_for_selector("[data-amps-player].amps-scripted", timeout=30_000)
    assert playing_file(page) == "720p.mp4"
    page.click("[data-control=play]")
    state = wait_for_media(page, "!m.currentSrc.endsWith('/720p.mp4')", timeout=90)
    last = page.evaluate("window.__last")
    assert last > 0.5, "it stepped down before playing"
    lower = playing_file(page)
    assert lower in ("360p.mp4", "240p.mp4"), state
    state = wait_for_media(page, f"!m.paused && m.currentTime > {last}", timeout=60)
    assert state["currentTime"] < last + 6, (last, state)  # from there, not from the start
    assert ax_one(page, "button", f"Quality: Auto ({lower.removesuffix('.mp4')})")
