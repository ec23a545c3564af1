"""The embed page without JavaScript: the native player, and under it a visible link to the
file (and to the transcript) that the player's script hides once it takes over."""

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page

from tests.browser.conftest import Clip, Library
from tests.browser.helpers import assert_no_axe_violations, forced_colors, screenshot

FRAME = {"width": 640, "height": 360}  # a typical <iframe> (the embed code's default size)
PHONE = {"width": 320, "height": 180}  # the same at 320 px wide


def no_script(new_page: Callable[..., Page], clip: Clip, viewport: dict[str, int]) -> Page:
    page = new_page(java_script_enabled=False, viewport=viewport)
    response = page.goto(clip.embed)
    assert response is not None and response.ok
    return page


def player_script_off(new_page: Callable[..., Page], **options: Any) -> Page:
    """A page whose player script never runs, for axe-core: it cannot run in a context without
    JavaScript (its timers never fire), so the script is served empty instead."""
    page = new_page(**options)
    page.route(
        "**/build/player.js", lambda route: route.fulfill(body="", content_type="text/javascript")
    )
    return page


def assert_in_view(link: Locator, viewport: dict[str, int]) -> dict[str, Any]:
    """Visible, a target of at least 24x24 CSS px, wholly inside the frame without scrolling."""
    assert link.is_visible(), f"{link} is not visible"
    box = link.bounding_box()
    assert box is not None, f"{link} has no box"
    assert box["width"] >= 24 and box["height"] >= 24, f"{link} is a {box} target"
    right, bottom = box["x"] + box["width"], box["y"] + box["height"]
    assert box["x"] >= 0 and box["y"] >= 0, f"{link} starts outside the frame: {box}"
    assert right <= viewport["width"] and bottom <= viewport["height"], (
        f"{link} ends outside the {viewport} frame: {box}"
    )
    return box


def download_link(page: Page) -> Locator:
    return page.get_by_role("link", name="Download the clip")


def transcript_link(page: Page) -> Locator:
    return page.get_by_role("link", name="Read the transcript")


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_without_javascript_the_embed_offers_the_file_under_the_player(
    new_page: Callable[..., Page], library: Library, kind: str
) -> None:
    clip: Clip = getattr(library, kind)
    page = no_script(new_page, clip, FRAME)
    media = page.locator(f"{kind}[controls]")
    player = media.bounding_box()
    assert player is not None and player["height"] >= 24, f"the native {kind} is {player}"
    link = download_link(page)
    box = assert_in_view(link, FRAME)
    assert box["y"] >= player["y"] + player["height"] - 1, "the link is not under the player"

    with page.expect_download() as started:
        link.click()
    saved = started.value.path()
    assert saved.stat().st_size == clip.record["size"], "the link did not download the clip"
    screenshot(page, f"embed-nojs-{kind}-640x360")

    page = player_script_off(new_page, viewport=FRAME)
    page.goto(clip.embed)
    assert_in_view(download_link(page), FRAME)
    assert_no_axe_violations(page)


def test_without_javascript_the_transcript_link_shows_the_transcript(
    new_page: Callable[..., Page], library: Library
) -> None:
    library.require_tracks()
    for viewport in (FRAME, PHONE):
        page = no_script(new_page, library.video, viewport)
        assert_in_view(download_link(page), viewport)
        link = transcript_link(page)
        assert_in_view(link, viewport)
        assert link.get_attribute("href") == "#amps-transcript"
        screenshot(page, f"embed-nojs-video-{viewport['width']}x{viewport['height']}")
        link.click()
        transcript = page.locator("#amps-transcript")
        assert transcript.is_visible(), f"the transcript is not shown at {viewport}"
        assert page.locator("#amps-transcript .amps-cue").first.is_visible()


def test_without_javascript_the_links_hold_in_forced_colours_and_arabic(
    new_page: Callable[..., Page], library: Library
) -> None:
    for page in (
        new_page(java_script_enabled=False, viewport=FRAME, locale="ar"),
        player_script_off(new_page, viewport=FRAME, locale="ar"),
    ):
        page.goto(library.video.embed)
        forced_colors(page)
        assert_in_view(page.get_by_role("link", name="تنزيل المقطع"), FRAME)
    screenshot(page, "embed-nojs-ar-forced-colours")
    assert_no_axe_violations(page)


def test_the_links_are_hidden_once_the_player_starts(page: Page, library: Library) -> None:
    page.set_viewport_size(FRAME)
    page.goto(library.video.embed)
    page.wait_for_selector("[data-amps-player].amps-scripted")
    assert page.locator(".amps-file-links").count() == 1
    assert page.locator(".amps-file-links").is_hidden()
    assert download_link(page).count() == 0 or not download_link(page).is_visible()
    assert_no_axe_violations(page)
    screenshot(page, "embed-js-video-640x360")


def test_the_watch_page_keeps_its_own_download_line(
    new_page: Callable[..., Page], library: Library
) -> None:
    page = new_page(java_script_enabled=False)
    page.goto(library.video.watch)
    assert page.locator(".amps-file-links").count() == 0, "the watch page offers them already"
    assert download_link(page).count() == 1 and download_link(page).is_visible()
