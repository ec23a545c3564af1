"""A private clip in Chromium: a signed embed plays, with every request its player makes
(stream, poster, captions) answered; the same embed unsigned is the no-media page."""

from pathlib import Path

import httpx2 as httpx
from playwright.sync_api import Page, Response

from tests.browser.conftest import CAPTIONS_VTT, Library
from tests.browser.helpers import (
    ErrorLog,
    assert_no_axe_violations,
    screenshot,
    wait_for_media,
)


def test_a_signed_embed_of_a_private_clip_plays(
    page: Page, page_errors: ErrorLog, library: Library, media_files: dict[str, Path]
) -> None:
    clip = library.add_track(
        library.upload(media_files["video.mp4"], title="Embargoed interview"), CAPTIONS_VTT
    )
    changed = httpx.patch(clip.api, json={"visibility": "private"}, timeout=10)
    assert changed.status_code == 200 and changed.json()["visibility"] == "private"
    answer = httpx.post(f"{clip.api}/signed-url", json={"ttl": 300}, timeout=10)
    assert answer.status_code == 200, answer.text
    embed = answer.json()["embed"]

    seen: list[Response] = []
    page.on("response", lambda r: seen.append(r) if r.url.startswith(library.url) else None)
    page.goto(f"{embed}&captions=en")
    page.eval_on_selector("video", "m => { m.muted = true; m.play(); }")
    state = wait_for_media(page, "m.readyState >= 3 && m.currentTime > 0.3", "video")
    assert state["error"] is None and abs(state["duration"] - clip.duration) < 0.5
    page.wait_for_function("() => document.querySelector('video').textTracks[0]?.cues?.length > 0")
    asked = {r.url.split("?")[0].removeprefix(f"{library.url}/media/{clip.id}") for r in seen}
    assert {"/stream", "/poster", f"/tracks/{clip.tracks[0]['id']}.vtt"} <= asked, asked
    failed = [(r.url, r.status) for r in seen if r.status >= 400]
    assert failed == []
    screenshot(page, "signed-embed-private-clip")

    # The same clip unsigned: the page any missing clip shows, telling nothing of this one.
    page_errors.allow(r"status of 404 .*/embed/" + clip.id)
    response = page.goto(clip.embed)
    assert response is not None and response.status == 404
    message = page.get_by_text("No media source currently available")
    assert message.first.is_visible()
    assert clip.record["title"] not in page.content()
    assert page.evaluate("document.querySelector('video')?.currentSrc || ''") == ""
    screenshot(page, "unsigned-embed-private-clip")
    assert_no_axe_violations(page)
