"""The upload page over tus (tus-js-client in Chromium): pause and resume, a dropped link, and a
reload with the same file chosen again, each ending as a whole clip without starting over."""

import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
from playwright.sync_api import Page, Request

from tests.browser.conftest import Library
from tests.browser.helpers import throttle
from tests.cutting_proxy import CuttingProxy

TUS = {"Tus-Resumable": "1.0.0"}


def start(page: Page, library: Library, path: Path, title: str) -> None:
    page.goto(f"{library.url}/upload")
    page.set_input_files("#amps-file", path)
    page.fill("#amps-title", title)
    page.click("button.amps-submit")


def wait_progress(page: Page, percent: int, timeout: float = 20) -> None:
    # Polled from here: wait_for_function evaluates a string, which our CSP forbids.
    deadline = time.monotonic() + timeout
    while page.evaluate("document.querySelector('progress').value") < percent:
        assert time.monotonic() < deadline, f"the progress bar never reached {percent}%"
        time.sleep(0.05)


def finished_record(page: Page, library: Library, title: str) -> dict[str, Any]:
    link = page.locator(".amps-upload-status a")
    link.wait_for(timeout=60_000)
    assert link.inner_text() == title
    media_id = link.get_attribute("href").rsplit("/", 1)[-1]  # type: ignore[union-attr]
    record: dict[str, Any] = httpx.get(f"{library.url}/api/media/{media_id}").json()
    return record


def offset_of(url: str) -> int:
    return int(httpx.head(url, headers=TUS).headers["Upload-Offset"])


def upload_urls(page: Page) -> list[str]:
    found: list[str] = []

    def created(response: Any) -> None:
        if response.request.method == "POST" and response.url.endswith("/api/uploads"):
            found.append(response.headers["location"])

    page.on("response", created)
    return found


def test_pause_holds_the_upload_and_resume_finishes_it(
    page: Page, library: Library, media_files: dict[str, Path]
) -> None:
    path = media_files["audio.m4a"]
    urls = upload_urls(page)
    session = throttle(page, download_kbps=10_000, upload_kbps=1600, latency_ms=20)
    start(page, library, path, "Paused and resumed")
    wait_progress(page, 10)
    page.click("button.amps-pause")
    page.get_by_text("Upload paused at").wait_for()
    assert page.evaluate("document.activeElement.className").endswith("amps-resume")
    time.sleep(0.5)  # the aborted PATCH's bytes are recorded
    held = offset_of(urls[0])
    time.sleep(1)
    assert 0 < offset_of(urls[0]) == held < path.stat().st_size
    page.click("button.amps-resume")
    record = finished_record(page, library, "Paused and resumed")
    session.detach()
    assert record["size"] == path.stat().st_size
    assert len(urls) == 1  # one upload, resumed, not a second one


def test_a_dropped_link_resumes_by_itself(
    page: Page, page_errors: Any, library: Library, media_files: dict[str, Path]
) -> None:
    """The link to the server drops mid-PATCH (a proxy closes it): tus-js-client asks HEAD
    where the upload stands and goes on from there."""
    page_errors.allow(r"ERR_(CONNECTION_RESET|EMPTY_RESPONSE|CONNECTION_CLOSED)")
    # Chromium sends a PATCH whose connection was reset again by itself, from offset 0: the
    # server, which kept what arrived, answers 409, and tus-js-client asks HEAD and goes on.
    page_errors.allow(r"status of 409 \(Conflict\)")
    path = media_files["audio.m4a"]
    proxy = CuttingProxy(("127.0.0.1", library.server.port)).start()
    try:
        page.goto(f"{proxy.url}/upload")
        urls = upload_urls(page)
        session = throttle(page, download_kbps=10_000, upload_kbps=1600, latency_ms=20)
        page.set_input_files("#amps-file", path)
        page.fill("#amps-title", "Through a dropped link")
        page.click("button.amps-submit")
        wait_progress(page, 20)
        proxy.cut()
        record = finished_record(page, library, "Through a dropped link")
        session.detach()
    finally:
        proxy.stop()
    assert record["size"] == path.stat().st_size
    assert len(urls) == 1
    # Sent again after the cut: at most what was in flight, not the file from its start.
    assert proxy.forwarded < 1.6 * path.stat().st_size


def test_a_reload_resumes_with_the_same_file(
    page: Page, library: Library, media_files: dict[str, Path]
) -> None:
    path = media_files["audio.m4a"]
    urls = upload_urls(page)
    session = throttle(page, download_kbps=10_000, upload_kbps=1600, latency_ms=20)
    start(page, library, path, "Across a reload")
    wait_progress(page, 20)
    page.reload()
    session.detach()
    reached = offset_of(urls[0])
    assert reached > 0
    offsets: list[int] = []

    def patched(request: Request) -> None:
        if request.method == "PATCH":
            offsets.append(int(request.headers["upload-offset"]))

    page.on("request", patched)
    page.set_input_files("#amps-file", path)
    page.fill("#amps-title", "Across a reload")
    page.click("button.amps-submit")
    record = finished_record(page, library, "Across a reload")
    assert record["size"] == path.stat().st_size
    assert len(urls) == 1  # no new upload after the reload
    assert offsets[0] == reached  # it went on from where the server had got to


def test_the_script_field_goes_with_the_upload(
    page: Page, library: Library, tmp_path: Path
) -> None:
    """A short script rides in the tus metadata; one past what a header should carry is sent
    with PUT .../script once the upload is done. Either way the server keeps it for the align
    job, and the form says nothing went wrong."""
    from tests.media import ffmpeg

    clip = tmp_path / "tone.m4a"  # short: the server's align job on it is over in a moment
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(clip))
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    short = "Good evening. The council met on Tuesday."
    long = "The council met on Tuesday and agreed a budget for the year. " * 150  # 9 KB
    for title, script in (("Short script", short), ("Long script", long)):
        sent.clear()
        page.goto(f"{library.url}/upload")
        page.set_input_files("#amps-file", clip)
        page.fill("#amps-title", title)
        page.fill("#amps-script", script)
        page.click("button.amps-submit")
        record = finished_record(page, library, title)
        status = page.locator(".amps-upload-status").inner_text()
        assert "script was not kept" not in status
        created = next(r for r in sent if r.method == "POST" and r.url.endswith("/api/uploads"))
        puts = [r for r in sent if r.method == "PUT"]
        if script == short:
            assert " script " in f" {created.headers['upload-metadata'].replace(',', ' ')} "
            assert puts == []
        else:
            assert "script" not in created.headers["upload-metadata"]
            [put] = puts
            assert put.url.endswith(f"/api/media/{record['id']}/script")
            assert put.response() is not None and put.response().status == 202  # type: ignore[union-attr]
        media_dir = library.server.media_dir
        [kept] = [p for p in media_dir.rglob("script.txt") if record["id"] in p.parts]
        assert kept.read_text(encoding="utf-8") == script
        assert page.input_value("#amps-script") == ""  # the form is reset for the next clip
