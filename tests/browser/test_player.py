"""The player in Chromium: keyboard, accessibility tree, axe-core, captions, transcript,
states, languages and layout, on the session's clips (and a few of its own uploads)."""

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tests.browser.conftest import CAPTIONS_VTT, Clip, Library
from tests.browser.helpers import (
    ZOOM_200,
    ErrorLog,
    ax_find,
    ax_name,
    ax_one,
    ax_props,
    ax_tree,
    ax_value_text,
    axe_format,
    focus_info,
    forced_colors,
    has_visible_focus,
    media_state,
    narrow,
    run_axe,
    screenshot,
    wait_for_media,
)
from tests.media import ffmpeg

PLAYER = "[data-amps-player]"
DESCRIPTIONS_VTT = """WEBVTT

00:00:01.000 --> 00:00:03.000
A colour test pattern appears.
"""
CHAPTERS_VTT = """WEBVTT

00:00:00.000 --> 00:01:40.000
Opening

00:01:40.000 --> 00:03:25.000
The seek target
"""


def open_player(page: Page, url: str) -> None:
    """Load a page and wait until the script has taken over the player."""
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    page.wait_for_selector(f"{PLAYER}.amps-scripted")


def attr(page: Page, selector: str, name: str) -> str | None:
    return page.get_attribute(selector, name)


def wait_attr(page: Page, selector: str, name: str, value: str) -> None:
    """Media events (volumechange, ratechange) reach the controls as tasks of their own."""
    page.wait_for_selector(f'{selector}[{name}="{value}"]', state="attached", timeout=5000)


def js(page: Page, expression: str) -> Any:
    return page.evaluate(f"() => ({expression})")


def wait_js(page: Page, condition: str, timeout: float = 10) -> None:
    page.wait_for_function(f"() => ({condition})", timeout=timeout * 1000)


def active_in_player(page: Page) -> bool:
    return bool(js(page, f"document.querySelector('{PLAYER}').contains(document.activeElement)"))


def assert_focus_visible(page: Page, step: str) -> dict[str, Any]:
    info = focus_info(page)
    assert info.get("focusVisible") and has_visible_focus(info), f"{step}: no visible focus {info}"
    return info


def tab_into_player(page: Page) -> None:
    for _ in range(15):
        page.keyboard.press("Tab")
        assert_focus_visible(page, "tabbing to the player")
        if active_in_player(page):
            return
    raise AssertionError("15 Tabs never reached the player")


@pytest.fixture(scope="module")
def described(library: Library, media_files: dict[str, Path]) -> Clip:
    """A clip of this module's own with captions, text descriptions and chapters."""
    library.require_tracks()
    clip = library.upload(media_files["video.mp4"], title="Described", language="en")
    clip = library.add_track(clip, CAPTIONS_VTT)
    clip = library.add_track(clip, DESCRIPTIONS_VTT, kind="descriptions", label="Descriptions")
    return library.add_track(clip, CHAPTERS_VTT, kind="chapters", label="Chapters")


@pytest.fixture(scope="module")
def undecodable(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """An MPEG-4 Part 2 + MP3 AVI: ffprobe reads it, Chromium cannot decode it."""
    path = tmp_path_factory.mktemp("avi") / "part2.avi"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=5",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=5",
        "-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest", str(path),
    )  # fmt: skip
    clip = library.upload(path, title="A clip this browser cannot play")
    # Uploads get a web-playable copy now; without it (as a clip from before copies were
    # made, or one whose copy is gone) the player is given the original, which it cannot play.
    from app.catalog.database import Catalog
    from app.config import Settings

    catalog = Catalog(Settings(media_dir=library.server.media_dir).catalog_url)
    try:
        gone = dict.fromkeys(["playable_mime_type", "playable_size", "playable_sha256"])
        assert catalog.record_processing(clip.id, playable_key=None, **gone) is not None
    finally:
        catalog.dispose()
    if library.has_tracks_route:
        clip = library.add_track(clip, CAPTIONS_VTT)
    return clip


@pytest.fixture
def fresh_upload(page_errors: ErrorLog) -> None:
    """A clip just uploaded may not have its poster yet (made in the background): a 404."""
    page_errors.allow(r"status of 404 .*/poster:")


# --- the keyboard ------------------------------------------------------------------------------


