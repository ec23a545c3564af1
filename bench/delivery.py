"""Delivery on slow links, in Chromium (CDP throttling, cache disabled, a fresh context per load).

Run: `.venv/bin/python bench/delivery.py [--rounds 3]` after `make install`. It starts `amps serve`
on a fresh library, uploads a 60 s 720p clip and waits for its rendition ladder, then prints:

1. Time until the custom controls work (from navigation start) at 300 ms / 1.6 Mbit/s and at
   40 ms / 20 Mbit/s: the amps embed against Plyr and media-chrome from node_modules, served
   gzipped by a small static server as a CDN would, playing the same clip from the same amps
   with the same poster (the small still the embed shows first).
   Players alternate within each round; medians of the rounds.
2. At 400 kbit/s and 1.6 Mbit/s (80 ms): time to the first frame and stalls (`waiting` events)
   in the first 25 s of an autoplaying 400 px-wide embed: today's single rendition (the 720p
   file, chosen in the quality menu) against the ladder (Auto).
3. What the ladder costs to make: CPU seconds (ffmpeg's, as its children) per minute of video.
"""

import argparse
import gzip
import resource
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
from playwright.sync_api import Browser, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.media.ladder import make_ladder, rungs_for  # noqa: E402
from bench._support import (  # noqa: E402
    CACHE,
    AmpsServer,
    _ffmpeg,
    free_port,
    machine_load,
    sigterm_as_interrupt,
    temp_dir,
)

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
LINKS = {"300 ms, 1.6 Mbit/s": (300, 1600), "40 ms, 20 Mbit/s": (40, 20000)}
PLAY_LINKS = {"400 kbit/s": (80, 400), "1.6 Mbit/s": (80, 1600)}
SECONDS = 60

# When each player's own controls work: its play button exists and is wired up.
READY = {
    "amps": "document.querySelector('[data-amps-player].amps-scripted .amps-play')",
    "Plyr": "window.plyrReady",
    "media-chrome": "customElements.get('media-play-button') && document.querySelector("
    "'media-play-button')?.shadowRoot && document.querySelector('media-controller')?.media",
}
WATCH = """
window.__ready = null;
const poll = () => { if (%s) window.__ready = performance.now(); else setTimeout(poll, 5); };
poll();
"""
PLYR_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/plyr.css"></head><body>
<video id="p" controls preload="metadata" crossorigin playsinline src="{src}" poster="{poster}">
</video>
<script src="/plyr.min.js"></script>
<script>const p = new Plyr("#p"); p.on("ready", () => (window.plyrReady = true));</script>
</body></html>"""
CHROME_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="module" src="/media-chrome.js"></script></head><body>
<media-controller><video slot="media" preload="metadata" crossorigin playsinline src="{src}"
poster="{poster}">
</video><media-control-bar><media-play-button></media-play-button>
<media-time-range></media-time-range><media-mute-button></media-mute-button>
</media-control-bar></media-controller></body></html>"""
# First frame and stalls of the page's <video>, in page time.
PLAYBACK = """
window.__first = null; window.__stalls = 0;
new MutationObserver(() => {
  const v = document.querySelector("video");
  if (!v || v.__watched) return;
  v.__watched = true;
  v.requestVideoFrameCallback(() => (window.__first ??= performance.now()));
  v.addEventListener("waiting", () => {
    if (window.__first && v.currentTime > 0.1) window.__stalls++;
  });
}).observe(document, { subtree: true, childList: true });
"""


class Static(BaseHTTPRequestHandler):
    files: dict[str, tuple[bytes, str]] = {}

    def do_GET(self) -> None:  # noqa: N802
        body, kind = self.files.get(self.path, (b"", ""))
        if not kind:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        if kind != "text/html":
            body = gzip.compress(body, 9)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def static_server(stream: str, poster: str) -> str:
    """Plyr and media-chrome pages as a site would serve them: gzipped, showing the poster
    the amps embed shows first (its small still) while the same clip loads."""
    Static.files = {
        "/plyr.css": ((NODE / "plyr/dist/plyr.css").read_bytes(), "text/css"),
        "/plyr.min.js": ((NODE / "plyr/dist/plyr.min.js").read_bytes(), "text/javascript"),
        "/media-chrome.js": ((NODE / "media-chrome/dist/iife/index.js").read_bytes(),
                             "text/javascript"),
        "/plyr.html": (PLYR_PAGE.format(src=stream, poster=poster).encode(), "text/html"),
        "/chrome.html": (CHROME_PAGE.format(src=stream, poster=poster).encode(), "text/html"),
    }  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Static)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def source_clip() -> Path:
    """60 s of 720p at 25 fps, about 2 Mbit/s: a typical upload."""
    target = CACHE / f"delivery-720p-{SECONDS}s.mp4"
    if target.exists():
        return target
    return _ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2000k", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart"],
        target,
    )  # fmt: skip


