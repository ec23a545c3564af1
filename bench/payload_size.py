"""What an amps embed page loads (JS + CSS, gzip -9) next to Plyr 3.8 and media-chrome 4.19.

Run: `.venv/bin/python bench/payload_size.py [-v]` after `make install` (node_modules holds
the baselines). It starts `amps serve` on a free loopback port with a fresh library, uploads
a 2-second ffmpeg clip, fetches /embed/{id} and follows every stylesheet, script and ES
module import the page would load (static imports recursively; dynamic `import()` is listed
apart, as loaded on demand). Sizes are of the bytes as served, each file gzipped on its own
at level 9 (as a server precompresses them). Exit status 1 when amps is over its budget.
"""

import argparse
import gzip
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
BUDGET_KB = 20.0
KB = 1000  # decimal kilobytes, as bundle-size sites report them

# Static imports and re-exports: `import x from "./a.js"`, `import "./a.js"`,
# `export {x} from "./a.js"`, `export * from "./a.js"`; and dynamic `import("./a.js")`.
STATIC_IMPORT = re.compile(
    r"""(?:^|[;\s}])(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?["']([^"']+)["']""",
    re.MULTILINE,
)
DYNAMIC_IMPORT = re.compile(r"""(?<![.\w$])import\s*\(\s*["']([^"']+)["']\s*\)""")
CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?([^"')\s;]+)""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")


@dataclass
class Payload:
    player: str
    note: str
    files: dict[str, bytes] = field(default_factory=dict)  # name -> raw bytes
    on_demand: dict[str, bytes] = field(default_factory=dict)
    other: dict[str, bytes] = field(default_factory=dict)  # not JS/CSS (icons), not summed

    @property
    def raw(self) -> int:
        return sum(len(b) for b in self.files.values())

    @property
    def gzip(self) -> int:
        return sum(gz(b) for b in self.files.values())


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


# --- amps, from a running server ---------------------------------------------------------------


class PageAssets(HTMLParser):
    """Stylesheets, scripts (classic and module, external and inline) and other references."""

    def __init__(self) -> None:
        super().__init__()
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self.inline_modules: list[str] = []
        self.other: list[str] = []
        self._in_module = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        rel = a.get("rel", "").lower().split()
        if tag == "link" and "stylesheet" in rel and a.get("href"):
            self.styles.append(a["href"])
        elif tag == "link" and "modulepreload" in rel and a.get("href"):
            self.scripts.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "script" and a.get("type") == "module":
            self._in_module = True
        elif tag in ("use", "img", "image") and (a.get("href") or a.get("src")):
            self.other.append((a.get("href") or a.get("src")).split("#")[0])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_module = False

    def handle_data(self, data: str) -> None:
        if self._in_module and data.strip():
            self.inline_modules.append(data)


def same_origin(url: str, base: str) -> bool:
    return urlsplit(url)[:2] == urlsplit(base)[:2]


def crawl_amps(client: httpx.Client, page_url: str) -> Payload:
    response = client.get(page_url)
    response.raise_for_status()
    parser = PageAssets()
    parser.feed(response.text)
    payload = Payload("amps", f"everything {urlsplit(page_url).path} loads")
    seen: set[str] = set()

    def fetch(url: str) -> bytes:
        got = client.get(url, headers={"Accept-Encoding": "identity"})
        got.raise_for_status()
        return got.content

    def add_module(url: str, into: dict[str, bytes]) -> None:
        if url in seen:
            return
        seen.add(url)
        body = fetch(url)
        into[urlsplit(url).path] = body
        follow_module(body.decode("utf-8", "replace"), url, into)

    def follow_module(source: str, base: str, into: dict[str, bytes]) -> None:
        for spec in STATIC_IMPORT.findall(source):
            add_module(urljoin(base, spec), into)
        for spec in DYNAMIC_IMPORT.findall(source):
            add_module(urljoin(base, spec), payload.on_demand)

    def add_style(url: str) -> None:
        if url in seen:
            return
        seen.add(url)
        body = fetch(url)
        payload.files[urlsplit(url).path] = body
        text = body.decode("utf-8", "replace")
        imports = set(CSS_IMPORT.findall(text))
        for spec in imports:
            add_style(urljoin(url, spec))
        for spec in set(CSS_URL.findall(text)) - imports:
            add_other(urljoin(url, spec))

    def add_other(url: str) -> None:
        if url.startswith("data:") or url in seen or not same_origin(url, page_url):
            return
        seen.add(url)
        payload.other[urlsplit(url).path] = fetch(url)

    for href in parser.styles:
        add_style(urljoin(page_url, href))
    for src in parser.scripts:
        add_module(urljoin(page_url, src), payload.files)
    for source in parser.inline_modules:
        follow_module(source, page_url, payload.files)
    for ref in parser.other:
        add_other(urljoin(page_url, ref))
    return payload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def amps_embed(workdir: Path) -> Payload | None:
    """The embed page's payload from a fresh server with one short clip; None if there is none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    clip_path = workdir / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:duration=2",
        ]
        + ["-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
        + ["-c:a", "aac", "-shortest", "-movflags", "+faststart", str(clip_path)],
        check=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        + ["--media-dir", str(workdir / "media"), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 20
            while True:
                if server.poll() is not None:
                    raise SystemExit("amps serve exited at start-up")
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("amps serve did not become healthy in 20 s")
                time.sleep(0.1)
            with clip_path.open("rb") as body:
                uploaded = client.post(
                    "/api/media", files={"file": ("clip.mp4", body)}, data={"title": "Payload"}
                )
            uploaded.raise_for_status()
            clip = uploaded.json()
            embed = f"{base}/embed/{clip['id']}"
            if client.get(embed).status_code == 404:
                return None  # no embed page yet (any other failure is raised while crawling)
            return crawl_amps(client, embed)
    finally:
        server.terminate()
        server.wait(10)


def amps_static_files() -> Payload:
    payload = Payload("amps", "FALLBACK: no embed page yet; every static/**/*.js and *.css")
    for path in sorted((ROOT / "static").rglob("*")):
        if path.suffix in (".js", ".css") and path.is_file():
            payload.files[path.relative_to(ROOT).as_posix()] = path.read_bytes()
    return payload


# --- baselines from npm ------------------------------------------------------------------------


def package_version(name: str) -> str:
    import json

    return str(json.loads((NODE_MODULES / name / "package.json").read_text())["version"])


def npm_payload(player: str, package: str, names: list[str], note: str) -> Payload:
    directory = NODE_MODULES / package
    if not directory.is_dir():
        raise SystemExit(f"{directory} is missing: run `make install` (npm ci)")
    payload = Payload(f"{player} {package_version(package)}", note)
    for name in names:
        payload.files[f"{package}/{name}"] = (directory / name).read_bytes()
    return payload


def baselines() -> list[Payload]:
    return [
        npm_payload(
            "Plyr",
            "plyr",
            ["dist/plyr.min.js", "dist/plyr.css"],
            "its documented <script> + <link>; plus plyr.svg icons (fetched, not counted)",
        ),
        npm_payload(
            "media-chrome",
            "media-chrome",
            ["dist/iife/index.js"],
            "the minified one-file build of its main entry (what its README's "
            "<script type=module src=…/media-chrome@4/+esm> loads): controller, buttons, "
            "ranges, time displays, dialogs; styles inside; no menus",
        ),
        npm_payload(
            "media-chrome +menus",
            "media-chrome",
            ["dist/iife/all.js"],
            "dist/iife/all.js: the above plus menus (captions, speed, audio tracks) and themes, "
            "the set comparable to amps' captions and speed menus",
        ),
    ]


# --- report ------------------------------------------------------------------------------------


def kb(n: int) -> str:
    return f"{n / KB:.1f}"


def report(payloads: list[Payload], verbose: bool) -> bool:
    width = max(len(p.player) for p in payloads)
    print(f"{'player':<{width}} | files | raw KB | gzip KB")
    print(f"{'-' * width}-|-------|--------|--------")
    for p in payloads:
        print(f"{p.player:<{width}} | {len(p.files):>5} | {kb(p.raw):>6} | {kb(p.gzip):>7}")
    print()
    for p in payloads:
        print(f"{p.player}: {p.note}")
        if verbose or p.player == "amps":
            for name, body in sorted(p.files.items()):
                print(f"    {name:<60} {kb(len(body)):>6} KB raw {kb(gz(body)):>6} KB gzip")
        for label, extra in (
            ("on demand (not counted)", p.on_demand),
            ("other (not counted)", p.other),
        ):
            for name, body in sorted(extra.items()):
                print(f"    {label}: {name} {kb(len(body))} KB raw, {kb(gz(body))} KB gzip")
    amps = payloads[0]
    ok = amps.gzip <= BUDGET_KB * KB
    print()
    print(
        f"{'PASS' if ok else 'FAIL'}: amps {kb(amps.gzip)} KB gzip "
        f"{'<=' if ok else '>'} {BUDGET_KB:.0f} KB budget "
        f"(KB = 1000 bytes; each file gzip -9 on its own; {amps.note})"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amps-payload-") as tmp:
        amps = amps_embed(Path(tmp))
    if amps is None or not amps.files:
        amps = amps_static_files()
    return 0 if report([amps, *baselines()], args.verbose) else 1


if __name__ == "__main__":
    sys.exit(main())
