"""The browser test infrastructure works: Chromium, axe-core, the AX tree, screenshots,
emulation, throttling, and the uploaded clips' streams in a bare media element."""

import re
import time

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Clip, Library
from tests.browser.helpers import (
    ErrorLog,
    ax_find,
    ax_one,
    ax_props,
    ax_tree,
    ax_value,
    ax_value_text,
    axe_format,
    forced_colors,
    media_state,
    narrow,
    reduced_motion,
    run_axe,
    screenshot,
    throttle,
    unthrottle,
    wait_for_media,
)


def bare_media(page: Page, library: Library, clip: Clip, tag: str = "video") -> None:
    """A page on the server's origin holding only <video src=STREAM muted>."""
    page.goto(f"{library.url}/healthz")
    page.set_content(f'<!doctype html><title>bare</title><{tag} src="{clip.stream}" muted></{tag}>')


def test_docs_page_axe_ax_tree_and_screenshot(
    page: Page, library: Library, page_errors: ErrorLog
) -> None:
    # Swagger UI comes from a CDN, which the hermetic browser cannot reach.
    page_errors.allow(r"cdn\.jsdelivr\.net|ERR_NAME_NOT_RESOLVED|SwaggerUIBundle is not defined")
    response = page.goto(f"{library.url}/docs")
    assert response is not None and response.ok

    violations = run_axe(page)
    assert isinstance(violations, list)
    assert "no violations" in axe_format([]) and isinstance(axe_format(violations), str)

    nodes = ax_tree(page)
    assert ax_find(nodes, role="RootWebArea"), [n.get("role") for n in nodes]
    assert ax_one(nodes, role="RootWebArea")["name"]["value"] == page.title()

    path = screenshot(page, "smoke-docs")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


def test_axe_reports_violations_and_runs_under_a_strict_csp(
    page: Page, library: Library, page_errors: ErrorLog
) -> None:
    page.goto(f"{library.url}/healthz")
    page.set_content(
        "<!doctype html><html><head>"
        "<meta http-equiv='Content-Security-Policy' content=\"script-src 'self'\">"
        "<title>csp</title></head><body><main><button></button><img src='x.png'>"
        "<script>document.title = 'inline ran'</script></main></body></html>"
    )
    # The inline script was refused, and that refusal is an error the test would fail on.
    assert page.title() == "csp"
    assert any("Content Security Policy" in e for e in page_errors.entries), page_errors.entries
    page_errors.allow(r"Content Security Policy|status of 404 .*/x\.png")

    violations = run_axe(page)
    rules = {v["id"] for v in violations}
    assert {"button-name", "image-alt"} <= rules, axe_format(violations)
    text = axe_format(violations)
    assert "button-name" in text and "target: button" in text and "Fix any of the following" in text


def test_ax_tree_names_media_and_controls(page: Page, library: Library) -> None:
    page.goto(f"{library.url}/healthz")
    page.set_content(
        f'<!doctype html><title>ax</title><video src="{library.video.stream}" controls muted '
        'aria-label="Test clip"></video><button aria-pressed="true">Mute</button>'
        '<input type="range" aria-label="Seek" min="0" max="205" value="65" '
        'aria-valuetext="1 minute 5 seconds of 3 minutes 25 seconds">'
    )
    nodes = ax_tree(page)
    assert ax_find(nodes, name="Test clip"), "the <video> is not in the AX tree"
    mute = ax_one(nodes, role="button", name="Mute")
    assert {p["name"]: p["value"]["value"] for p in mute["properties"]}["pressed"] == "true"
    seek = ax_one(nodes, role="slider", name=re.compile("^Seek$"))
    assert ax_value(seek) == 65 and ax_props(seek)["valuemax"] == 205
    assert ax_value_text(page, seek) == "1 minute 5 seconds of 3 minutes 25 seconds"


def test_emulation_helpers(page: Page, library: Library) -> None:
    page.goto(f"{library.url}/healthz")
    forced_colors(page)
    reduced_motion(page)
    narrow(page)
    assert page.evaluate(
        "[matchMedia('(forced-colors: active)').matches,"
        " matchMedia('(prefers-reduced-motion: reduce)').matches, innerWidth]"
    ) == [True, True, 320]


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_stream_plays_and_seeks_in_a_bare_page(page: Page, library: Library, kind: str) -> None:
    clip = library.video if kind == "video" else library.audio
    bare_media(page, library, clip, kind)
    page.eval_on_selector(kind, "m => m.play()")
    state = wait_for_media(page, "m.readyState >= 4 && m.currentTime > 0.3", kind)
    assert not state["paused"] and state["error"] is None
    assert abs(state["duration"] - clip.duration) < 0.5, (state, clip.duration)

    started = time.perf_counter()
    page.eval_on_selector(kind, "m => { m.currentTime = 100; }")
    state = wait_for_media(page, "!m.seeking && m.currentTime >= 100", kind, timeout=5)
    took = time.perf_counter() - started
    assert abs(state["currentTime"] - 100) < 1, state
    assert took < 1, f"the seek to 100 s took {took:.2f} s"
    screenshot(page, f"smoke-bare-{kind}")


def test_gone_clip_gives_a_media_error(page: Page, library: Library, page_errors: ErrorLog) -> None:
    page_errors.allow(r"Failed to load resource: the server responded with a status of 404")
    bare_media(page, library, library.gone)
    state = wait_for_media(page, "m.error !== null")
    assert state["error"] == 4, state  # MEDIA_ERR_SRC_NOT_SUPPORTED


def test_throttled_seek_sends_a_range_request(page: Page, library: Library) -> None:
    ranges: list[str] = []
    page.on(
        "request",
        lambda r: ranges.append(r.headers.get("range", "")) if "/stream" in r.url else None,
    )
    cdp = throttle(page, download_kbps=2000)
    bare_media(page, library, library.video)
    wait_for_media(page, "m.readyState >= 1")
    page.eval_on_selector("video", "m => { m.currentTime = 150; }")
    wait_for_media(page, "!m.seeking && m.readyState >= 2", timeout=20)
    unthrottle(cdp)
    starts = [int(m.group(1)) for r in ranges if (m := re.match(r"bytes=(\d+)-", r))]
    assert any(start > 0 for start in starts), f"no range request after the seek: {ranges}"
    assert media_state(page)["currentTime"] == pytest.approx(150, abs=1)


def test_library_fixture(library: Library) -> None:
    from tests.media import LENGTH

    assert library.video.record["kind"] == "video" and library.audio.record["kind"] == "audio"
    for clip in (library.video, library.audio):
        assert abs(clip.duration - LENGTH) < 1, clip.record
        if library.has_tracks_route:
            (track,) = clip.tracks
            assert track["kind"] == "captions" and track["srclang"] == "en", track
    assert library.gone.record["status"] == "ready"  # the record stays; only the bytes are gone
