"""Playlists in Chromium: three short clips play, go next and previous by button and by N/P,
mark the current one, go on at the end only when asked, survive a clip's deletion, tell a host
page the clip id and index; without JavaScript the list links each clip's page; axe finds
nothing in any of these states."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Clip, Library
from tests.browser.helpers import assert_no_axe_violations, screenshot
from tests.browser.test_embedding import HostSite
from tests.media import ffmpeg

PATTERNS = ("testsrc2", "smptebars", "rgbtestsrc")
PLAYER = "[data-amps-player]"
CURRENT = '.amps-playlist-items a[aria-current="true"]'


def short_clip(directory: Path, pattern: str, tone: int) -> Path:
    path = directory / f"{pattern}.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"{pattern}=size=320x180:rate=10:duration=2",
        "-f", "lavfi", "-i", f"sine=frequency={tone}:duration=2",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-shortest", "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("playlist-clips")
    return [short_clip(directory, p, 300 + 200 * n) for n, p in enumerate(PATTERNS)]


@pytest.fixture(scope="module")
def clips(library: Library, clip_files: list[Path]) -> list[Clip]:
    titles = ("Part one: the <beginning>", "Part two", "Part three")
    return [library.upload(path, title=t) for path, t in zip(clip_files, titles, strict=True)]


def make_playlist(library: Library, ids: list[str], title: str = "Our town") -> dict[str, Any]:
    body = {"title": title, "description": "A story in parts.", "media_ids": ids}
    response = httpx.post(f"{library.url}/api/playlists", json=body, timeout=10)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


@pytest.fixture(scope="module")
def playlist(library: Library, clips: list[Clip]) -> dict[str, Any]:
    return make_playlist(library, [c.id for c in clips])


def wait(page: Page, condition: str, timeout: float = 10_000) -> None:
    """A function, never a string to evaluate: the pages' CSP allows no eval."""
    page.wait_for_function(f"() => ({condition})", timeout=timeout)


def current(page: Page) -> str | None:
    return page.locator(PLAYER).get_attribute("data-id")


def wait_for_clip(page: Page, clip: Clip) -> None:
    wait(
        page,
        f"document.querySelector('[data-amps-player].amps-scripted')?.dataset.id == '{clip.id}'",
    )
    assert clip.id in page.eval_on_selector("video", "v => v.currentSrc")
    assert page.locator(PLAYER).get_attribute("data-state") == "ready"
    assert page.locator(".amps-controls").is_visible() and page.locator("video").is_visible()
    assert page.locator(CURRENT).get_attribute("data-id") == clip.id
    assert page.locator(CURRENT).count() == 1


def playing(page: Page) -> bool:
    return bool(page.evaluate("() => { const v = document.querySelector('video'); "
                              "return !v.paused && v.currentTime > 0; }"))  # fmt: skip


def test_plays_goes_next_and_previous_by_button_and_key(
    page: Page, library: Library, clips: list[Clip], playlist: dict[str, Any]
) -> None:
    page.goto(playlist["urls"]["watch"])
    wait_for_clip(page, clips[0])
    previous = page.get_by_role("button", name="Previous clip")
    following = page.get_by_role("button", name="Next clip")
    assert previous.is_disabled() and following.is_enabled()
    assert page.locator(".amps-playlist-position").inner_text() == "Clip 1 of 3"
    assert_no_axe_violations(page)
    page.get_by_role("button", name="Play", exact=True).click()
    wait(page, "document.querySelector('video').currentTime > 0.2")
    following.click()
    wait_for_clip(page, clips[1])
    wait(page, "document.querySelector('video').currentTime > 0.2")  # plays on
    status = page.locator(".amps-playlist-status")
    assert status.inner_text() == "Now playing clip 2 of 3: Part two"
    assert page.title().startswith("Part two")
    assert "item=2" in page.url
    assert page.get_by_role("heading", name="Part two").is_visible()
    assert previous.is_enabled() and following.is_enabled()
    assert_no_axe_violations(page)
    screenshot(page, "playlist-watch", full_page=True)
    previous.click()
    wait_for_clip(page, clips[0])
    assert status.inner_text() == "Now playing clip 1 of 3: Part one: the <beginning>"
    # Focus was on Previous, now disabled: it goes to the player, where N and P work.
    wait(page, "document.activeElement.matches('[data-amps-player]')")
    page.keyboard.press("n")
    wait_for_clip(page, clips[1])
    page.keyboard.press("n")
    wait_for_clip(page, clips[2])
    assert following.is_disabled()
    page.keyboard.press("n")  # the last: nothing happens
    page.keyboard.press("p")
    wait_for_clip(page, clips[1])
    # Single-key shortcuts switched off (help dialog): N does nothing.
    page.keyboard.press("?")
    page.get_by_label("Single-key shortcuts on").uncheck()
    page.keyboard.press("Escape")
    page.locator(PLAYER).focus()
    page.keyboard.press("n")
    page.wait_for_timeout(300)
    assert current(page) == clips[1].id
    assert "Next or previous clip in the playlist" in page.locator("#amps-help-dialog").inner_text()
    # A list item plays its clip in place (a link to the clip's page without the script).
    page.locator(".amps-playlist-items a").nth(2).click()
    wait_for_clip(page, clips[2])
    assert page.url.startswith(playlist["urls"]["watch"])


