"""amps server memory (RSS of the server process plus its children) while it works hard.

A real server (`python -m app.cli serve`, temp library) is sampled every 0.1 s with psutil:

  * idle: the baseline, after start-up and a first request;
  * upload: a ~1 GiB uncompressed video (cached in .cache/bench/), streamed from disk by
    `curl -F`; the server writes it to the library, probes it with ffprobe, decodes its last
    seconds with ffmpeg, records it, then renders its poster in the background (ffmpeg):
    those children are counted;
  * download: --clients clients fetch the whole file at once, as fast as they can read;
  * slow download (extra, --no-slow skips it): as many clients reading at 5 MB/s each, so the
    server must hold back rather than buffer what they cannot take yet.

For each phase it prints the RSS at its start, its peak (during the phase and the 2 s of rest
after it, when work it set off in the background may still run), the growth (peak - start) in
MB (10^6 bytes), and PASS/FAIL against the goal: growth under --limit-mb (100) MB.
A benchmark, not a test: it prints figures.

    .venv/bin/python bench/memory.py            # 1 GiB file, about a minute
    .venv/bin/python bench/memory.py --quick    # 64 MiB file, smoke check
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    kill_all,
    machine_load,
    need,
    raw_video,
    sigterm_as_interrupt,
    temp_dir,
)

SAMPLE_EVERY = 0.1
Work = Callable[[], str]  # does a phase's work, says what it did
SETTLE_SECONDS = 2.0
SLOW_RATE = "5M"  # curl --limit-rate: 5 MB/s per client
SLOW_SECONDS = 6


@dataclass
class Sample:
    at: float
    total: int  # server + children
    server: int
    children: int
    child_hwm: int  # the largest peak RSS (VmHWM) of a child alive at this sample


@dataclass
class Phase:
    name: str
    start: int  # RSS (server + children) just before the phase began
    samples: list[Sample] = field(default_factory=list)
    end: int = 0  # RSS after the phase and SETTLE_SECONDS of rest
    note: str = ""
    other_load: float = 0.0  # % of one core used meanwhile by processes not ours

    @property
    def peak(self) -> int:
        return max((s.total for s in self.samples), default=self.start)

    @property
    def peak_server(self) -> int:
        return max((s.server for s in self.samples), default=0)

    @property
    def most_children(self) -> int:
        return max((s.children for s in self.samples), default=0)

    @property
    def child_peak(self) -> int:
        return max((s.child_hwm for s in self.samples), default=0)

    @property
    def growth(self) -> int:
        return self.peak - self.start


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY s: RSS of the server and of all its descendants (ffprobe, ffmpeg)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.server = psutil.Process(pid)
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append(self.sample())
            self.stopping.wait(SAMPLE_EVERY)

    def sample(self) -> Sample:
        try:
            server = self.server.memory_info().rss
            children = self.server.children(recursive=True)
        except psutil.NoSuchProcess:
            return Sample(time.monotonic(), 0, 0, 0, 0)
        total = server
        child_hwm = 0
        for child in children:
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            child_hwm = max(child_hwm, peak_rss(child.pid))
        return Sample(time.monotonic(), total, server, len(children), child_hwm)

    def since(self, moment: float) -> list[Sample]:
        return [s for s in list(self.samples) if s.at >= moment]

    def now(self) -> int:
        """The current RSS: the median of the last 5 samples (half a second)."""
        time.sleep(SAMPLE_EVERY * 5)
        return int(statistics.median(s.total for s in list(self.samples)[-5:]))


def peak_rss(pid: int) -> int:
    """VmHWM: the process's peak RSS so far, which catches spikes between two samples."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run_phase(name: str, sampler: Sampler, work: Work) -> Phase:
    phase = Phase(name, sampler.now())
    began = time.monotonic()
    others = OtherLoad()
    phase.note = work()
    phase.other_load = others.percent()
    time.sleep(SETTLE_SECONDS)  # counted: work the phase set off in the background ends here
    phase.end = sampler.now()
    phase.samples = sampler.since(began)
    return phase


def idle(seconds: float) -> Work:
    def work() -> str:
        time.sleep(seconds)
        return f"{seconds:.0f} s at rest"

    return work


def upload(amps: AmpsServer, source: Path, result: list[Uploaded]) -> Work:
    def work() -> str:
        uploaded = amps.upload(source)
        result.append(uploaded)
        rate = uploaded.size / uploaded.seconds / MB
        return (
            f"HTTP 201, {uploaded.size / MIB:,.0f} MiB in {uploaded.seconds:.1f} s "
            f"({rate:.0f} MB/s, probing included)"
        )

    return work


