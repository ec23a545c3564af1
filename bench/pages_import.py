"""Pages, import and library size (issue 7, goals 3-5), each beside its reference in one run.

  * pages: requests/s of the watch page `/media/{id}` and the embed page `/embed/{id}` (first
    views and repeat views answered 304) against a FastAPI route returning a fixed 5 KB HTML
    string, added beside create_app's routes in the same uvicorn server (same middleware);
    wrk, 32 connections, rounds interleaved, medians;
  * import: files/s of `amps import DIR` (a fresh library) over 1,000 generated audio files
    of mixed formats, against `ffprobe -show_format -show_streams` run per file in series
    (timed on a random sample and extrapolated, as the table says);
  * library size: time per request of the library page and `GET /api/media` (first page, a
    middle page reached through the `next` links, a title search) with 10,000 clips against
    the same with 100 (records inserted through the Catalog, nothing probed).

A benchmark, not a test: it prints figures. Clients and servers share this machine's cores.

    .venv/bin/python bench/pages_import.py                 # everything, a few minutes
    .venv/bin/python bench/pages_import.py --only pages    # or import, library
    .venv/bin/python bench/pages_import.py --quick         # shorter runs, fewer files
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _support import (
    CACHE,
    PYTHON,
    ROOT,
    free_port,
    machine_load,
    need,
    short_clip,
    sigterm_as_interrupt,
    stop_process,
    temp_dir,
    wait_http,
)

Row = tuple[str, str, str, str]
FIXED_HTML = "<!doctype html><html lang=en><title>fixed</title><body><p>" + "x" * 4900 + "</p>"
FIXED_PATH = "/bench/fixed-5kb"
IMPORT_SOURCES = CACHE / "import-sources"
AUDIO_FORMATS = {  # extension -> ffmpeg output arguments
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "-vbr.mp3": ["-c:a", "libmp3lame", "-q:a", "5"],
    ".flac": ["-c:a", "flac", "-ar", "22050"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "1"],
    ".opus": ["-c:a", "libopus", "-b:a", "24k"],
    ".wav": ["-c:a", "pcm_s16le", "-ar", "8000", "-ac", "1"],
    ".m4a": ["-c:a", "aac", "-b:a", "32k"],
}
CADENCE = ("weekly", "daily")  # a search for "weekly" fills a page with 100 clips as with 10,000
WORDS = ("budget", "council", "river", "school", "music", "history", "garden", "election")
ARGS = argparse.Namespace(quick=False, servers=["granian", "uvicorn"])


def bench_app():  # type: ignore[no-untyped-def]
    """uvicorn factory: the amps app of AMPS_* settings plus the fixed 5 KB reference route."""
    from fastapi.responses import HTMLResponse

    from app.main import create_app

    app = create_app()

    async def fixed() -> HTMLResponse:
        return HTMLResponse(FIXED_HTML)

    app.add_api_route(FIXED_PATH, fixed, response_class=HTMLResponse, include_in_schema=False)
    return app


@contextmanager
def bench_server(media_dir: Path, log: Path, server: str = "uvicorn") -> Iterator[str]:
    """The bench app on `server` as `amps serve` runs it (one process, no proxy headers)."""
    port = free_port()
    target = "pages_import:bench_app"
    if server == "granian":
        command = [PYTHON, "-m", "granian", "--interface", "asgi", "--factory", "--no-ws"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", target]
    else:
        command = [PYTHON, "-m", "uvicorn", target, "--factory", "--port", str(port)]
        command += ["--no-proxy-headers", "--log-level", "warning", "--no-access-log"]
    paths = os.pathsep.join([str(ROOT / "bench"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "AMPS_MEDIA_DIR": str(media_dir), "PYTHONPATH": paths}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", 30, proc, log)  # type: ignore[arg-type]
        yield base
    finally:
        stop_process(proc)  # type: ignore[arg-type]


def wrk(
    url: str, seconds: float, connections: int = 32, headers: dict[str, str] | None = None
) -> float:
    """Requests/s of wrk on one URL; exits when any response is not 2xx/3xx."""
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if done.returncode != 0 or found is None or "Non-2xx" in done.stdout:
        sys.exit(f"wrk on {url} failed:\n{done.stdout}{done.stderr}")
    return float(found.group(1))


def interleaved(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Each measurement once per round, in turn, so a noisy moment hits all alike; medians."""
    figures: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            figures[name].append(run())
    return {name: statistics.median(values) for name, values in figures.items()}


# -- goal 3: pages ------------------------------------------------------------------------


