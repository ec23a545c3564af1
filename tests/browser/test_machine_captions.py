"""Machine-made captions in Chromium: a real espeak-ng clip's script aligned by the server's own
job; the captions menu and the transcript say the captions may contain errors, in every state
axe-core checks."""

from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from tests.browser import test_player
from tests.browser.conftest import Clip, Library, fetch_record
from tests.browser.helpers import axe_format
from tests.media import ffmpeg
from tests.speech import NEWS, espeak_version, synthesize

NOTE = "Automatic captions may contain errors."

pytestmark = pytest.mark.skipif(
    espeak_version() is None, reason="espeak-ng is not installed (make install installs it)"
)


@pytest.fixture(scope="module")
def aligned(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """The news paragraph spoken by espeak-ng, uploaded, its script aligned into captions."""
    import time

    directory = tmp_path_factory.mktemp("machine")
    spoken = synthesize(NEWS, directory / "news.wav")
    clip_path = directory / "news.m4a"
    ffmpeg("-i", str(spoken.path), "-c:a", "aac", "-b:a", "48k", str(clip_path))
    clip = library.upload(clip_path, title="Council budget", language="en")
    answer = httpx.put(
        f"{library.url}/api/media/{clip.id}/script",
        content=NEWS.encode(),
        headers={"content-type": "text/plain; charset=utf-8"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 90
    record: dict[str, Any] = fetch_record(library.server, clip.id)
    while record["captions"]["state"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.3)
        record = fetch_record(library.server, clip.id)
    assert record["captions"]["state"] == "done", record
    assert [t["origin"] for t in record["tracks"]] == ["aligned"]
    return Clip(id=clip.id, record=record, base=clip.base)


def test_menu_and_transcript_say_captions_are_machine_made(page: Page, aligned: Clip) -> None:
    test_player.open_player(page, aligned.watch)
    page.click("[data-menu=captions]")
    note = page.locator("#amps-captions-machine")
    assert note.is_visible() and note.inner_text() == NOTE
    radio = page.get_by_role("radio", name="English (aligned)")
    assert radio.get_attribute("aria-describedby") == "amps-captions-machine"
    page.keyboard.press("Escape")
    if not page.locator("#amps-transcript").is_visible():  # the watch page shows it open
        page.click("[data-control=transcript]")
    transcript_note = page.locator("#amps-transcript .amps-transcript-note")
    assert transcript_note.is_visible() and transcript_note.inner_text() == NOTE
    cues = page.locator("#amps-transcript .amps-cue-text")
    assert cues.count() >= 2 and cues.first.inner_text().startswith("The city council")


def test_axe_with_machine_made_captions(page: Page, aligned: Clip) -> None:
    found = test_player.axe_states(page, aligned.watch)
    found |= {f"embed {k}": v for k, v in test_player.axe_states(page, aligned.embed).items()}
    assert not found, "\n".join(f"{state}:\n{axe_format(v)}" for state, v in found.items())


def test_uploaded_clips_say_nothing_of_machines(page: Page, library: Library) -> None:
    library.require_tracks()
    test_player.open_player(page, library.video.watch)
    assert page.locator(".amps-menu-note, .amps-transcript-note").count() == 0
    assert NOTE not in page.locator("body").inner_text()
