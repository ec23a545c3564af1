"""A clip's versions in Chromium: the described version swapped in at the same moment, the
sign-language window kept in time and moved by keyboard, the no-script links; axe-core in
every state. One ~2-minute clip at a tiny size, with versions made by ffmpeg."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import CAPTIONS_VTT, Clip, Library, fetch_record
from tests.browser.helpers import assert_no_axe_violations, narrow, screenshot, wait_for_media
from tests.browser.test_player import open_player
from tests.media import ffmpeg

LENGTH = 120
TINY = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", "20k", "-g", "20"]
MAIN = "video.amps-media"
SIGN = "video.amps-sign-video"
BOX = ".amps-sign"


@pytest.fixture(scope="module")
def clip(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """The programme (a pattern and a 440 Hz tone), its described version (a 660 Hz tone) and
    a sign-language video (SMPTE bars, no sound), all LENGTH s long; English captions."""
    directory = tmp_path_factory.mktemp("versions")
    pattern = f"testsrc2=size=96x54:rate=10:duration={LENGTH}"
    made = {}
    for name, tone in (("programme.mp4", 440), ("described.mp4", 660)):
        made[name] = directory / name
        ffmpeg("-f", "lavfi", "-i", pattern, "-f", "lavfi", "-i",
               f"sine=frequency={tone}:duration={LENGTH}", *TINY, "-c:a", "aac", "-b:a", "16k",
               "-shortest", "-movflags", "+faststart", str(made[name]))  # fmt: skip
    made["sign.mp4"] = directory / "sign.mp4"
    ffmpeg("-f", "lavfi", "-i", f"smptebars=size=64x48:rate=10:duration={LENGTH}", *TINY,
           "-an", "-movflags", "+faststart", str(made["sign.mp4"]))  # fmt: skip
    programme = library.upload(made["programme.mp4"], title="A programme with versions")
    programme = library.add_track(programme, CAPTIONS_VTT)
    for role in ("described", "sign"):
        with made[f"{role}.mp4"].open("rb") as body:
            answer = httpx.post(
                f"{library.url}/api/media/{programme.id}/versions",
                files={"file": (f"{role}.mp4", body)},
                data={"role": role},
                timeout=30,
            )
        assert answer.status_code == 201, answer.text
    record = fetch_record(library.server, programme.id)
    assert [v["role"] for v in record["versions"]] == ["described", "sign"]
    return Clip(id=programme.id, record=record, base=programme.base)


@pytest.fixture
def watch(page: Page, clip: Clip) -> Iterator[Page]:
    open_player(page, clip.watch)
    yield page


def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """() => { const m = document.querySelector('video.amps-media');
        const s = document.querySelector('video.amps-sign-video');
        return {time: m.currentTime, paused: m.paused, src: m.currentSrc, rate: m.playbackRate,
                sign: s.currentTime, signPaused: s.paused, signRate: s.playbackRate,
                signMuted: s.muted}; }"""
    )
    return result


def swap(page: Page) -> float:
    """Tick 'Described version' in the audio description menu; the time it was ticked at."""
    page.click("[data-menu=description]")
    at: float = page.evaluate(
        """() => { const m = document.querySelector('video.amps-media');
        window.ampsSeeked = null;
        m.addEventListener('seeked', () => (window.ampsSeeked = m.currentTime), {once: true});
        const at = m.currentTime;
        document.querySelector('.amps-described').click();
        return at; }"""
    )
    return at


def test_described_version_swaps_at_the_same_moment_and_state(watch: Page, clip: Clip) -> None:
    page = watch
    described = f"{clip.watch}/versions/described"
    page.click("[data-menu=description]")
    menu = page.locator("#amps-description-menu")
    assert menu.get_by_role("checkbox", name="Described version").is_visible()
    screenshot(page, "versions-described-menu")
    assert_no_axe_violations(page)
    page.keyboard.press("Escape")
    page.evaluate("document.querySelector('video.amps-media').currentTime = 100")
    wait_for_media(page, "!m.seeking && m.readyState >= 2", MAIN)
    page.click("[data-control=play]")
    wait_for_media(page, "!m.paused && m.currentTime > 100.3", MAIN)

    at = swap(page)
    page.wait_for_function("() => window.ampsSeeked !== null")
    assert abs(page.evaluate("window.ampsSeeked") - at) < 0.5
    now = wait_for_media(page, "!m.paused && m.readyState >= 3", MAIN)
    assert now["src"] == described and abs(now["currentTime"] - at) < 1.5, now
    assert page.locator(".amps-described-status").inner_text() == "Described version on"
    assert page.locator(".amps-described").is_checked()
    assert_no_axe_violations(page)

    page.click("[data-control=play]")  # pause, then back to the programme: still paused
    wait_for_media(page, "m.paused", MAIN)
    at = swap(page)
    page.wait_for_function("() => window.ampsSeeked !== null")
    assert abs(page.evaluate("window.ampsSeeked") - at) < 0.5
    time.sleep(0.3)
    now = state(page)
    assert now["paused"] and now["src"] == clip.record["urls"]["playable"], now
    assert page.locator(".amps-described-status").inner_text() == "Described version off"

    # Kept like the other preferences: ticked again, the next visit starts described.
    swap(page)
    page.wait_for_function("() => window.ampsSeeked !== null")
    open_player(page, clip.watch)
    wait_for_media(page, f"m.currentSrc == {described!r}", MAIN)


def test_embed_asks_for_the_described_version(page: Page, clip: Clip) -> None:
    open_player(page, f"{clip.embed}?described=1")
    wait_for_media(page, f"m.currentSrc == {clip.watch + '/versions/described'!r}", MAIN)
    page.click("[data-menu=description]")
    assert page.locator(".amps-described").is_checked()
    assert_no_axe_violations(page)


def drift(page: Page) -> float:
    now = state(page)
    return abs(now["sign"] - now["time"])


def settled(page: Page, seconds: float = 1.5) -> float:
    """The largest drift seen over the last part of `seconds` of playback."""
    time.sleep(seconds / 2)
    worst = 0.0
    for _ in range(5):
        worst = max(worst, drift(page))
        time.sleep(seconds / 10)
    return worst


def test_sign_window_follows_the_programme(watch: Page, clip: Clip) -> None:
    page = watch
    toggle = page.locator("[data-control=sign]")
    assert toggle.get_attribute("aria-pressed") == "false" and page.locator(BOX).is_hidden()
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and page.locator(BOX).is_visible()
    page.click("[data-control=play]")
    wait_for_media(page, "!m.paused && m.readyState >= 3", SIGN)
    assert settled(page) < 0.3
    assert state(page)["signMuted"]
    page.evaluate("document.querySelector('video.amps-media').currentTime = 60")
    wait_for_media(page, "!m.seeking && m.currentTime > 60.2", MAIN)
    assert settled(page) < 0.3
    page.evaluate("document.querySelector('video.amps-media').playbackRate = 1.5")
    assert settled(page, 2.5) < 0.3
    assert abs(state(page)["signRate"] - 1.5) < 0.16
    page.click("[data-control=play]")
    wait_for_media(page, "m.paused", SIGN)
    assert settled(page, 0.6) < 0.3
    page.evaluate("document.querySelector('video.amps-media').currentTime = 30")
    wait_for_media(page, "!m.seeking && Math.abs(m.currentTime - 30) < 0.3", SIGN)
    toggle.click()
    assert page.locator(BOX).is_hidden() and state(page)["signPaused"]


def box_rect(page: Page, selector: str = BOX) -> dict[str, float]:
    rect: dict[str, float] = page.eval_on_selector(
        selector, "e => e.getBoundingClientRect().toJSON()"
    )
    return rect


def test_sign_window_moves_and_resizes_by_keyboard_and_keeps_clear(watch: Page, clip: Clip) -> None:
    page = watch
    page.click("[data-control=sign]")
    page.click("[data-control=captions]")  # the captions' band is kept clear
    page.evaluate("document.querySelector('video.amps-media').currentTime = 101")
    page.wait_for_selector(".amps-cues span")
    page.focus(BOX)
    help_text = page.locator("#amps-sign-help")
    assert help_text.is_visible() and "Arrow keys move" in help_text.inner_text()
    assert_no_axe_violations(page)
    start = box_rect(page)
    page.keyboard.press("ArrowLeft")
    moved = box_rect(page)
    assert moved["x"] < start["x"] - 5 and moved["y"] == start["y"]
    assert state(page)["time"] == pytest.approx(101, abs=0.3)  # the arrow did not seek
    page.keyboard.press("Shift+ArrowRight")
    bigger = box_rect(page)
    assert bigger["width"] > moved["width"] + 5
    for _ in range(30):
        page.keyboard.press("ArrowDown")
    low = box_rect(page)
    stage, cues = box_rect(page, ".amps-stage"), box_rect(page, ".amps-cues span")
    controls = box_rect(page, ".amps-controls")
    assert low["y"] + low["height"] <= cues["y"] + 1, (low, cues)
    assert low["y"] + low["height"] <= controls["y"] and low["y"] >= stage["y"]
    screenshot(page, "versions-sign-window")
    assert_no_axe_violations(page)

    open_player(page, clip.watch)  # where the reader left it, open
    page.wait_for_selector(f"{BOX}:not([hidden])")
    again = box_rect(page)
    assert (again["x"], again["width"]) == pytest.approx((low["x"], low["width"]), abs=2)


def test_sign_window_at_320_px(page: Page, clip: Clip) -> None:
    narrow(page)
    open_player(page, clip.watch)
    page.click("[data-control=sign]")
    page.click("[data-control=captions]")
    page.evaluate("document.querySelector('video.amps-media').currentTime = 101")
    page.wait_for_selector(".amps-cues span")
    window, stage = box_rect(page), box_rect(page, ".amps-stage")
    cues = box_rect(page, ".amps-cues span")
    assert (
        window["x"] >= stage["x"]
        and window["x"] + window["width"] <= stage["x"] + stage["width"] + 1
    )
    assert window["y"] + window["height"] <= cues["y"] + 1
    screenshot(page, "versions-sign-window-320", full_page=True)
    assert_no_axe_violations(page)


@pytest.mark.parametrize("where", ["watch", "embed"])
def test_without_javascript_links_to_the_versions(
    new_page: Callable[..., Page], clip: Clip, where: str
) -> None:
    url = clip.watch if where == "watch" else clip.embed
    for page in (new_page(java_script_enabled=False), script_off(new_page)):
        page.goto(url)
        described = page.get_by_role("link", name="Described version")
        sign = page.get_by_role("link", name="Sign language video")
        assert described.get_attribute("href") == f"{clip.watch}/versions/described"
        assert sign.get_attribute("href") == f"{clip.watch}/versions/sign"
        assert described.is_visible() and sign.is_visible()
        assert page.get_by_role("link", name="Download the clip").first.is_visible()
    assert_no_axe_violations(page)  # axe cannot run without JavaScript: the player's is off
    served = httpx.head(f"{clip.watch}/versions/sign", timeout=10)
    assert served.headers["content-type"] == "video/mp4"


def script_off(new_page: Callable[..., Page]) -> Page:
    """JavaScript on (for axe-core) but the player's script served empty."""
    page = new_page()
    empty = {"body": "", "content_type": "text/javascript"}
    for script in ("**/build/player.js", "**/player/main.js"):
        page.route(script, lambda route: route.fulfill(**empty))
    return page


def test_the_record_lists_both(clip: Clip) -> None:
    versions = {v["role"]: v for v in clip.record["versions"]}
    assert versions["sign"]["kind"] == "video" and versions["described"]["duration_text"] == "2:00"