def download(url: str, size: int, clients: int, slow: bool, problems: list[str]) -> Work:
    def work() -> str:
        extra = ("--limit-rate", SLOW_RATE, "--max-time", str(SLOW_SECONDS)) if slow else ()
        procs: list[subprocess.Popen[str]] = []
        try:
            started = time.perf_counter()
            procs = [curl_download(url, 1, extra) for _ in range(clients)]
            results = [finish_download(p) for p in procs]
            wall = time.perf_counter() - started
        finally:
            kill_all(procs)
        moved = sum(r.bytes for r in results)
        if slow:  # curl stops itself at --max-time (exit 28): expected here
            bad = [
                r for r in results if r.statuses not in ([], ["200"]) or r.exit_code not in (0, 28)
            ]
        else:
            bad = [r for r in results if not r.ok(size)]
        problems.extend(r.problem(size) for r in bad)
        return (
            f"{clients} clients, {moved / MB:,.0f} MB in {wall:.1f} s "
            f"({moved / wall / MB:,.0f} MB/s), {len(bad)} failed"
        )

    return work


def mb(value: int) -> str:
    return f"{value / MB:,.1f}"


def report(phases: list[Phase], limit_mb: float, server_hwm: int) -> bool:
    baseline = phases[0].start
    print()
    print(
        f"RSS of the amps server process + children, MB (10^6 bytes), sampled every "
        f"{SAMPLE_EVERY} s; goal: growth (peak - start) under {limit_mb:.0f} MB per phase"
    )
    head = ("phase", "start", "peak", "growth", "end", "peak server alone", "children", "goal")
    print(
        f"{head[0]:<14} | {head[1]:>7} | {head[2]:>7} | {head[3]:>7} | {head[4]:>7} | "
        f"{head[5]:>17} | {head[6]:>8} | {head[7]}"
    )
    print("-" * 14 + "-|" + "-|".join("-" * (w + 1) for w in (7, 7, 7, 7, 17, 8)) + "-|-----")
    passed = True
    for phase in phases:
        ok = phase.growth < limit_mb * MB
        passed &= ok
        print(
            f"{phase.name:<14} | {mb(phase.start):>7} | {mb(phase.peak):>7} | "
            f"{mb(phase.growth):>7} | {mb(phase.end):>7} | {mb(phase.peak_server):>17} | "
            f"{phase.most_children:>8} | {'PASS' if ok else 'FAIL'}"
        )
    print()
    for phase in phases:
        print(
            f"{phase.name}: {phase.note}; {len(phase.samples)} samples; "
            + (
                f"largest child's own peak (VmHWM) {mb(phase.child_peak)} MB; "
                if phase.child_peak
                else ""
            )
            + f"other processes used {phase.other_load:.0f}% of a core meanwhile"
        )
    last = phases[-1].end
    print(f"server process's own lifetime peak RSS (VmHWM): {mb(server_hwm)} MB")
    print(
        f"baseline {mb(baseline)} MB; after all phases {mb(last)} MB "
        f"({mb(last - baseline)} MB more)"
    )
    return passed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1024, help="upload size, MiB (1024)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent downloads (8)")
    parser.add_argument("--limit-mb", type=float, default=100, help="goal: growth under (100)")
    parser.add_argument("--no-slow", action="store_true", help="skip the slow-client phase")
    parser.add_argument("--quick", action="store_true", help="smoke check with a 64 MiB file")
    args = parser.parse_args()
    if args.quick:
        args.size_mb = 64
    return args


def main() -> int:
    args = parse_args()
    need("ffmpeg", "ffprobe", "curl")
    sigterm_as_interrupt()
    print(
        f"amps memory: {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}; before: {machine_load()}"
    )
    source = raw_video(args.size_mb)
    problems: list[str] = []
    with temp_dir("amps-bench-") as tmp:
        amps = AmpsServer(tmp / "media", tmp / "amps.log")
        sampler: Sampler | None = None
        try:
            amps.start()
            assert amps.proc is not None
            httpx2.get(f"{amps.base}/api/media", timeout=10)  # first request: lazy imports
            sampler = Sampler(amps.proc.pid)
            sampler.start()
            uploads: list[Uploaded] = []
            phases = [run_phase("idle", sampler, idle(3))]
            phases.append(run_phase("upload", sampler, upload(amps, source, uploads)))
            url, size = uploads[0].stream_url, uploads[0].size
            work = download(url, size, args.clients, False, problems)
            phases.append(run_phase("download", sampler, work))
            if not args.no_slow:
                work = download(url, size, args.clients, True, problems)
                phases.append(run_phase("slow download", sampler, work))
            if not amps.alive():
                problems.append("amps exited during the run")
            server_hwm = peak_rss(amps.proc.pid)
        except KeyboardInterrupt:
            print("\ninterrupted: server stopped, temp files removed", file=sys.stderr)
            return 130
        finally:
            if sampler is not None:
                sampler.stopping.set()
            amps.stop()
        log = amps.log_tail()
    print(f"uploaded {source.name}: {uploads[0].size:,} bytes")
    passed = report(phases, args.limit_mb, server_hwm)
    if not args.no_slow:
        print(
            f"slow download: each client reads at {SLOW_RATE}B/s and stops after {SLOW_SECONDS} s"
        )
    print(f"after: {machine_load()}")
    print(f"problems: {len(problems)}" + "".join(f"\n  - {p}" for p in problems))
    print(f"amps log (--log-level warning): {len(log)} line(s)")
    print("".join(f"  {line}\n" for line in log), end="")
    print("PASS" if passed and not problems else "FAIL", f"(growth under {args.limit_mb:.0f} MB)")
    return 0 if passed and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
