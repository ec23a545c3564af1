"""amps in each of its serving modes vs nginx, side by side in one run, on the same file.

A large uncompressed video (--size-mb) is uploaded to amps (temp library) and then served by
nginx (one worker, sendfile, straight from the library folder: the reference) and by amps in
each mode (MODES): uvicorn through the FastAPI route (the path before the fast path,
AMPS_STREAM_CACHE_SECONDS=0), uvicorn and granian with the fast path, amps behind nginx with
X-Accel-Redirect (docs/nginx.conf), and 2 workers of each server. For each:

  * one reader's full download is bench/full_download.py's: alternating rounds with the
    clients readers use (one run here, after nginx's heavier tests, said 1.06-1.17x nginx
    where curl from outside found 0.39-0.79x);
  * 16 clients at once, full downloads: aggregate MB/s, the server's RSS growth (peak minus
    before, sampled every 0.1 s, nginx's too when amps is behind it) and CPU s per GB;
  * random 64 KiB ranges (`Range: bytes=X-(X+65535)`), 32 connections, wrk --latency for
    --duration seconds: req/s and p99, warm (file in the page cache), then cold (the file
    evicted with posix_fadvise(DONTNEED) just before), with a small request (a 1-byte range
    of another, warm clip) every 50 ms meanwhile: its slowest answer shows whether cold reads
    hold up the event loop;
  * workers: the 2-worker figures over the same server's 1-worker ones.

nginx is measured again just before each mode, and each ratio is to that neighbouring run:
on a shared machine the load changes within minutes.

Rows of bench/pages_import.py (pages and import, another helper's) are appended when present.
A benchmark, not a test: it prints figures. Clients and servers share this machine's cores.

    .venv/bin/python bench/performance.py            # 512 MiB file, 10 s wrk runs, ~15 min
    .venv/bin/python bench/performance.py --quick --streams-only    # smoke check, ~3 min
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx2
import psutil
from _support import (
    MB,
    MIB,
    ROOT,
    AmpsServer,
    Nginx,
    OtherLoad,
    Uploaded,
    curl_download,
    finish_download,
    free_port,
    kill_all,
    machine_load,
    need,
    raw_video,
    short_clip,
    sigterm_as_interrupt,
    temp_dir,
)

sys.path.insert(0, str(ROOT))
from tests.nginx import ACCEL_PREFIX  # noqa: E402
from tests.nginx import Nginx as SampleNginx  # noqa: E402  (docs/nginx.conf in front of amps)

RANGE_BYTES = 64 * 1024
SMALL_FILE_BYTES = 64 * MIB  # a small file is fetched repeatedly, on one connection, to this

# One random 64 KiB range per request; done() hands the figures back as one JSON line.
WRK_SCRIPT = r"""
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  size = tonumber(args[1])
  span = math.min(tonumber(args[2]), size)
  math.randomseed(os.time() * 7919 + seed)