def test_keyboard_only_journey(page: Page, library: Library) -> None:
    library.require_tracks()
    open_player(page, library.video.watch)
    tab_into_player(page)
    slider = focus_info(page)
    assert "amps-seek" in slider["className"], f"the first stop in the player: {slider}"

    page.keyboard.press("Space")
    wait_for_media(page, "!m.paused && m.currentTime > 0.3")
    assert "amps-seek" in assert_focus_visible(page, "after Space")["className"]

    before = media_state(page)["currentTime"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for_media(page, f"m.currentTime >= {before + 9}")

    page.keyboard.press("m")
    wait_attr(page, "[data-control=mute]", "aria-pressed", "true")
    assert media_state(page)["muted"]

    page.keyboard.press("c")
    assert attr(page, "[data-control=captions]", "aria-pressed") == "true"
    assert media_state(page)["textTracks"][0]["mode"] == "hidden"  # drawn by the player

    page.keyboard.press(">")
    assert media_state(page)["playbackRate"] == 1.25
    page.wait_for_selector("[data-menu=speed] .amps-rate:text-is('1.25×')")
    assert ax_one(page, "button", "Speed 1.25×")

    page.keyboard.press("?")
    assert js(page, "document.querySelector('#amps-help-dialog').open")
    assert js(page, "document.querySelector('#amps-help-dialog').contains(document.activeElement)")
    assert_focus_visible(page, "in the help dialog")
    page.keyboard.press("Escape")
    assert not js(page, "document.querySelector('#amps-help-dialog').open")
    assert "amps-seek" in assert_focus_visible(page, "after Esc")["className"]

    visited: list[str] = []
    for _ in range(30):
        page.keyboard.press("Tab")
        info = assert_focus_visible(page, f"Tab after {visited[-1:]}")
        if not active_in_player(page):
            break
        visited.append(info["label"] or info["text"] or info["className"])
    else:
        raise AssertionError(f"focus never left the player: {visited}")
    for name in ("Pause", "Mute", "Volume", "Captions", "Keyboard shortcuts"):
        assert any(name in str(v) for v in visited), f"{name} was not reached: {visited}"
    assert not media_state(page)["paused"], "the clip stopped while tabbing"


def test_space_on_a_button_presses_that_button_only(page: Page, library: Library) -> None:
    open_player(page, library.video.embed)
    page.focus("[data-control=mute]")
    page.keyboard.press("Space")
    wait_attr(page, "[data-control=mute]", "aria-pressed", "true")
    assert media_state(page)["paused"], "Space on Mute also played the clip"
    page.focus("[data-control=play]")
    page.keyboard.press("Space")
    wait_for_media(page, "!m.paused")
    page.keyboard.press("Space")
    wait_for_media(page, "m.paused")


def test_volume_slider_keeps_its_own_arrow_keys(page: Page, library: Library) -> None:
    open_player(page, library.video.embed)
    spoken = "document.querySelector('.amps-volume').getAttribute('aria-valuetext')"
    page.focus(".amps-volume")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Home")
    wait_js(page, f"{spoken} == '0%'")  # volumechange comes as a task of its own
    state = media_state(page)
    assert state["volume"] == 0 and state["currentTime"] == 0, state
    page.keyboard.press("ArrowRight")
    wait_js(page, f"{spoken} == '5%'")
    page.focus("[data-control=play]")
    page.keyboard.press("ArrowUp")
    wait_js(page, f"{spoken} == '10%'")


def test_shortcuts_switched_off_stay_off_and_sliders_still_work(
    page: Page, library: Library
) -> None:
    open_player(page, library.video.embed)
    page.click("[data-dialog=amps-help-dialog]")
    page.click(".amps-shortcuts-enabled")
    page.keyboard.press("Escape")
    page.reload()
    page.wait_for_selector(f"{PLAYER}.amps-scripted")
    assert not page.is_checked(".amps-shortcuts-enabled")
    page.focus("[data-control=play]")
    for key in ("m", "k", "?", "5"):
        page.keyboard.press(key)
    state = media_state(page)
    assert not state["muted"] and state["paused"] and state["currentTime"] == 0, state
    assert not js(page, "document.querySelector('#amps-help-dialog').open")
    page.focus(".amps-seek")
    page.keyboard.press("ArrowRight")  # the slider's own key, not a shortcut
    wait_for_media(page, "m.currentTime >= 4.9")


def test_no_shortcuts_outside_the_player(page: Page, library: Library) -> None:
    library.require_tracks()
    open_player(page, library.video.watch)
    page.focus("#amps-transcript-filter")
    page.keyboard.type("mk ")
    page.focus(".amps-home")
    page.keyboard.press("m")
    state = media_state(page)
    assert not state["muted"] and state["paused"], state


def test_menu_disclosure_escape_outside_click_and_tab(page: Page, library: Library) -> None:
    open_player(page, library.video.embed)
    button = "[data-menu=speed]"
    page.focus(button)
    page.keyboard.press("Enter")
    assert attr(page, button, "aria-expanded") == "true"
    assert page.is_visible("#amps-speed-menu")
    page.keyboard.press("Tab")
    assert js(page, "document.activeElement.name") == "amps-speed"
    assert float(js(page, "document.activeElement.value")) == 1
    page.keyboard.press("ArrowDown")  # a native radio group
    assert media_state(page)["playbackRate"] == 1.25
    assert page.is_visible("#amps-speed-menu"), "an arrow key closed the menu"
    page.keyboard.press("Escape")
    assert attr(page, button, "aria-expanded") == "false"
    assert page.is_hidden("#amps-speed-menu")
    assert js(page, "document.activeElement.dataset.menu") == "speed"
    page.wait_for_selector("[data-menu=speed] .amps-rate:text-is('1.25×')")
    assert ax_one(page, "button", "Speed 1.25×")

    page.click(button)
    page.mouse.click(5, 5)
    assert page.is_hidden("#amps-speed-menu"), "a click outside left the menu open"

    page.click(button)
    for _ in range(12):
        page.keyboard.press("Tab")
    assert page.is_hidden("#amps-speed-menu"), "Tab moved on but the menu stayed open"


def test_fullscreen_keeps_focus_where_it_was(page: Page, library: Library) -> None:
    open_player(page, library.video.embed)
    page.focus("[data-control=fullscreen]")
    page.keyboard.press("Enter")
    wait_js(page, "document.fullscreenElement === document.querySelector('#amps-player')")
    wait_attr(page, "[data-control=fullscreen]", "aria-pressed", "true")
    assert js(page, "document.activeElement.dataset.control") == "fullscreen"
    assert page.is_visible(".amps-controls")
    page.keyboard.press("f")
    wait_js(page, "!document.fullscreenElement")
    wait_attr(page, "[data-control=fullscreen]", "aria-pressed", "false")
    assert js(page, "document.activeElement.dataset.control") == "fullscreen"


# --- names and values in Chromium's accessibility tree -----------------------------------------


def test_ax_tree_names_values_and_time(page: Page, library: Library) -> None:
    open_player(page, library.video.embed)
    nodes = ax_tree(page)
    ax_one(nodes, "button", "Play")
    seek = ax_one(nodes, "slider", "Seek")
    assert ax_value_text(page, seek) == "0 seconds of 3 minutes 25 seconds"
    assert ax_value_text(page, ax_one(nodes, "slider", "Volume")) == "100%"
    assert ax_props(ax_one(nodes, "button", "Mute"))["pressed"] == "false"

    page.click("[data-control=play]")
    wait_for_media(page, "!m.paused && m.currentTime > 0.2")
    nodes = ax_tree(page)
    ax_one(nodes, "button", "Pause")
    assert not ax_find(nodes, "button", "Play"), "Play and Pause both in the tree"

    page.click("[data-control=play]")
    page.eval_on_selector("video", "m => { m.currentTime = 65; }")
    wait_for_media(page, "!m.seeking && m.currentTime >= 65")
    wait_js(page, "document.querySelector('.amps-elapsed').textContent == '1:05'")
    nodes = ax_tree(page)
    seek = ax_one(nodes, "slider", "Seek")
    assert ax_value_text(page, seek) == "1 minute 5 seconds of 3 minutes 25 seconds"
    texts = [ax_name(n) for n in nodes if n["role"]["value"] == "StaticText"]
    for expected in ("1:05", "Duration", "3:25", "Remaining", "-2:20"):
        assert expected in texts, f"{expected!r} is not read out: {texts}"
    assert attr(page, ".amps-elapsed", "datetime") == "PT1M5S"

    page.click("[data-control=mute]")
    wait_attr(page, "[data-control=mute]", "aria-pressed", "true")
    assert ax_props(ax_one(page, "button", "Mute"))["pressed"] == "true"


def test_arabic_player_mirrors_but_keeps_the_timeline(page: Page, library: Library) -> None:
    open_player(page, f"{library.video.watch}?lang=ar")
    assert js(page, "document.documentElement.dir") == "rtl"
    play = page.locator("[data-control=play]").bounding_box()
    mute = page.locator("[data-control=mute]").bounding_box()
    assert play and mute and play["x"] > mute["x"], "the control bar is not mirrored"
    assert js(page, "getComputedStyle(document.querySelector('.amps-seek')).direction") == "ltr"
    page.focus(".amps-seek")
    page.keyboard.press("ArrowRight")
    wait_for_media(page, "m.currentTime >= 4.9")
    page.eval_on_selector("video", "m => { m.currentTime = 65; }")
    wait_for_media(page, "!m.seeking")
    wait_js(page, "document.querySelector('.amps-elapsed').textContent == '1:05'")
    seek = ax_one(page, "slider", "الانتقال")
    assert ax_value_text(page, seek) == "دقيقة واحدة و5 ثوانٍ من 3 دقائق و25 ثانية"
    ax_one(page, "button", "تشغيل")
    screenshot(page, "player-arabic", full_page=True)


# --- captions, transcript, chapters, description -----------------------------------------------


def test_captions_drawn_by_the_player_and_hidden_from_screen_readers(
    page: Page, library: Library
) -> None:
    library.require_tracks()
    open_player(page, f"{library.video.embed}?captions=en&start=100")
    assert attr(page, "[data-control=captions]", "aria-pressed") == "true"
    wait_for_media(page, "m.readyState >= 2 && m.currentTime >= 100")
    wait_js(page, "document.querySelector('.amps-cues').textContent.includes('seek target')")
    assert attr(page, ".amps-cues", "aria-hidden") == "true"
    assert attr(page, ".amps-cues", "lang") == "en"
    assert not ax_find(ax_tree(page), name=re.compile("seek target")), "cues read out twice"
    page.click("[data-control=captions]")
    assert attr(page, "[data-control=captions]", "aria-pressed") == "false"
    assert page.is_hidden(".amps-cues")


def test_caption_style_applies_live_and_persists(page: Page, library: Library) -> None:
    library.require_tracks()
    open_player(page, f"{library.video.embed}?start=100")
    page.click("[data-menu=captions]")
    page.click("[data-dialog=amps-caption-style]")
    page.select_option("[data-caption-setting=caption_colour]", "#ffff00")
    page.select_option("[data-caption-setting=caption_size]", "2")
    page.select_option("[data-caption-setting=caption_background]", "#000000")
    page.keyboard.press("Escape")
    assert js(page, "document.activeElement.dataset.menu") == "captions"
    page.click("[data-control=captions]")
    wait_js(page, "document.querySelector('.amps-cues span')")
    style = "getComputedStyle(document.querySelector('.amps-cues span'))"
    assert js(page, f"{style}.color") == "rgb(255, 255, 0)"
    assert js(page, f"{style}.backgroundColor") == "rgb(0, 0, 0)"
    big = js(page, f"parseFloat({style}.fontSize)")

    page.reload()
    page.wait_for_selector(f"{PLAYER}.amps-scripted")
    assert page.input_value("[data-caption-setting=caption_colour]") == "#ffff00"
    assert page.input_value("[data-caption-setting=caption_size]") == "2"
    assert attr(page, "[data-control=captions]", "aria-pressed") == "true", "choice forgotten"
    wait_for_media(page, "m.readyState >= 2")
    wait_js(page, "document.querySelector('.amps-cues span')")
    assert js(page, f"{style}.color") == "rgb(255, 255, 0)"
    assert js(page, f"parseFloat({style}.fontSize)") == big


def test_transcript_click_and_enter_seek_and_highlight(page: Page, library: Library) -> None:
    library.require_tracks()
    open_player(page, library.video.watch)
    url = page.url
    line = ".amps-cue[data-start='100.0']"
    page.click(line)
    wait_for_media(page, "!m.seeking && Math.abs(m.currentTime - 100) < 0.5")
    assert page.url == url, "the click navigated instead of seeking"
    assert attr(page, line, "aria-current") == "true"
    other = ".amps-cue[data-start='65.0']"
    background = "el => getComputedStyle(el).backgroundColor"
    assert page.eval_on_selector(line, background) != page.eval_on_selector(other, background)

    page.focus(other)
    page.keyboard.press("Enter")
    wait_for_media(page, "!m.seeking && Math.abs(m.currentTime - 65) < 0.5")
    assert attr(page, other, "aria-current") == "true"
    assert attr(page, line, "aria-current") is None

    page.fill("#amps-transcript-filter", "seek target")
    wait_js(page, "document.querySelector('.amps-transcript-count').textContent != ''")
    assert "1" in (page.text_content(".amps-transcript-count") or "")
    assert page.locator(".amps-transcript-lines li:visible").count() == 1
    page.fill("#amps-transcript-filter", "zzz")
    page.wait_for_function(
        "() => document.querySelector('.amps-transcript-count').textContent == 'No lines match.'"
    )

    toggle = "[data-control=transcript]"
    page.click(toggle)
    assert page.is_hidden("#amps-transcript") and attr(page, toggle, "aria-expanded") == "false"
    page.click(toggle)
    assert page.is_visible("#amps-transcript") and attr(page, toggle, "aria-expanded") == "true"


def test_embed_transcript_starts_hidden(page: Page, library: Library) -> None:
    library.require_tracks()
    open_player(page, library.video.embed)
    assert page.is_hidden("#amps-transcript")
    page.click("[data-control=transcript]")
    assert page.is_visible("#amps-transcript")
    assert page.is_visible(".amps-transcript-search")


def test_chapters_menu_seeks(page: Page, described: Clip, fresh_upload: None) -> None:
    open_player(page, described.embed)
    page.click("[data-menu=chapters]")
    page.click("#amps-chapters-menu [data-seek='100.0']")
    wait_for_media(page, "!m.seeking && Math.abs(m.currentTime - 100) < 0.5")
    assert page.is_hidden("#amps-chapters-menu")
    assert js(page, "document.activeElement.dataset.menu") == "chapters"
    assert attr(page, "[data-seek='100.0']", "aria-current") == "true"


def test_text_description_through_the_live_region(
    page: Page, described: Clip, fresh_upload: None
) -> None:
    open_player(page, described.embed)
    page.click("[data-menu=description]")
    page.click("[name=amps-description-rate][value='0']")  # no voice: the screen reader reads it
    page.click("[data-control=description]")
    assert attr(page, "[data-control=description]", "aria-pressed") == "true"
    assert attr(page, ".amps-description-text", "aria-live") == "assertive"
    page.click("[data-control=play]")
    wait_js(page, "document.querySelector('.amps-description-text').textContent"
            " == 'A colour test pattern appears.'")  # fmt: skip
    page.reload()
    page.wait_for_selector(f"{PLAYER}.amps-scripted")
    assert attr(page, "[data-control=description]", "aria-pressed") == "true", "not kept"


# --- states ------------------------------------------------------------------------------------


# When the player took over, and when "Loading" was first said, in page time.
RECORD_STATUS = """
new MutationObserver(() => {
  const now = performance.now();
  if (document.querySelector('.amps-scripted')) window.ampsScripted ??= now;
  const status = document.querySelector('.amps-status');
  if (status && status.textContent == 'Loading, please wait') window.ampsLoading ??= now;
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


def test_loading_announced_after_a_delay_and_ended(page: Page, library: Library) -> None:
    held: list[Route] = []
    stream = re.compile(r"/stream")

    def hold(route: Route) -> None:
        held.append(route)

    page.route(stream, hold)
    page.add_init_script(RECORD_STATUS)
    page.goto(library.video.embed, wait_until="domcontentloaded")  # "load" waits for media
    wait_js(page, "window.ampsLoading")
    # The 500 ms delay counts from the page's start (a slow link has made the reader wait
    # before the script ran): said no sooner, and not before the player took over.
    waited = js(page, "window.ampsLoading")
    assert waited >= 500, f"announced {waited:.0f} ms after the page started: it would chatter"
    assert js(page, "window.ampsLoading >= window.ampsScripted")
    for route in held:
        route.continue_()
    page.unroute(stream, hold)
    wait_for_media(page, "m.readyState >= 1")
    wait_js(page, "document.querySelector('.amps-status').textContent == ''")

    page.eval_on_selector("video", "m => { m.currentTime = m.duration - 0.5; }")
    page.click("[data-control=play]")
    wait_js(page, "document.querySelector('.amps-status').textContent == 'Ended'", timeout=15)
    ax_one(page, "button", "Play")


@pytest.mark.parametrize("where", ["embed", "watch"])
def test_no_media_message_when_the_browser_cannot_decode(
    page: Page, undecodable: Clip, library: Library, where: str, fresh_upload: None
) -> None:
    open_player(page, getattr(undecodable, where))
    page.wait_for_selector(f"{PLAYER}[data-state=error]")
    state = media_state(page)
    assert state["error"] is not None or state["networkState"] == 3, state  # NO_SOURCE
    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert "No media source currently available" in alert.inner_text()
    assert page.is_hidden(".amps-controls") and page.is_hidden("video")
    download = page.locator(".amps-message a[href*='download=1']")
    assert download.is_visible()
    if library.has_tracks_route:
        assert page.is_visible("#amps-transcript"), "the transcript is not offered"
    violations = run_axe(page)
    assert not violations, axe_format(violations)


def test_start_autoplay_and_captions_from_the_query(page: Page, library: Library) -> None:
    open_player(page, f"{library.video.embed}?start=65&autoplay=1&captions=en")
    state = wait_for_media(page, "!m.paused && m.currentTime >= 65.2")
    assert state["muted"], "autoplay with sound"
    assert attr(page, "[data-control=mute]", "aria-pressed") == "true"
    if library.has_tracks_route:
        assert attr(page, "[data-control=captions]", "aria-pressed") == "true"


def test_the_poster_grows_with_a_large_player_only(
    new_page: Callable[..., Page], library: Library
) -> None:
    """The page shows the small still; a player shown large asks for the full one once its
    media has begun to load; a small one never does."""
    posters = {}
    for width in (1280, 400):
        page = new_page(viewport={"width": width, "height": width * 9 // 16})
        asked: list[str] = []
        page.on("request", lambda r, asked=asked: "/poster" in r.url and asked.append(r.url))
        open_player(page, library.video.embed)
        wait_for_media(page, "m.readyState >= 1")
        if width == 1280:
            wait_for_media(page, "!m.poster.includes('size=')")
        else:
            page.wait_for_timeout(500)  # time for a wrong upgrade to happen
        posters[width] = (page.eval_on_selector("video", "v => v.poster"), asked)
    large, small = posters[1280], posters[400]
    assert large[0].endswith("/poster") and any(u.endswith("/poster") for u in large[1])
    assert small[0].endswith("/poster?size=small")
    assert not [u for u in small[1] if u.endswith("/poster")], "a small player fetched both"


def test_without_javascript_the_native_player_works(
    new_page: Callable[..., Page], library: Library
) -> None:
    library.require_tracks()
    page = new_page(java_script_enabled=False)
    page.goto(library.video.watch)
    assert page.get_attribute("video", "controls") is not None
    assert page.is_hidden(".amps-controls")
    assert page.text_content(".amps-duration") == "3:25"
    assert page.get_attribute(".amps-duration", "datetime") == "PT3M25S"
    assert page.locator("video track[kind=captions]").count() == 1
    assert page.locator(".amps-cue").count() == 5
    assert page.locator("a[href*='download=1']").count() >= 1


def test_every_format_plays_through_its_embed_page(
    page: Page, library: Library, media_files: dict[str, Path], fresh_upload: None
) -> None:
    """Each test format: readyState 4, time advances, a seek to 100 s lands within 1 s."""
    failures = []
    for name, path in sorted(media_files.items()):
        clip = library.upload(path, title=name)
        open_player(page, clip.embed)
        page.click("[data-control=play]")
        try:
            wait_for_media(page, "m.readyState >= 4 && m.currentTime > 0.3")
            started = time.perf_counter()
            page.eval_on_selector(".amps-media", "m => { m.currentTime = 100; }")
            state = wait_for_media(page, "!m.seeking && m.currentTime >= 100", timeout=5)
            took = time.perf_counter() - started
            if abs(state["currentTime"] - 100) >= 1 or took >= 1:
                failures.append(f"{name}: seek landed at {state['currentTime']} in {took:.2f} s")
        except AssertionError as error:
            failures.append(f"{name}: {error}")
        assert page.get_attribute(PLAYER, "data-state") == "ready", name
    assert not failures, "\n".join(failures)


# --- axe-core in every state, layout, screenshots ----------------------------------------------


def axe_states(page: Page, url: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}

    def click(selector: str) -> None:
        page.mouse.move(0, 0)  # as a hand would: away from the last button and its tooltip
        page.click(selector)

    def check(state: str) -> None:
        violations = run_axe(page)
        if violations:
            found[state] = violations

    open_player(page, url)
    check("initial")
    click("[data-control=play]")
    wait_for_media(page, "!m.paused")
    check("playing")
    click("[data-control=play]")
    for button in page.locator("[data-menu]:visible").all():
        page.mouse.move(0, 0)
        button.click()
        check(f"menu {button.get_attribute('data-menu')} open")
        page.keyboard.press("Escape")
    click("[data-dialog=amps-help-dialog]")
    check("help dialog open")
    page.keyboard.press("Escape")
    if page.locator("[data-dialog=amps-caption-style]").count():
        click("[data-menu=captions]")
        click("[data-dialog=amps-caption-style]")
        check("caption style dialog open")
        page.keyboard.press("Escape")
        click("[data-control=captions]")
        check("captions on")
    if page.locator("[data-control=transcript]").count():
        click("[data-control=transcript]")
        check("transcript toggled")
        click("[data-control=transcript]")
    forced_colors(page)
    check("forced colours")
    forced_colors(page, False)
    page.emulate_media(color_scheme="dark")
    check("dark scheme")
    narrow(page)
    check("320 px")
    return found


@pytest.mark.parametrize("kind", ["video", "audio"])
@pytest.mark.parametrize("where", ["embed", "watch"])
def test_axe_in_every_state(page: Page, library: Library, kind: str, where: str) -> None:
    clip: Clip = getattr(library, kind)
    found = axe_states(page, getattr(clip, where))
    assert not found, "\n".join(f"{state}:\n{axe_format(v)}" for state, v in found.items())


def test_axe_arabic_and_described(
    page: Page, library: Library, described: Clip, fresh_upload: None
) -> None:
    found = axe_states(page, f"{library.video.watch}?lang=ar")
    found |= {f"described {k}": v for k, v in axe_states(page, described.embed).items()}
    assert not found, "\n".join(f"{state}:\n{axe_format(v)}" for state, v in found.items())


@pytest.mark.parametrize("where", ["embed", "media"])
def test_axe_unknown_clip_page(
    page: Page, library: Library, page_errors: ErrorLog, where: str
) -> None:
    page_errors.allow(r"status of 404")
    response = page.goto(f"{library.url}/{where}/doesnotexist0000000")
    assert response is not None and response.status == 404
    assert "No media source currently available" in page.get_by_role("alert").inner_text()
    violations = run_axe(page)
    assert not violations, axe_format(violations)


def test_targets_reflow_and_screenshots(new_page: Callable[..., Page], library: Library) -> None:
    page = new_page()
    open_player(page, library.video.watch)
    screenshot(page, "player-video", selector=PLAYER)
    open_player(page, library.audio.watch)
    screenshot(page, "player-audio", selector=PLAYER)
    for width, options in ((320, {"viewport": {"width": 320, "height": 640}}), (640, ZOOM_200)):
        page = new_page(**options)
        open_player(page, library.video.watch)
        assert js(page, "document.documentElement.scrollWidth") <= width, "no reflow"
        small = page.evaluate(
            """() => [...document.querySelectorAll(
                '.amps-player button, .amps-player input, .amps-cue, .amps-skip a')]
              .filter(el => el.checkVisibility())
              .map(el => [el.className || el.name || el.tagName, el.getBoundingClientRect()])
              .filter(([, r]) => r.width < 24 || r.height < 24)
              .map(([name, r]) => `${name} ${r.width}x${r.height}`)"""
        )
        assert not small, f"targets under 24x24 CSS px at {width}: {small}"
        screenshot(page, f"player-{width}px", full_page=True)
