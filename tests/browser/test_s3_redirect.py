"""The player over S3 storage in redirect mode: Chromium follows the 307 to the store, under
the page's Content-Security-Policy, plays, seeks, and shows the captions stored there."""

import os
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import CAPTIONS_VTT, add_track, upload
from tests.browser.helpers import ErrorLog, wait_for_media
from tests.conftest import s3_environment
from tests.e2e.conftest import Server, free_port
from tests.seaweed import SeaweedFS


@pytest.fixture(scope="module")
def redirect_server(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedFS
) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env |= s3_environment(seaweedfs) | {"AMPS_S3_REDIRECT": "1"}
    media_dir = tmp_path_factory.mktemp("browser-s3") / "media"
    running = Server(media_dir=media_dir, port=free_port(), env=env)
    running.start()
    yield running
    running.stop()


def test_watch_page_plays_a_redirected_stream(
    page: Page,
    page_errors: ErrorLog,
    redirect_server: Server,
    seaweedfs: SeaweedFS,
    media_files: dict[str, Path],
) -> None:
    clip = add_track(
        redirect_server, upload(redirect_server, media_files["video.mp4"]), CAPTIONS_VTT
    )
    first = httpx.get(clip.stream, follow_redirects=False)
    assert first.status_code == 307 and first.headers["location"].startswith(seaweedfs.endpoint)
    policy = httpx.get(clip.watch).headers["content-security-policy"]
    assert f"media-src 'self' blob: {seaweedfs.endpoint}" in policy

    page.goto(clip.watch)
    # play() not awaited: under a CSP that blocks the store its promise never settles.
    page.eval_on_selector("video", "m => { m.muted = true; m.play(); }")
    state = wait_for_media(page, "m.readyState >= 3 && m.currentTime > 0.3", "video")
    assert state["error"] is None and abs(state["duration"] - clip.duration) < 0.5
    assert page.evaluate("document.querySelector('video').currentSrc") == clip.stream
    page.eval_on_selector("video", "m => { m.currentTime = 150; }")
    state = wait_for_media(page, "!m.seeking && m.currentTime >= 150", "video", timeout=10)
    assert abs(state["currentTime"] - 150) < 1
    assert page.evaluate("document.querySelector('video').textTracks.length") == 1
    assert page_errors.unexpected() == []  # a CSP violation would be a console error
