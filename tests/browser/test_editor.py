"""The caption editor in Chromium: a keyboard journey through every tool (play a cue, a start
from the playhead by key, split, merge, find and replace, undo, save, restore) with axe-core
clean in every state, and the same form posted with JavaScript off."""

import re
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from app.catalog.database import Catalog
from app.config import Settings
from app.jobs.processing import new_track, store_track
from app.media.captions import parse_vtt
from app.storage.local import LocalStorage
from tests.browser.conftest import Clip, Library, fetch_record
from tests.browser.helpers import ErrorLog, assert_no_axe_violations, screenshot, wait_for_media
from tests.media import ffmpeg

MACHINE_VTT = """WEBVTT

NOTE
Captions made by amps by speech recognition. Automatic captions may contain errors.

00:00:00.500 --> 00:00:02.000
The city council met and voted

00:00:02.000 --> 00:00:04.250
on the new budget today.
"""


@pytest.fixture(scope="module")
def clip(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """A 6-second video of the session's server."""
    path = tmp_path_factory.mktemp("editor") / "council.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=6",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-shortest", "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return library.upload(path, title="Council budget", language="en")


@pytest.fixture
def machine_track(library: Library, clip: Clip) -> Callable[[], str]:
    """add() -> the id of a new automatic track of the clip, stored as the job stores one (in
    the server's own catalog and media folder)."""

    def add() -> str:
        settings = Settings(media_dir=library.server.media_dir)
        catalog = Catalog(settings.catalog_url)
        try:
            track = new_track(
                clip.id, kind="captions", srclang="en", label="English (automatic)",
                origin="automatic", reviewed=False,
            )  # fmt: skip
            return store_track(LocalStorage(settings.media_dir), catalog, track, MACHINE_VTT).id
        finally:
            catalog.dispose()

    return add


def said(page: Page) -> str:
    page.wait_for_function("() => document.getElementById('amps-editor-live').textContent !== ''")
    return str(page.text_content("#amps-editor-live"))


def values(page: Page) -> list[tuple[str, str, str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        "[data-cue]",
        "rows => rows.map(r => ['start', 'end', 'text'].map("
        "f => r.querySelector(`[data-field=${f}]`).value))",
    )
    return [(s, e, t) for s, e, t in rows]


def focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement.id || document.activeElement.textContent"))


def track_of(library: Library, clip: Clip, track_id: str) -> dict[str, Any]:
    record = fetch_record(library.server, clip.id)
    return next(t for t in record["tracks"] if t["id"] == track_id)


def stored_cues(library: Library, clip: Clip, track_id: str) -> list[tuple[float, float, str]]:
    vtt = httpx.get(f"{library.url}/media/{clip.id}/tracks/{track_id}.vtt", timeout=10).text
    return [(c.start, c.end, c.text) for c in parse_vtt(vtt)]


def test_keyboard_journey(
    page: Page, library: Library, clip: Clip, machine_track: Callable[[], str],
    page_errors: ErrorLog,
) -> None:  # fmt: skip
    page_errors.allow(r"status of 422")  # the page that shows the errors answers 422
    track = machine_track()
    page.goto(f"{library.url}/media/{clip.id}/tracks/{track}/edit")
    page.wait_for_selector("#amps-editor[data-enhanced]")
    wait_for_media(page, "m.readyState >= 1", "#amps-editor-media")
    assert_no_axe_violations(page)
    screenshot(page, "editor-initial", full_page=True)

    # The skip link leads to the cues; Tab reaches the first cue's start field.
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to the cues"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page) == "cue-0-start"

    # Play cue 1: it plays from its start and stops at its end.
    for _ in range(3):
        page.keyboard.press("Tab")
    assert focused(page).startswith("Play cue")
    page.keyboard.press("Enter")
    assert said(page) == "Playing cue 1."
    wait_for_media(page, "!m.paused && m.currentTime >= 0.5", "#amps-editor-media")
    state = wait_for_media(page, "m.paused", "#amps-editor-media", timeout=10)
    assert 1.9 <= state["currentTime"] <= 2.6, state

    # The start from the playhead, by key, in the cue's start field.
    page.eval_on_selector("#amps-editor-media", "m => { m.currentTime = 0.75; }")
    wait_for_media(page, "Math.abs(m.currentTime - 0.75) < 0.01", "#amps-editor-media")
    page.focus("#cue-0-start")
    page.keyboard.press("Alt+BracketLeft")
    assert page.input_value("#cue-0-start") == "0:00.750"
    assert said(page) == "Cue 1 starts at 0:00.750."

    # Split at the playhead, the text at the caret.
    page.eval_on_selector("#amps-editor-media", "m => { m.currentTime = 1.25; }")
    wait_for_media(page, "Math.abs(m.currentTime - 1.25) < 0.01", "#amps-editor-media")
    page.focus("#cue-0-text")
    page.eval_on_selector("#cue-0-text", "t => t.setSelectionRange(16, 16)")
    page.keyboard.press("Tab")  # Play cue 1
    page.keyboard.press("Tab")  # Split cue 1
    page.keyboard.press("Enter")
    assert said(page) == "Cue 1 split in two: cues 1 and 2."
    assert values(page) == [
        ("0:00.750", "0:01.250", "The city council"),
        ("0:01.250", "0:02.000", "met and voted"),
        ("0:02.000", "0:04.250", "on the new budget today."),
    ]
    assert focused(page) == "cue-1-text"
    assert page.get_attribute("label[for=cue-2-text]", "for") == "cue-2-text"
    assert page.text_content("[data-cue]:nth-child(3) legend") == "Cue 3"

    # Merge cue 2 with the next.
    page.keyboard.press("Tab")  # Play cue 2
    page.keyboard.press("Tab")  # Split cue 2
    page.keyboard.press("Tab")  # Merge cue 2
    assert focused(page).startswith("Merge with next")
    page.keyboard.press("Enter")
    assert said(page) == "Cue 2 merged with the next cue."
    assert values(page)[1:] == [("0:01.250", "0:04.250", "met and voted on the new budget today.")]
    assert page.locator("li:nth-child(2) [data-action=merge]").is_hidden()  # now the last cue

    # Find and replace across cues, the count announced.
    page.fill("#amps-find", "e")
    page.keyboard.press("Enter")
    assert said(page) == "Matches: 6."
    page.fill("#amps-find", "budget")
    page.fill("#amps-replace", "spending plan")
    page.focus("#amps-replace-all")
    page.keyboard.press("Enter")
    assert said(page) == "Replaced: 1."
    assert values(page)[1][2] == "met and voted on the new spending plan today."

    # Undo, several levels: Ctrl+Z outside text fields, and the button.
    page.keyboard.press("Control+z")
    assert said(page) == "Undone: Replaced: 1."
    assert values(page)[1][2] == "met and voted on the new budget today."
    page.keyboard.press("Control+z")
    assert len(values(page)) == 3
    page.click("#amps-undo")
    assert len(values(page)) == 2 and values(page)[0][1] == "0:02.000"  # the split undone
    assert_no_axe_violations(page)

    # Save with a mistake: the summary takes focus and names the field.
    page.fill("#cue-0-end", "0:00.500")
    page.click("#amps-editor-form .amps-save")
    page.wait_for_selector("#amps-error-summary")
    assert focused(page) == "amps-error-summary"
    assert page.get_attribute("#cue-0-end", "aria-invalid") == "true"
    assert "The end must be after the start (0:00.750)." in str(
        page.text_content("#cue-0-end-error")
    )
    assert page.title().startswith("Error:")
    assert_no_axe_violations(page)
    screenshot(page, "editor-errors", full_page=True)
    page.keyboard.press("Tab")  # the summary's link to the field
    page.keyboard.press("Enter")
    assert focused(page) == "cue-0-end"

    # Fixed, marked reviewed, saved.
    page.fill("#cue-0-end", "0:02.000")
    page.focus("#amps-reviewed")
    page.keyboard.press("Space")
    page.focus("#amps-editor-form .amps-save")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"done=saved"))
    page.wait_for_selector("#amps-editor[data-enhanced]")
    assert page.text_content("#amps-editor-status") == "Captions saved."
    assert focused(page) == "amps-editor-status"
    saved = track_of(library, clip, track)
    assert (saved["origin"], saved["reviewed"]) == ("edited", True)
    assert stored_cues(library, clip, track) == [
        (0.75, 2.0, "The city council met and voted"), (2.0, 4.25, "on the new budget today."),
    ]  # fmt: skip
    assert_no_axe_violations(page)
    screenshot(page, "editor-saved", full_page=True)

    # Restore the machine's text.
    page.click("text=Restore the machine-made captions")
    page.wait_for_url(re.compile(r"done=restored"))
    page.wait_for_selector("#amps-editor[data-enhanced]")
    assert page.text_content("#amps-editor-status") == "The machine-made captions are back."
    assert track_of(library, clip, track)["origin"] == "automatic"
    assert stored_cues(library, clip, track)[0] == (0.5, 2.0, "The city council met and voted")
    assert page.locator("text=Restore the machine-made captions").count() == 0
    assert_no_axe_violations(page)


