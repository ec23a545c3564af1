"""amps vs nginx, side by side in one run, serving the very same stored file.

For a short real MP4 and a large uncompressed video (--size-mb), both uploaded to a real amps
server (uvicorn, temp library), then served by amps at /media/{id}/stream and by nginx (one
worker, sendfile) straight from the library folder:

  * one client, full download: median MB/s of --runs curl runs;
  * 16 clients at once, full downloads: aggregate MB/s (and the slowest client, and the
    server's CPU seconds per GB sent);
  * random 64 KiB ranges (`Range: bytes=X-(X+65535)`), 32 connections, wrk --latency for
    --duration seconds: req/s and p50/p99 latency.

A benchmark, not a test: it prints figures. Clients and servers share this machine's cores.

    .venv/bin/python bench/stream_vs_nginx.py             # ~512 MiB file, 10 s wrk runs
    .venv/bin/python bench/stream_vs_nginx.py --quick     # smoke check, well under a minute
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx2
import psutil
from _support import (
    MB,
    MIB,
    AmpsServer,
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
    stop_process,
    temp_dir,
    wait_http,
)

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

# Debian's stock nginx.conf sets `tcp_nopush on`: with sendfile, that corks the socket and an
# exactly-64 KiB range then waits ~44 ms on loopback for the cork to time out, so nginx would
# look ~100x slower than it is on the range test. We set `tcp_nopush off` explicitly.
NGINX_CONF = """\
# written by bench/stream_vs_nginx.py; private prefix, removed after the run
{user}worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush off;  # NOT Debian's default `on`: it stalls exactly-64 KiB ranges (~44 ms)
    tcp_nodelay on;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client_body;
{temp_paths}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
        }}
        location = /ready {{
            return 204;
        }}
    }}
}}
"""


class Nginx:
    """nginx -p PREFIX with a config of our own, in the foreground, in its own process group."""

    def __init__(self, prefix: Path, root: Path) -> None:
        self.prefix, self.root = prefix, root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.prefix.mkdir(parents=True)
        built = subprocess.run(["nginx", "-V"], capture_output=True, text=True).stderr
        temp_paths = "".join(
            f"    {module}_temp_path {self.prefix}/{module};\n"
            for module in ("proxy", "fastcgi", "uwsgi", "scgi")
            if f"--without-http_{module}_module" not in built
        )
        # The library is in a 0700 temp dir: as root, the worker must stay root to read it.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user=user,
                prefix=self.prefix,
                temp_paths=temp_paths.rstrip("\n"),
                port=self.port,
                root=self.root,
            )
        )
        command = ["nginx", "-p", str(self.prefix), "-c", str(conf)]
        command += ["-e", str(self.prefix / "error.log")]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_http(f"{self.base}/ready", 15.0, self.proc)

    def url_for(self, path: Path) -> str:
        return f"{self.base}/{path.relative_to(self.root).as_posix()}"

    def stop(self) -> None:
        stop_process(self.proc)

    def log_tail(self, lines: int = 20) -> list[str]:
        log = self.prefix / "error.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return text.splitlines()[-lines:]


@dataclass
class Figures:
    single_mbps: float = math.nan
    concurrent_mbps: float = math.nan
    slowest_mbps: float = math.nan
    cpu_s_per_gb: float = math.nan
    range_rps: float = math.nan
    range_p50_ms: float = math.nan
    range_p99_ms: float = math.nan
    range_errors: int = 0
    other_load: float = math.nan  # % of one core used meanwhile by processes not ours
    problems: list[str] = field(default_factory=list)


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


def single_client(url: str, size: int, runs: int, figures: Figures) -> None:
    repeats = repeats_for(size)
    finish_download(curl_download(url, 1), 1)  # warm-up, not counted
    speeds = []
    for _ in range(runs):
        done = finish_download(curl_download(url, repeats), repeats)
        if not done.ok(size):
            figures.problems.append(f"single download: {done.problem(size)}")
            continue
        speeds.append(done.bytes / done.seconds / MB)
    if speeds:
        figures.single_mbps = statistics.median(speeds)


def concurrent_clients(url: str, size: int, clients: int, pid: int, figures: Figures) -> None:
    repeats = repeats_for(size)
    procs: list[subprocess.Popen[str]] = []
    try:
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        procs = [curl_download(url, repeats) for _ in range(clients)]
        results = [finish_download(p, repeats) for p in procs]
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
    finally:
        kill_all(procs)
    failed = [r.problem(size) for r in results if not r.ok(size)]
    figures.problems += [f"{clients} downloads: {p}" for p in failed]
    moved = sum(r.bytes for r in results)
    figures.concurrent_mbps = moved / wall / MB
    figures.slowest_mbps = min(r.bytes / r.seconds / MB for r in results if r.seconds > 0)
    figures.cpu_s_per_gb = cpu / (moved / 1e9) if moved else math.nan


def random_ranges(
    url: str, size: int, script: Path, args: argparse.Namespace, figures: Figures
) -> None:
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections)]
    command += ["-d", f"{args.duration}s", "--timeout", "10s", "--latency", "-s", str(script)]
    command += [url, "--", str(size), str(RANGE_BYTES)]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        figures.problems.append(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return
    result = json.loads(line.removeprefix("BENCH_JSON "))
    requests = result["requests"]
    figures.range_rps = requests / (result["duration_us"] / 1e6)
    figures.range_p50_ms = result["p50_us"] / 1000
    figures.range_p99_ms = result["p99_us"] / 1000
    socket_errors = sum(result[k] for k in ("connect", "read", "write", "timeout"))
    figures.range_errors = result["status"] + socket_errors
    if result["status"]:
        figures.problems.append(f"ranges: {result['status']} responses were not 2xx/3xx")
    if socket_errors:
        figures.problems.append(
            "ranges: socket errors "
            + ", ".join(f"{k} {result[k]}" for k in ("connect", "read", "write", "timeout"))
        )
    per_request = result["bytes"] / requests if requests else 0
    if not RANGE_BYTES <= per_request <= RANGE_BYTES + 2048:
        figures.problems.append(f"ranges: {per_request:,.0f} bytes per response, not ~64 KiB")
    if result["max_us"] >= 1_000_000:
        figures.problems.append(f"ranges: slowest response took {result['max_us'] / 1e6:.2f} s")


def measure(
    name: str, url: str, pid: int, uploaded: Uploaded, script: Path, args: argparse.Namespace
) -> Figures:
    figures = Figures()
    others = OtherLoad()
    print(f"  {name}: single client ...", flush=True)
    single_client(url, uploaded.size, args.runs, figures)
    print(f"  {name}: {args.clients} clients ...", flush=True)
    concurrent_clients(url, uploaded.size, args.clients, pid, figures)
    print(f"  {name}: 64 KiB ranges, {args.duration} s ...", flush=True)
    random_ranges(url, uploaded.size, script, args, figures)
    figures.other_load = others.percent()
    return figures


def number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def ratio(amps: float, nginx: float) -> str:
    if math.isnan(amps) or math.isnan(nginx) or nginx == 0:
        return "n/a"
    return f"{amps / nginx:.2f}"


def table(uploaded: Uploaded, label: str, nginx: Figures, amps: Figures, args: argparse.Namespace):
    repeats = repeats_for(uploaded.size)
    times = f", fetched {repeats}x per client" if repeats > 1 else ""
    rows = [
        ("1 client, full download (MB/s, median)", "single_mbps"),
        (f"{args.clients} clients, aggregate (MB/s)", "concurrent_mbps"),
        (f"{args.clients} clients, slowest client (MB/s)", "slowest_mbps"),
        (f"{args.clients} clients, server CPU (s per GB)", "cpu_s_per_gb"),
        (f"64 KiB ranges, {args.connections} conns (req/s)", "range_rps"),
        ("64 KiB ranges, p50 latency (ms)", "range_p50_ms"),
        ("64 KiB ranges, p99 latency (ms)", "range_p99_ms"),
        ("64 KiB ranges, errors (non-2xx + socket)", "range_errors"),
        ("CPU of other processes meanwhile (% of 1 core)", "other_load"),
    ]
    print()
    print(
        f"{label}: {uploaded.mime_type}, {uploaded.size:,} bytes "
        f"({uploaded.size / MIB:.1f} MiB){times}"
    )
    header = ("metric", "nginx", "amps", "ratio (amps/nginx)")
    width = max(len(r[0]) for r in rows)
    print(f"{header[0]:<{width}} | {header[1]:>9} | {header[2]:>9} | {header[3]}")
    print(f"{'-' * width}-|-{'-' * 9}-|-{'-' * 9}-|-{'-' * 18}")
    for title, attribute in rows:
        n, a = float(getattr(nginx, attribute)), float(getattr(amps, attribute))
        if attribute in ("range_errors", "other_load"):
            print(f"{title:<{width}} | {n:>9.0f} | {a:>9.0f} |")
            continue
        print(f"{title:<{width}} | {number(n):>9} | {number(a):>9} | {ratio(a, n)}")


def versions() -> str:
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    packages = ", ".join(f"{p} {metadata.version(p)}" for p in ("uvicorn", "starlette", "uvloop"))
    return (
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
        f"{packages}; {nginx.removeprefix('nginx version: ')}; {wrk.strip()}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=512, help="large file, MiB (512)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--runs", type=int, default=5, help="single-client runs, median (5)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent downloads (16)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--clip-seconds", type=int, default=60, help="short MP4's length (60)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke check: 32 MiB file, 3 s wrk runs, 2 runs"
    )
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.duration, args.runs, args.clip_seconds = 32, 3, 2, 10
    return args


def main() -> int:
    args = parse_args()
    need("ffmpeg", "ffprobe", "nginx", "wrk", "curl")
    sigterm_as_interrupt()
    print(f"amps vs nginx: {versions()}")
    print(f"before: {machine_load()}")
    print(
        f"nginx: 1 worker, sendfile on, tcp_nopush off, access_log off; wrk: {args.threads} "
        f"threads, {args.connections} connections, {args.duration} s, --latency; "
        "MB = 10^6 bytes; clients, wrk and both servers share the same cores."
    )
    sources = [
        ("short MP4", short_clip(args.clip_seconds)),
        ("large file", raw_video(args.size_mb)),
    ]
    reports = []
    with temp_dir("amps-bench-") as tmp:
        amps = AmpsServer(tmp / "media", tmp / "amps.log")
        nginx = Nginx(tmp / "nginx", tmp / "media")
        script = tmp / "ranges.lua"
        script.write_text(WRK_SCRIPT)
        try:
            amps.start()
            uploads = []
            for label, source in sources:
                uploaded = amps.upload(source)
                print(
                    f"uploaded {source.name} ({uploaded.size / MIB:.1f} MiB) in "
                    f"{uploaded.seconds:.1f} s -> {uploaded.path.relative_to(tmp)}",
                    flush=True,
                )
                uploads.append((label, uploaded))
            nginx.start()
            assert nginx.proc is not None and amps.proc is not None
            for label, uploaded in uploads:
                urls = {"nginx": nginx.url_for(uploaded.path), "amps": uploaded.stream_url}
                print(f"{label}: {uploaded.size / MIB:.1f} MiB", flush=True)
                problems = check_same_bytes(urls, uploaded)
                nginx_figures = measure(
                    "nginx", urls["nginx"], nginx.proc.pid, uploaded, script, args
                )
                amps_figures = measure("amps", urls["amps"], amps.proc.pid, uploaded, script, args)
                reports.append((label, uploaded, nginx_figures, amps_figures, problems))
            amps_alive = amps.alive()
        except KeyboardInterrupt:
            print("\ninterrupted: servers stopped, temp files removed", file=sys.stderr)
            return 130
        finally:
            nginx.stop()
            amps.stop()
        amps_log, nginx_log = amps.log_tail(), nginx.log_tail()

    for label, uploaded, nginx_figures, amps_figures, _ in reports:
        table(uploaded, label, nginx_figures, amps_figures, args)
    print()
    print("ratio: above 1 means amps is higher (better for MB/s and req/s, worse for ms and CPU).")
    print(
        "CPU of other processes: work on this machine that is not this benchmark's; when it is "
        "high, both columns are skewed (nginx most, being the faster)."
    )
    problems = [f"{label}: {p}" for label, *_, checks in reports for p in checks]
    for label, _, nginx_figures, amps_figures, _ in reports:
        problems += [f"{label}, nginx: {p}" for p in nginx_figures.problems]
        problems += [f"{label}, amps: {p}" for p in amps_figures.problems]
    if not amps_alive:
        problems.append("amps exited during the run")
    print(f"after: {machine_load()}")
    print(f"problems: {len(problems)}" + "".join(f"\n  - {p}" for p in problems))
    print(f"amps log (--log-level warning): {len(amps_log)} line(s)")
    print("".join(f"  {line}\n" for line in amps_log), end="")
    print(f"nginx error.log: {len(nginx_log)} line(s)")
    print("".join(f"  {line}\n" for line in nginx_log), end="")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