def page_rows() -> list[Row]:

    from app.catalog.database import Catalog
    from app.config import Settings
    from app.library import Library
    from app.storage.local import LocalStorage

    need("wrk", "ffmpeg")
    seconds, rounds = (2, 2) if ARGS.quick else (4, 3)
    with temp_dir("amps-bench-pages-") as tmp:
        settings = Settings(media_dir=tmp / "media")
        settings.media_dir.mkdir()
        library = Library(settings, Catalog(settings.catalog_url), LocalStorage(settings.media_dir))
        library.start()
        media = library.add_file(short_clip(), title="Council meeting, 3 March")
        cues = "".join(
            f"00:{i:02d}.000 --> 00:{i:02d}.900\nLine {i} of the talk\n\n" for i in range(0, 60, 2)
        )
        library.add_track(media.id, "captions", "en", "English", "WEBVTT\n\n" + cues)
        library.catalog.dispose()
        table: list[Row] = []
        for server in ARGS.servers:
            with bench_server(settings.media_dir, tmp / f"{server}.log", server) as base:
                table += page_figures(server, base, media.id, seconds, rounds)
    return table


def page_figures(server: str, base: str, media_id: str, seconds: int, rounds: int) -> list[Row]:
    import httpx2

    watch, embed = f"{base}/media/{media_id}", f"{base}/embed/{media_id}"
    etag = httpx2.get(watch).headers["etag"]
    assert httpx2.get(watch, headers={"If-None-Match": etag}).status_code == 304
    print(f"  pages on {server}: {rounds} rounds of {seconds} s per URL ...", flush=True)
    rps = interleaved(
        {
            "fixed": lambda: wrk(base + FIXED_PATH, seconds),
            "watch page": lambda: wrk(watch, seconds),
            "embed page": lambda: wrk(embed, seconds),
            "watch page, repeat view (304)": lambda: wrk(
                watch, seconds, headers={"If-None-Match": etag}
            ),
        },
        rounds,
    )
    fixed = rps.pop("fixed")
    return [
        (f"{name}, {server}, 32 conn (reference: fixed 5 KB FastAPI route, same server)",
         f"{fixed:,.0f} req/s", f"{value:,.0f} req/s", f"{value / fixed:.2f}x")
        for name, value in rps.items()
    ]  # fmt: skip


# -- goal 4: import -----------------------------------------------------------------------


def ffmpeg(args: list[str], target: Path) -> None:
    partial = target.with_name(f".partial-{target.name}")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args, str(partial)],
        check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    partial.replace(target)


def import_sources(count: int = 28) -> list[Path]:
    """Distinct short recordings (tone, noise, length vary), each format four times; cached."""
    IMPORT_SOURCES.mkdir(parents=True, exist_ok=True)
    sources = []
    for index in range(count):
        suffix = list(AUDIO_FORMATS)[index % len(AUDIO_FORMATS)]
        target = IMPORT_SOURCES / f"source-{index:02d}{suffix}"
        if not target.exists():
            seconds = 3 + index % 5
            tone = f"sine=frequency={220 + 37 * index}:duration={seconds}"
            noise = f"anoisesrc=duration={seconds}:color=pink:amplitude=0.{index % 9 + 1}"
            mix = ["-filter_complex", "[0][1]amix=inputs=2"]
            ffmpeg(["-f", "lavfi", "-i", tone, "-f", "lavfi", "-i", noise, *mix,
                    *AUDIO_FORMATS[suffix]], target)  # fmt: skip
        sources.append(target)
    return sources


def import_files(count: int) -> Path:
    """`count` files cycling through the sources, each with its own title tag (so its own
    bytes and hash), cached under .cache/bench."""
    import mutagen

    directory = CACHE / f"import-{count}"
    if directory.is_dir() and len(list(directory.iterdir())) == count:
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    sources = import_sources()
    print(f"  import: making {count} files from {len(sources)} sources ...", flush=True)
    for index in range(count):
        source = sources[index % len(sources)]
        name = source.name.replace("source-", f"clip-{index:04d}-", 1)
        target = partial / name
        shutil.copyfile(source, target)
        if target.suffix == ".wav":  # no easy tags: a chunk RIFF readers skip, counted in RIFF
            with target.open("r+b") as handle:
                handle.seek(0, 2)
                handle.write(b"junk" + (4).to_bytes(4, "little") + index.to_bytes(4, "little"))
                handle.seek(4)
                handle.write((target.stat().st_size - 8).to_bytes(4, "little"))
            continue
        tagged = mutagen.File(target, easy=True)
        if tagged.tags is None:
            tagged.add_tags()
        tagged["title"] = f"{random.Random(index).choice(WORDS).title()} clip {index}"
        tagged.save()
    partial.rename(directory)
    return directory