def test_form_posts_without_javascript(
    new_page: Callable[..., Page], library: Library, clip: Clip,
    machine_track: Callable[[], str], page_errors: ErrorLog,
) -> None:  # fmt: skip
    track = machine_track()
    page_errors.allow(r"status of 422")
    page = new_page(java_script_enabled=False)
    page.goto(f"{library.url}/media/{clip.id}/tracks/{track}/edit")
    assert page.locator("#amps-undo").is_hidden()  # the script's tools stay out of the way
    page.fill("#cue-1-text", "on the new budget, today.")
    page.fill("#cue-1-end", "9:99")
    page.click("text=Save captions")
    assert page.locator("#amps-error-summary").is_visible()
    assert page.evaluate("document.activeElement.id") == "amps-error-summary"  # autofocus
    assert page.input_value("#cue-1-text") == "on the new budget, today."
    page.fill("#cue-1-end", "0:05.500")
    page.check("#amps-reviewed")
    page.click("text=Save captions")
    assert page.text_content("#amps-editor-status") == "Captions saved."
    assert stored_cues(library, clip, track)[1] == (2.0, 5.5, "on the new budget, today.")
    assert track_of(library, clip, track)["reviewed"] is True


def test_editor_views(new_page: Callable[..., Page], library: Library, clip: Clip,
                      machine_track: Callable[[], str]) -> None:  # fmt: skip
    """Narrow, zoomed, forced colours and right to left: axe-clean, nothing wider than the view."""
    track = machine_track()
    url = f"{library.url}/media/{clip.id}/tracks/{track}/edit"
    for name, options, query in (
        ("320px", {"viewport": {"width": 320, "height": 640}}, ""),
        ("zoom200", {"viewport": {"width": 640, "height": 360}, "device_scale_factor": 2}, ""),
        ("forced-colours", {"forced_colors": "active"}, ""),
        ("arabic", {}, "?lang=ar"),
    ):
        page = new_page(**options)
        page.goto(url + query)
        page.wait_for_selector("#amps-editor[data-enhanced]")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        assert_no_axe_violations(page)
        screenshot(page, f"editor-{name}", full_page=True)
