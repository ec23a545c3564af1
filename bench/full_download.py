"""One reader's full download of a large file, with the clients readers use, amps vs nginx.

The same file (--size-mb, uploaded to a temp amps library) is served at once by nginx (one
worker, sendfile, from the library folder) and by amps on each server (SERVERS). Every round
fetches it once per client and server, one download at a time, in an order that turns each
round, so that a change of load on a shared machine falls on every server alike. Clients:

  * curl: `curl -o /dev/null URL`, as a reader checking the speed would;
  * browser: what Chromium's <video> sends (`Range: bytes=0-`, identity encoding, its
    User-Agent), by curl: the answer is a 206 of the whole file;
  * download link: the watch page's link (`?download=1`) with a browser's navigation headers.

For each client and server: the median MB/s of the rounds and its ratio to nginx's median, the
CPU the server and the client spent per GB (their sum is what two cores must share), and how
much CPU other processes used meanwhile. The file is read once before each round, so every
download is from the page cache (--cold: evicted before each download instead).

    .venv/bin/python bench/full_download.py                  # 512 MiB, 5 rounds, ~2 min
    .venv/bin/python bench/full_download.py --rounds 9 --servers granian
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from _support import (
    MB,
    MIB,
    AmpsServer,
    Nginx,
    OtherLoad,
    machine_load,
    need,
    raw_video,
    sigterm_as_interrupt,
    temp_dir,
)

CHROMIUM_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
# (name, extra curl arguments, query string, the status the answer must have)
CLIENTS: list[tuple[str, tuple[str, ...], str, str]] = [
    ("curl", (), "", "200"),
    (
        "browser",
        ("-A", CHROMIUM_UA, "-H", "Accept: */*", "-H", "Accept-Encoding: identity;q=1, *;q=0")
        + ("-H", "Accept-Language: en-US,en;q=0.9", "-H", "Range: bytes=0-"),
        "",
        "206",
    ),
    (
        "download link",
        ("-A", CHROMIUM_UA, "-H", "Accept: text/html,application/xhtml+xml,*/*;q=0.8")
        + ("-H", "Accept-Encoding: gzip, deflate, br, zstd", "-H", "Upgrade-Insecure-Requests: 1"),
        "?download=1",
        "200",
    ),
]
SERVERS = ("granian", "uvicorn")
# The raw upload would get a web copy: its ffmpeg would take a core from the downloads.
NO_JOBS = {"AMPS_RUN_JOBS": "false"}
WRITE_OUT = "%{http_code} %{size_download} %{time_total}"


@dataclass
class Cell:
    """One client against one server over all rounds."""

    speeds: list[float] = field(default_factory=list)  # MB/s per download
    server_cpu: float = 0.0  # seconds, summed over the downloads
    client_cpu: float = 0.0
    moved: int = 0
    problems: list[str] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.speeds) if self.speeds else math.nan


def tree_cpu(pid: int) -> float:
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def download(url: str, extra: tuple[str, ...], server_pid: int, size: int, status: str) -> Cell:
    """One curl download to /dev/null, with its speed and both sides' CPU time."""
    cell = Cell()
    before = tree_cpu(server_pid)
    command = ["curl", "-sS", "-o", "/dev/null", "-w", WRITE_OUT, *extra, url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    cell.server_cpu = tree_cpu(server_pid) - before
    code, got, seconds = (out.split() + ["", "0", "0"])[:3]
    if proc.returncode != 0 or code != status or int(got) != size:
        cell.problems.append(f"curl exit {proc.returncode}, HTTP {code}, {got} bytes; {err[:200]}")
        return cell
    cell.speeds.append(size / float(seconds) / MB)
    cell.moved = size
    return cell


def client_cpu_since(before: float) -> float:
    """CPU seconds of our reaped children (the curl processes) since `before`."""
    times = psutil.Process().cpu_times()
    return times.children_user + times.children_system - before


def children_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.children_user + times.children_system


def pin(pids: list[int], cpus: set[int]) -> None:
    """Servers (with their workers) and this script, so every curl it starts, on `cpus`."""
    for pid in pids:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            proc.cpu_affinity(list(cpus))  # threads started later inherit it
            for thread in proc.threads():
                psutil.Process(thread.id).cpu_affinity(list(cpus))
    os.sched_setaffinity(0, cpus)
    print(f"servers and clients pinned to CPU {sorted(cpus)}")


def warm(path: Path) -> None:
    """Read the file once: every download is then served from the page cache."""
    with path.open("rb") as source:
        while source.read(8 * MIB):
            pass


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache: the next download reads the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(
    targets: dict[str, tuple[str, int]], size: int, path: Path, rounds: int, cold: bool
) -> tuple[dict[tuple[str, str], Cell], float]:
    """targets: server name -> (file URL, pid). Returns the cells and others' CPU (% of 1 core)."""
    cells = {(c[0], s): Cell() for c in CLIENTS for s in targets}
    names = list(targets)
    others = OtherLoad()
    for number in range(rounds):
        if not cold:
            warm(path)
        order = names[number % len(names) :] + names[: number % len(names)]
        print(f"  round {number + 1}/{rounds}: {', '.join(order)}", flush=True)
        for client, extra, query, status in CLIENTS:
            for server in order:
                url, pid = targets[server]
                if cold:
                    evict(path)
                before = children_cpu()  # nginx ignores the query: the same file, same way
                one = download(url + query, extra, pid, size, status)
                one.client_cpu = client_cpu_since(before)
                cell = cells[(client, server)]
                cell.speeds += one.speeds
                cell.server_cpu += one.server_cpu
                cell.client_cpu += one.client_cpu
                cell.moved += one.moved
                cell.problems += [f"{client} from {server}: {p}" for p in one.problems]
    return cells, others.percent()


def per_gb(seconds: float, moved: int) -> str:
    return f"{seconds / (moved / 1e9):.2f}" if moved else "n/a"


def report(cells: dict[tuple[str, str], Cell], servers: list[str]) -> list[list[str]]:
    lines = [["client", *(f"{s} MB/s (x nginx)" for s in servers), "CPU s/GB server+client"]]
    for client, *_ in CLIENTS:
        reference = cells[(client, "nginx")].median()
        row = [client]
        cpu = []
        for server in servers:
            cell = cells[(client, server)]
            value = cell.median()
            text = "n/a" if math.isnan(value) else f"{value:,.0f}"
            low, high = (min(cell.speeds), max(cell.speeds)) if cell.speeds else (0, 0)
            text += f" [{low:,.0f}-{high:,.0f}]"
            if server != "nginx" and reference and not math.isnan(value):
                text += f" ({value / reference:.2f}x)"
            row.append(text)
            cpu.append(
                f"{server} {per_gb(cell.server_cpu, cell.moved)}+"
                f"{per_gb(cell.client_cpu, cell.moved)}"
            )
        row.append(", ".join(cpu))
        lines.append(row)
    return lines


def print_table(lines: list[list[str]]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for number, line in enumerate(lines):
        print(" | ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip())
        if number == 0:
            print("-|-".join("-" * w for w in widths))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=512, help="file size, MiB (512)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds, median (5)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="amps servers, by name")
    parser.add_argument(
        "--cold", action="store_true", help="evict the file from the page cache before each"
    )
    parser.add_argument(
        "--cpus",
        default="",
        help="pin servers and clients to these CPUs, e.g. 0 (one core for both: a busy machine)",
    )
    return parser.parse_args()


def run(args: argparse.Namespace, tmp: Path, stack: list[Callable[[], None]]) -> int:
    media = tmp / "media"
    uploader = AmpsServer(media, tmp / "amps-upload.log", env=NO_JOBS)
    uploader.start()
    stack.append(uploader.stop)
    uploaded = uploader.upload(raw_video(args.size_mb))
    uploader.stop()
    nginx = Nginx(tmp / "nginx", media)
    nginx.start()
    stack.append(nginx.stop)
    assert nginx.proc is not None
    targets = {"nginx": (nginx.url_for(uploaded.path), nginx.proc.pid)}
    for server in args.servers.split(","):
        amps = AmpsServer(media, tmp / f"amps-{server}.log", ("--server", server), NO_JOBS)
        amps.start()
        stack.append(amps.stop)
        assert amps.proc is not None
        targets[server] = (f"{amps.base}/media/{uploaded.id}/stream", amps.proc.pid)
    if args.cpus:
        pin([pid for _, pid in targets.values()], {int(c) for c in args.cpus.split(",")})
    print(f"{uploaded.mime_type}, {uploaded.size / MIB:.0f} MiB; before: {machine_load()}")
    started = time.monotonic()
    cells, others = measure(targets, uploaded.size, uploaded.path, args.rounds, args.cold)
    print()
    print_table(report(cells, list(targets)))
    print()
    print(
        f"medians of {args.rounds} rounds [slowest-fastest]; MB = 10^6 bytes; "
        f"{time.monotonic() - started:.0f} s; others used {others:.0f}% of one core meanwhile"
    )
    problems = [p for cell in cells.values() for p in cell.problems]
    print(f"after: {machine_load()}")
    print(f"problems: {len(problems)}" + "".join(f"\n  - {p}" for p in problems))
    return 1 if problems else 0


def main() -> int:
    args = parse_args()
    need("ffmpeg", "ffprobe", "nginx", "curl")
    sigterm_as_interrupt()
    stack: list[Callable[[], None]] = []
    with temp_dir("amps-full-download-") as tmp:
        try:
            return run(args, tmp, stack)
        except KeyboardInterrupt:
            print("\ninterrupted: servers stopped, temp files removed", file=sys.stderr)
            return 130
        finally:
            for stop in reversed(stack):
                stop()


if __name__ == "__main__":
    sys.exit(main())