def import_rows() -> list[Row]:
    need("ffmpeg", "ffprobe")
    count = 200 if ARGS.quick else 1000
    sample_size = 40 if ARGS.quick else 100
    directory = import_files(count)
    files = sorted(directory.iterdir())
    sample = random.Random(7).sample(files, sample_size)
    started = time.perf_counter()
    for path in sample:
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-show_streams", str(path)],
            check=True, capture_output=True,
        )  # fmt: skip
    serial_rate = sample_size / (time.perf_counter() - started)
    with temp_dir("amps-bench-import-") as tmp:
        print(f"  import: amps import of {count} files ...", flush=True)
        started = time.perf_counter()
        done = subprocess.run(
            [PYTHON, "-m", "app.cli", "import", str(directory), "--media-dir", str(tmp / "media")],
            cwd=ROOT, capture_output=True, text=True, check=False,
            env={"AMPS_AUTOMATIC_CAPTIONS": "false", **os.environ},  # the import alone
        )  # fmt: skip
        wall = time.perf_counter() - started
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        if done.returncode != 0 or summary != f"{count} added, 0 skipped":
            sys.exit(f"amps import failed ({done.returncode}): {summary}\n{done.stderr[-2000:]}")
    rate = count / wall
    return [
        (f"import {count} audio files (files/s; reference: ffprobe per file in series, "
         f"timed on {sample_size} and extrapolated)",
         f"{serial_rate:,.1f} files/s", f"{rate:,.1f} files/s", f"{rate / serial_rate:.1f}x"),
    ]  # fmt: skip


# -- goal 5: library size -----------------------------------------------------------------


def fill_catalog(media_dir: Path, count: int) -> None:
    """`count` ready clips straight into the catalog (nothing probed, no files)."""
    from app.catalog.database import Catalog, new_id
    from app.catalog.models import Media
    from app.config import Settings
    from app.storage.base import media_key

    settings = Settings(media_dir=media_dir)
    media_dir.mkdir(parents=True)
    catalog = Catalog(settings.catalog_url)
    catalog.migrate()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    pick = random.Random(count)
    records = []
    for index in range(count):
        media_id = new_id()
        records.append(
            Media(
                id=media_id, title=f"{pick.choice(WORDS)} {CADENCE[index % 2]} report {index}",
                description="", kind="audio", status="ready", duration=60.0 + index % 300,
                mime_type="audio/mpeg", size=1_000_000, bitrate=64_000, codecs=["mp3"], tags={},
                storage_key=media_key(media_id, "original.mp3"), sha256="0" * 64,
                created_at=start + timedelta(seconds=index), updated_at=start,
            )
        )  # fmt: skip
    catalog.add_all(records)
    catalog.dispose()


def middle_url(base: str, path: str, count: int) -> str:
    """The URL of the page holding the middle clip, reached by following `next` links."""
    import httpx2

    url = f"{base}{path}"
    seen = 0
    with httpx2.Client() as client:
        while seen < count // 2:
            page = client.get(url).json()
            seen += len(page["items"])
            if page["next"] is None:
                break
            url = page["next"]
    return url


def library_rows() -> list[Row]:
    need("wrk")
    seconds, rounds = (1, 2) if ARGS.quick else (3, 3)
    sizes = (100, 10_000)
    latency: dict[int, dict[str, float]] = {}
    with temp_dir("amps-bench-library-") as tmp:
        for count in sizes:
            media_dir = tmp / f"media-{count}"
            print(f"  library: {count} clips ...", flush=True)
            fill_catalog(media_dir, count)
            with bench_server(media_dir, tmp / f"server-{count}.log", ARGS.servers[0]) as base:
                urls = {
                    "library page /": f"{base}/",
                    "library page search": f"{base}/?q=weekly",
                    "GET /api/media first page": f"{base}/api/media",
                    "GET /api/media middle page (next links)": middle_url(
                        base, "/api/media", count
                    ),
                    "GET /api/media?q= search": f"{base}/api/media?q=weekly",
                }
                rps = interleaved(
                    {
                        name: (lambda u=url: wrk(u, seconds, connections=4))
                        for name, url in urls.items()
                    },
                    rounds,
                )
                latency[count] = {name: 4 / value * 1000 for name, value in rps.items()}
    small, big = sizes
    return [
        (f"{name}: {big:,} clips vs {small} (ms per request, 4 conn)",
         f"{latency[small][name]:.2f} ms", f"{latency[big][name]:.2f} ms",
         f"{latency[big][name] / latency[small][name]:.2f}x")
        for name in latency[small]
    ]  # fmt: skip


SECTIONS = {"pages": page_rows, "import": import_rows, "library": library_rows}


def rows() -> list[Row]:
    """(metric, reference figure, amps figure, ratio) for every section chosen."""
    chosen = getattr(ARGS, "only", None) or list(SECTIONS)
    return [row for name in chosen for row in SECTIONS[name]()]


def print_table(table: list[Row]) -> None:
    header = ("metric", "reference", "amps", "ratio")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *table]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=list(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer files")
    parser.add_argument(
        "--server", dest="servers", action="append", choices=["granian", "uvicorn"],
        help="server(s) for the pages section (default: both)",
    )  # fmt: skip
    parser.parse_args(namespace=ARGS)
    ARGS.servers = ARGS.servers or ["granian", "uvicorn"]
    sigterm_as_interrupt()
    print(machine_load(), flush=True)
    table = rows()
    print()
    print_table(table)
    print(f"\n{machine_load()}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