def test_goes_on_at_the_end_only_when_asked(
    page: Page, clips: list[Clip], playlist: dict[str, Any]
) -> None:
    page.goto(playlist["urls"]["watch"])
    wait_for_clip(page, clips[0])
    auto = page.get_by_label("Play next automatically")
    assert not auto.is_checked()
    page.get_by_role("button", name="Play", exact=True).click()
    wait(page, "document.querySelector('video').ended", timeout=10_000)
    page.wait_for_timeout(500)
    assert current(page) == clips[0].id  # not asked: it stays
    auto.check()
    page.reload()
    wait_for_clip(page, clips[0])
    assert page.get_by_label("Play next automatically").is_checked()  # kept
    page.get_by_role("button", name="Play", exact=True).click()
    wait_for_clip(page, clips[1])
    wait(page, "document.querySelector('video').currentTime > 0.2")
    assert playing(page)
    assert page.locator(".amps-playlist-status").inner_text().startswith("Now playing clip 2")
    assert_no_axe_violations(page)


def test_survives_the_deletion_of_a_clip(
    page: Page, library: Library, clips: list[Clip], clip_files: list[Path]
) -> None:
    doomed = library.upload(clip_files[1], title="Doomed part")
    made = make_playlist(library, [clips[0].id, doomed.id, clips[2].id], "With a gap")
    page.goto(made["urls"]["watch"])
    wait_for_clip(page, clips[0])
    assert httpx.delete(doomed.api, timeout=10).status_code == 204
    page.get_by_role("button", name="Next clip").click()
    wait_for_clip(page, clips[2])  # the second is now the one after the deleted clip
    assert page.locator(".amps-playlist-items a").count() == 2
    assert page.locator(".amps-playlist-position").inner_text() == "Clip 2 of 2"
    assert page.get_by_role("button", name="Next clip").is_disabled()
    assert_no_axe_violations(page)
    page.reload()
    assert doomed.id not in page.content()


def test_an_empty_playlist_says_no_media(page: Page, library: Library) -> None:
    made = make_playlist(library, [], "Nothing yet")
    page.goto(made["urls"]["watch"])
    alert = page.get_by_role("alert")
    assert "No media source currently available" in alert.inner_text()
    assert page.get_by_text("This playlist has no clips.").is_visible()
    assert_no_axe_violations(page)
    page.goto(made["urls"]["embed"])
    assert page.get_by_role("alert").is_visible()
    assert_no_axe_violations(page)


def test_without_javascript_the_list_links_each_clip(
    new_page: Callable[..., Page], clips: list[Clip], playlist: dict[str, Any]
) -> None:
    page = new_page(java_script_enabled=False)
    page.goto(playlist["urls"]["watch"] + "?item=2")
    links = page.locator(".amps-playlist-items a")
    assert [links.nth(n).get_attribute("href") for n in range(3)] == [c.watch for c in clips]
    assert links.nth(1).get_attribute("aria-current") == "true"
    assert page.locator("video").get_attribute("controls") is not None  # plays natively
    assert clips[1].id in (page.locator("video source").get_attribute("src") or "")
    assert not page.get_by_role("button", name="Next clip").is_visible()
    links.nth(2).click()
    page.wait_for_url(clips[2].watch)
    # axe-core needs JavaScript: the same page with the player's script served empty.
    quiet = new_page()
    quiet.route(
        "**/build/player.js", lambda route: route.fulfill(body="", content_type="text/javascript")
    )
    quiet.goto(playlist["urls"]["watch"] + "?item=2")
    assert quiet.locator(".amps-playlist-controls").is_hidden()
    assert_no_axe_violations(quiet)


def test_embed_tells_the_host_clip_id_and_index(
    new_page: Callable[..., Page], clips: list[Clip], playlist: dict[str, Any]
) -> None:
    script = """
    const seen = (window.seen = []);
    addEventListener("message", (e) => seen.push(e.data));
    window.send = (method, args) => document.querySelector("iframe").contentWindow
      .postMessage({ amps: 1, method, args, requestId: Math.random() }, "*");
    """
    src = playlist["urls"]["embed"]
    frame = f'<iframe src="{src}" title="Our town" width="320" height="400"></iframe>'
    site = HostSite(
        {
            "/": f"<!doctype html><title>Host</title>{frame}<script src=/h.js></script>",
            "/h.js": script,
        }
    )
    try:
        page = new_page()
        page.goto(site.url)
        wait(page, "seen.some((m) => m.event == 'ready')")
        ready = [m for m in page.evaluate("seen") if m.get("event") == "ready"][0]
        assert (ready["id"], ready["index"], ready["playlist"]) == (clips[0].id, 0, playlist["id"])
        page.evaluate("send('next')")
        wait(page, "seen.some((m) => m.event == 'ready' && m.index == 1)")
        ready = [m for m in page.evaluate("seen") if m.get("event") == "ready"][-1]
        assert ready["id"] == clips[1].id and ready["state"]["index"] == 1
        page.evaluate("send('play')")
        wait(page, "seen.some((m) => m.event == 'play')")
        played = [m for m in page.evaluate("seen") if m.get("event") == "play"][-1]
        assert (played["id"], played["index"]) == (clips[1].id, 1)
        page.evaluate("send('select', [2])")
        wait(page, "seen.some((m) => m.event == 'ready' && m.index == 2)")
    finally:
        site.close()


def test_embed_at_320_pixels(
    new_page: Callable[..., Page], clips: list[Clip], playlist: dict[str, Any]
) -> None:
    page = new_page(viewport={"width": 320, "height": 420})
    page.goto(playlist["urls"]["embed"])
    wait_for_clip(page, clips[0])
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.get_by_role("button", name="Next clip").click()
    wait_for_clip(page, clips[1])
    assert_no_axe_violations(page)
    screenshot(page, "playlist-embed-320")