end
function request()
  local first = math.floor(math.random() * (size - span + 1))
  local range = string.format("bytes=%d-%d", first, first + span - 1)
  return wrk.format("GET", wrk.path, {["Range"] = range})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "bytes": %d, "duration_us": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def server_processes(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for proc in server_processes(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def check_same_bytes(urls: dict[str, str], uploaded: Uploaded) -> list[str]:
    """Both servers answer a 64 KiB range with 206 and the bytes on disk."""
    problems = []
    rng = random.Random(1)
    with uploaded.path.open("rb") as disk, httpx2.Client(timeout=30.0) as client:
        for first in (0, rng.randrange(uploaded.size - RANGE_BYTES), uploaded.size - RANGE_BYTES):
            disk.seek(first)
            expected = disk.read(RANGE_BYTES)
            for name, url in urls.items():
                headers = {"Range": f"bytes={first}-{first + RANGE_BYTES - 1}"}
                answer = client.get(url, headers=headers)
                if answer.status_code != 206 or answer.content != expected:
                    problems.append(
                        f"{name}: range {first}+64KiB gave HTTP {answer.status_code}, "
                        f"{len(answer.content)} bytes, matching disk: {answer.content == expected}"
                    )
    return problems


def repeats_for(size: int) -> int:
    """How many times one client fetches a small file, so that a run moves >= 64 MiB."""
    return max(1, math.ceil(SMALL_FILE_BYTES / size))


def concurrent_clients(
    url: str, size: int, clients: int, pids: list[int], figures: Figures
) -> None:
    repeats = repeats_for(size)
    procs: list[subprocess.Popen[str]] = []
    try:
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        started = time.perf_counter()
        procs = [curl_download(url, repeats) for _ in range(clients)]
        results = [finish_download(p, repeats) for p in procs]
        wall = time.perf_counter() - started
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    finally:
        kill_all(procs)
    failed = [r.problem(size) for r in results if not r.ok(size)]
    figures.problems += [f"{clients} downloads: {p}" for p in failed]
    moved = sum(r.bytes for r in results)
    figures.concurrent_mbps = moved / wall / MB
    figures.cpu_s_per_gb = cpu / (moved / 1e9) if moved else math.nan


def random_ranges(
    url: str, size: int, script: Path, args: argparse.Namespace, problems: list[str]
) -> tuple[float, float] | None:
    """(req/s, p99 ms) of wrk asking for random 64 KiB ranges; None when wrk failed."""
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections)]
    command += ["-d", f"{args.duration}s", "--timeout", "10s", "--latency", "-s", str(script)]
    command += [url, "--", str(size), str(RANGE_BYTES)]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        problems.append(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return None
    result = json.loads(line.removeprefix("BENCH_JSON "))
    requests = result["requests"]
    if result["status"]:
        problems.append(f"ranges: {result['status']} responses were not 2xx/3xx")
    socket_errors = {k: result[k] for k in ("connect", "read", "write", "timeout") if result[k]}
    if socket_errors:
        problems.append(f"ranges: socket errors {socket_errors}")
    per_request = result["bytes"] / requests if requests else 0
    if not RANGE_BYTES <= per_request <= RANGE_BYTES + 2048:
        problems.append(f"ranges: {per_request:,.0f} bytes per response, not ~64 KiB")
    return requests / (result["duration_us"] / 1e6), result["p99_us"] / 1000


@dataclass(frozen=True)
class Mode:
    """One way of running amps: `amps serve` flags, AMPS_* settings, nginx in front or not."""

    name: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    behind_nginx: bool = False
    one_worker: str | None = None  # the 1-worker mode a 2-worker mode is compared with


MODES = [
    Mode("uvicorn route", ("--server", "uvicorn"), {"AMPS_STREAM_CACHE_SECONDS": "0"}),
    Mode("uvicorn fast", ("--server", "uvicorn")),
    Mode("granian", ("--server", "granian")),
    Mode("nginx+X-Accel", (), {"AMPS_ACCEL_REDIRECT": ACCEL_PREFIX}, behind_nginx=True),
    Mode("uvicorn -w2", ("--server", "uvicorn", "--workers", "2"), one_worker="uvicorn fast"),
    Mode("granian -w2", ("--server", "granian", "--workers", "2"), one_worker="granian"),
]


@dataclass
class Figures:
    concurrent_mbps: float = math.nan
    rss_growth_mb: float = math.nan
    cpu_s_per_gb: float = math.nan
    range_rps: float = math.nan
    range_p99_ms: float = math.nan
    cold_rps: float = math.nan
    cold_p99_ms: float = math.nan
    cold_probe_max_ms: float = math.nan  # slowest small request during the cold run
    other_load: float = math.nan  # % of one core used meanwhile by processes not ours
    problems: list[str] = field(default_factory=list)


class RssPeak:
    """The peak RSS of some process trees, sampled every 0.1 s in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = self.sample()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> int:
        total = 0
        for pid in self.pids:
            for proc in server_processes(pid):
                try:
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.sample())

    def growth_mb(self) -> float:
        self._stop.set()
        self._thread.join()
        return (self.peak - self.before) / MB


class Probe:
    """A 1-byte range of a small warm clip every 50 ms: how long the slowest one took."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest = 0.0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx2.Client(timeout=30.0) as client:
            while not self._stop.wait(0.05):
                started = time.perf_counter()
                try:
                    answer = client.get(self.url, headers={"Range": "bytes=0-0"})
                    ok = answer.status_code == 206
                except httpx2.HTTPError:
                    ok = False
                self.slowest = max(self.slowest, time.perf_counter() - started)
                self.failures += not ok

    def stop_ms(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.slowest * 1000


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (only this file's: others are left alone)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(
    name: str,
    url: str,
    pids: list[int],
    uploaded: Uploaded,
    probe_url: str,
    script: Path,
    args: argparse.Namespace,
) -> Figures:
    figures = Figures()
    others = OtherLoad()
    print(f"  {name}: {args.clients} clients ...", flush=True)
    rss = RssPeak(pids)
    concurrent_clients(url, uploaded.size, args.clients, pids, figures)
    figures.rss_growth_mb = rss.growth_mb()
    print(f"  {name}: 64 KiB ranges, warm, {args.duration} s ...", flush=True)
    warm = random_ranges(url, uploaded.size, script, args, figures.problems)
    if warm:
        figures.range_rps, figures.range_p99_ms = warm
    print(f"  {name}: 64 KiB ranges, cold, {args.duration} s ...", flush=True)
    evict(uploaded.path)
    probe = Probe(probe_url)
    cold = random_ranges(url, uploaded.size, script, args, figures.problems)
    figures.cold_probe_max_ms = probe.stop_ms()
    if probe.failures:
        figures.problems.append(f"cold run: {probe.failures} small requests failed")
    if cold:
        figures.cold_rps, figures.cold_p99_ms = cold
    figures.other_load = others.percent()
    return figures


def number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


ROWS = [
    ("full file, {clients} clients (MB/s)", "concurrent_mbps"),
    ("RSS growth, {clients} clients (MB)", "rss_growth_mb"),
    ("CPU per GB sent, {clients} clients (s)", "cpu_s_per_gb"),
    ("64 KiB ranges, warm (req/s)", "range_rps"),
    ("64 KiB ranges, warm, p99 (ms)", "range_p99_ms"),
    ("64 KiB ranges, cold (req/s)", "cold_rps"),
    ("64 KiB ranges, cold, p99 (ms)", "cold_p99_ms"),
    ("small request during cold run, max (ms)", "cold_probe_max_ms"),
]
RATIO_FREE = {"rss_growth_mb", "other_load"}  # absolute figures: a ratio says nothing


def table(
    nginx: dict[str, Figures], results: dict[str, Figures], args: argparse.Namespace
) -> list[list[str]]:
    """Each amps cell's ratio is to the nginx run just before it; the nginx column shows the
    median of those runs."""
    lines = [["metric", "nginx (median)", *results]]
    for title, attribute in ROWS:
        references = [float(getattr(f, attribute)) for f in nginx.values()]
        row = [title.format(clients=args.clients), number(statistics.median(references))]
        for name, figures in results.items():
            value = float(getattr(figures, attribute))
            reference = float(getattr(nginx[name], attribute))
            cell = number(value)
            if attribute not in RATIO_FREE and not math.isnan(value * reference) and reference:
                cell += f" ({value / reference:.2f}x)"
            row.append(cell)
        lines.append(row)
    for title, attribute in [
        ("2 workers / 1, ranges warm (req/s)", "range_rps"),
        ("2 workers / 1, {clients} clients (MB/s)", "concurrent_mbps"),
    ]:
        row = [title.format(clients=args.clients), ""]
        for mode in (m for m in MODES if m.name in results):
            one = results.get(mode.one_worker or "")
            two = results[mode.name]
            if one is None:
                row.append("")
                continue
            row.append(f"{float(getattr(two, attribute)) / float(getattr(one, attribute)):.2f}x")
        lines.append(row)
    others = [f"{number(nginx[n].other_load)} / {number(f.other_load)}" for n, f in results.items()]
    lines.append(["CPU of others, nginx run / amps run (% of 1 core)", "", *others])
    return lines


def pages_import_rows() -> list[list[str]]:
    """Rows another bench module adds (pages, import), when it exists."""
    if not (Path(__file__).parent / "pages_import.py").exists():
        return []
    module = importlib.import_module("pages_import")
    return [list(row) for row in module.rows()]


def print_table(lines: list[list[str]]) -> None:
    widths = [max(len(line[i]) for line in lines if i < len(line)) for i in range(len(lines[0]))]
    for number_, line in enumerate(lines):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        ]
        print(" | ".join(cells))
        if number_ == 0:
            print("-|-".join("-" * w for w in widths))


def versions() -> str:
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    names = ("uvicorn", "granian", "starlette", "uvloop")
    packages = ", ".join(f"{p} {metadata.version(p)}" for p in names)
    return (
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
        f"{packages}; {nginx.removeprefix('nginx version: ')}; {wrk.strip()}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=512, help="large file, MiB (512)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent downloads (16)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument(
        "--modes", default=",".join(m.name for m in MODES), help="amps modes to run, by name"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke check: 64 MiB file, 3 s wrk runs"
    )
    parser.add_argument(
        "--streams-only", action="store_true", help="leave out bench/pages_import.py's rows"
    )
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.duration = 64, 3
    return args


def run_mode(
    mode: Mode,
    tmp: Path,
    uploaded: Uploaded,
    small: Uploaded,
    script: Path,
    args: argparse.Namespace,
) -> tuple[Figures, list[str]]:
    media_dir = tmp / "media"
    log = tmp / f"amps-{mode.name}.log".replace(" ", "_")
    # Jobs off: the raw upload's web copy would run x264 in this server during the downloads.
    amps = AmpsServer(media_dir, log, mode.args, {**mode.env, "AMPS_RUN_JOBS": "false"})
    proxy = None
    try:
        amps.start()
        assert amps.proc is not None
        pids, base = [amps.proc.pid], amps.base
        if mode.behind_nginx:
            port = free_port()
            proxy = SampleNginx(tmp / f"nginx-{port}", port, amps.port, media_dir)
            proxy.start()
            assert proxy.process is not None
            pids.append(proxy.process.pid)
            base = proxy.url
        url = f"{base}/media/{uploaded.id}/stream"
        problems = check_same_bytes({mode.name: url}, uploaded)
        probe = f"{base}/media/{small.id}/stream"
        figures = measure(mode.name, url, pids, uploaded, probe, script, args)
        if not amps.alive():
            problems.append("amps exited during the run")
        problems += [f"log: {line}" for line in amps.log_tail()]
        return figures, problems + figures.problems
    finally:
        if proxy is not None:
            proxy.stop()
        amps.stop()


def main() -> int:
    args = parse_args()
    need("ffmpeg", "ffprobe", "nginx", "wrk", "curl")
    sigterm_as_interrupt()
    modes = [m for m in MODES if m.name in args.modes.split(",")]
    print(f"amps serving modes vs nginx: {versions()}")
    print(f"before: {machine_load()}")
    print(
        f"nginx: 1 worker, sendfile on, tcp_nopush off, access_log off; wrk: {args.threads} "
        f"threads, {args.connections} connections, {args.duration} s, --latency; "
        "MB = 10^6 bytes; clients, wrk and servers share the same cores."
    )
    results: dict[str, Figures] = {}
    references: dict[str, Figures] = {}  # nginx, measured just before each mode
    problems: list[str] = []
    with temp_dir("amps-bench-") as tmp:
        amps = AmpsServer(tmp / "media", tmp / "amps-upload.log", env={"AMPS_RUN_JOBS": "false"})
        nginx = Nginx(tmp / "nginx", tmp / "media")
        script = tmp / "ranges.lua"
        script.write_text(WRK_SCRIPT)
        try:
            amps.start()
            uploaded = amps.upload(raw_video(args.size_mb))
            small = amps.upload(short_clip(10))
            amps.stop()
            print(f"uploaded {uploaded.size / MIB:.0f} MiB ({uploaded.mime_type})", flush=True)
            nginx.start()
            assert nginx.proc is not None
            url, probe = nginx.url_for(uploaded.path), nginx.url_for(small.path)
            problems += check_same_bytes({"nginx": url}, uploaded)
            for mode in modes:
                # nginx again just before each mode: the load of a shared machine changes
                # within minutes, and a ratio is only fair between neighbouring runs.
                print(f"{mode.name}:", flush=True)
                paired = measure("nginx", url, [nginx.proc.pid], uploaded, probe, script, args)
                references[mode.name] = paired
                problems += [f"nginx before {mode.name}: {p}" for p in paired.problems]
                results[mode.name], found = run_mode(mode, tmp, uploaded, small, script, args)
                problems += [f"{mode.name}: {p}" for p in found]
        except KeyboardInterrupt:
            print("\ninterrupted: servers stopped, temp files removed", file=sys.stderr)
            return 130
        finally:
            nginx.stop()
            amps.stop()

    print()
    print(f"{uploaded.mime_type}, {uploaded.size / MIB:.0f} MiB; cells: figure (amps / nginx)")
    lines = table(references, results, args)
    extra = [] if args.streams_only else pages_import_rows()
    print_table(lines)
    print()
    if extra:  # the same table's other rows, with their own reference column
        header = ["pages and import (bench/pages_import.py)", "reference", "amps", "ratio"]
        print_table([header, *extra])
        print()
    print("x: amps over nginx; above 1 is better for MB/s and req/s, worse for ms, MB and CPU.")
    print(f"after: {machine_load()}")
    print(f"problems: {len(problems)}" + "".join(f"\n  - {p}" for p in problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