def load(browser: Browser, url: str, link: tuple[int, int], init: str, width: int = 1280,
         quality: str | None = None) -> Page:  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": width * 9 // 16 + 120})
    try:
        page = context.new_page()
        if quality:
            # As the player keeps it: JSON.
            page.add_init_script(f"localStorage.setItem('amps-quality', '\"{quality}\"')")
        page.add_init_script(init)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        latency, kbps = link
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": latency,
            "downloadThroughput": kbps * 1000 / 8, "uploadThroughput": kbps * 1000 / 8,
        })  # fmt: skip
        page.goto(url, wait_until="commit")
        return page
    except Exception:
        context.close()
        raise


def controls_ready(browser: Browser, url: str, player: str, link: tuple[int, int]) -> float:
    page = load(browser, url, link, WATCH % READY[player])
    try:
        page.wait_for_function("() => window.__ready", timeout=60_000)
        return float(page.evaluate("window.__ready")) / 1000
    finally:
        page.context.close()


def playback(
    browser: Browser, url: str, link: tuple[int, int], quality: str | None
) -> dict[str, Any]:
    page = load(browser, url, link, PLAYBACK, width=400, quality=quality)
    try:
        page.wait_for_function("() => window.__first", timeout=60_000)
        first = float(page.evaluate("window.__first")) / 1000
        time.sleep(25)
        state = page.evaluate(
            "({stalls: window.__stalls, played: document.querySelector('video').currentTime,"
            " src: document.querySelector('video').currentSrc.split('/').pop()})"
        )
        return {"first": first, **state}
    finally:
        page.context.close()


def ladder_cost(source: Path) -> float:
    """ffmpeg's CPU seconds (user + system, as this process's children) per minute of video."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with temp_dir("amps-bench-ladder-") as folder:
        make_ladder(source, rungs_for("video", 1280, 720, SECONDS), folder, 3600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / (SECONDS / 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", choices=["controls", "playback"], help="one part (the ladder cost is skipped)"
    )
    options = parser.parse_args()
    rounds, only = options.rounds, options.only
    sigterm_as_interrupt()  # the server and browser are stopped on SIGTERM too
    source = source_clip()
    with temp_dir("amps-bench-delivery-") as work:
        server = AmpsServer(work / "media", work / "amps.log", env={"AMPS_AUTOMATIC_CAPTIONS": "0"})
        server.start(60)
        try:
            clip = server.upload(source)
            record: dict[str, Any] = {}
            for _ in range(600):
                record = httpx.get(f"{server.base}/api/media/{clip.id}").json()
                if record["renditions"]:
                    break
                time.sleep(1)
            print(machine_load())
            print("ladder:", ", ".join(f"{r['name']} {r['bitrate'] // 1000} kbit/s"
                                       for r in record["renditions"]))  # fmt: skip
            small_poster = f"{record['urls']['poster']}?size=small"
            static = static_server(record["urls"]["playable"], small_poster)
            pages = {"amps": f"{server.base}/embed/{clip.id}", "Plyr": f"{static}/plyr.html",
                     "media-chrome": f"{static}/chrome.html"}  # fmt: skip
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                print("\ntime until the custom controls work (median of "
                      f"{rounds}, cold cache):")  # fmt: skip
                for name, link in LINKS.items() if only != "playback" else []:
                    times: dict[str, list[float]] = {p: [] for p in pages}
                    for _ in range(rounds):
                        for player, url in pages.items():  # alternating
                            times[player].append(controls_ready(browser, url, player, link))
                    cells = "  ".join(f"{p} {statistics.median(t):.2f} s" for p, t in times.items())
                    print(f"  {name:>20}: {cells}")
                print("\n400 px embed, autoplay: first frame, stalls and media played in 25 s:")
                embed = f"{server.base}/embed/{clip.id}?autoplay=1"
                for name, link in PLAY_LINKS.items() if only != "controls" else []:
                    for label, quality in (("single 720p", "720p"), ("ladder (Auto)", None)):
                        got = playback(browser, embed, link, quality)
                        print(f"  {name:>10} {label:>14}: first frame {got['first']:.2f} s, "
                              f"{got['stalls']} stalls, {got['played']:.1f} s played "
                              f"({got['src']})")  # fmt: skip
                browser.close()
        finally:
            server.stop()
    if only is None:
        cost = ladder_cost(source)
        print(f"\nladder encoding: {cost:.1f} CPU-seconds per minute of 720p video")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
