"""amps under load: 200 concurrent range readers plus 10 concurrent uploaders against one
server process for 60 s, every body checked byte for byte, the server's memory sampled.

A benchmark, not a test: it prints figures, and PASS only when there was no error, every
body was right and memory stayed flat (RSS growth from the first to the last 10 s of the
run under --limit-mb). Loopback only; it stops by itself and removes what it made.

Readers loop over three kinds of request, each checked against the source file's bytes:
a random 64 KiB range of a large clip (206), a suffix range of a small clip (206), and a
whole small clip (200). Uploaders loop: upload a small clip (201), read it back whole
(sha256 equal), delete it (204), so the library stays the same size.

    .venv/bin/python bench/load.py                  # 60 s, 200 readers, 10 uploaders
    .venv/bin/python bench/load.py --seconds 10     # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx2
import psutil
from _support import (
    MB,
    AmpsServer,
    machine_load,
    need,
    raw_video,
    short_clip,
    sigterm_as_interrupt,
    temp_dir,
)

RANGE_BYTES = 64 * 1024
SAMPLE_EVERY = 0.5


@dataclass
class Clip:
    data: bytes
    url: str


@dataclass
class Tally:
    requests: int = 0
    bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        if len(self.errors) < 1000:
            self.errors.append(what)


class RssSampler(threading.Thread):
    """RSS of the server and its children (ffprobe, ffmpeg) every SAMPLE_EVERY s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int, int]] = []  # (time, server, server + children)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                server = self.process.memory_info().rss
                total = server
                for child in self.process.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
                self.samples.append((time.monotonic(), server, total))
            except psutil.NoSuchProcess:
                return
            self.stopping.wait(SAMPLE_EVERY)

    def server_between(self, start: float, end: float) -> list[int]:
        return [server for at, server, _ in self.samples if start <= at <= end]


async def reader(client: httpx2.AsyncClient, big: Clip, small: list[Clip], until: float,
                 tally: Tally, rng: random.Random) -> None:  # fmt: skip
    while time.monotonic() < until:
        choice = rng.random()
        if choice < 0.7:
            clip = big
            start = rng.randrange(0, len(clip.data) - RANGE_BYTES)
            end = start + rng.randrange(1, RANGE_BYTES)
            headers, expect, status = {"range": f"bytes={start}-{end - 1}"}, (start, end), 206
        elif choice < 0.9:
            clip = rng.choice(small)
            length = rng.randrange(1, RANGE_BYTES)
            headers, status = {"range": f"bytes=-{length}"}, 206
            expect = (len(clip.data) - length, len(clip.data))
        else:
            clip = rng.choice(small)
            headers, expect, status = {}, (0, len(clip.data)), 200
        started = time.perf_counter()
        try:
            response = await client.get(clip.url, headers=headers)
        except httpx2.HTTPError as exc:
            tally.error(f"GET {headers}: {type(exc).__name__} {exc}")
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.requests += 1
        tally.bytes += len(response.content)
        if response.status_code != status:
            tally.error(f"GET {headers}: {response.status_code}, not {status}")
        elif response.content != clip.data[expect[0] : expect[1]]:
            tally.error(f"GET {headers}: wrong bytes ({len(response.content)} received)")
        elif status == 206 and response.headers.get("content-range") != (
            f"bytes {expect[0]}-{expect[1] - 1}/{len(clip.data)}"
        ):
            tally.error(f"GET {headers}: Content-Range {response.headers.get('content-range')}")


async def uploader(client: httpx2.AsyncClient, base: str, sources: list[bytes], until: float,
                   tally: Tally, rng: random.Random) -> None:  # fmt: skip
    while time.monotonic() < until:
        data = rng.choice(sources)
        started = time.perf_counter()
        try:
            created = await client.post(f"{base}/api/media", files={"file": ("clip.mp4", data)})
            if created.status_code != 201:
                tally.error(f"upload: {created.status_code} {created.text[:200]}")
                continue
            record = created.json()
            tally.latencies.append(time.perf_counter() - started)
            tally.requests += 1
            tally.bytes += len(data)
            back = await client.get(record["urls"]["stream"])
            if hashlib.sha256(back.content).digest() != hashlib.sha256(data).digest():
                tally.error(f"upload {record['id']}: read back {len(back.content)} other bytes")
            gone = await client.delete(record["urls"]["api"])
            if gone.status_code != 204:
                tally.error(f"delete {record['id']}: {gone.status_code}")
        except httpx2.HTTPError as exc:
            tally.error(f"upload: {type(exc).__name__} {exc}")


async def run_load(base: str, big: Clip, small: list[Clip], uploads: list[bytes],
                   args: argparse.Namespace) -> tuple[Tally, Tally, float, float]:  # fmt: skip
    limits = httpx2.Limits(max_connections=args.readers + args.uploaders + 10)
    timeout = httpx2.Timeout(60.0)
    reads, writes = Tally(), Tally()
    async with httpx2.AsyncClient(limits=limits, timeout=timeout) as client:
        started = time.monotonic()
        until = started + args.seconds
        rng = random.Random(args.seed)
        tasks = [
            reader(client, big, small, until, reads, random.Random(rng.random()))
            for _ in range(args.readers)
        ]
        tasks += [
            uploader(client, base, uploads, until, writes, random.Random(rng.random()))
            for _ in range(args.uploaders)
        ]
        await asyncio.gather(*tasks)
        return reads, writes, started, time.monotonic()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(reads: Tally, writes: Tally, seconds: float, sampler: RssSampler, started: float,
           ended: float, limit_mb: float) -> bool:  # fmt: skip
    print(f"\nran {seconds:.1f} s")
    for name, tally in (("range reads", reads), ("uploads", writes)):
        p50, p95, p99 = (percentile(tally.latencies, f) * 1000 for f in (0.5, 0.95, 0.99))
        print(
            f"  {name:12} {tally.requests:7,} ok ({tally.requests / seconds:7.1f}/s), "
            f"{tally.bytes / MB / seconds:6.1f} MB/s, latency p50 {p50:6.1f} ms"
            f" p95 {p95:6.1f} ms p99 {p99:6.1f} ms, {len(tally.errors)} errors"
        )
        for error in tally.errors[:5]:
            print(f"    {error}")
    first = sampler.server_between(started, started + 10)
    last = sampler.server_between(ended - 10, ended)
    everything = [total for _, _, total in sampler.samples]
    servers = [server for _, server, _ in sampler.samples]
    growth = (statistics.median(last) - statistics.median(first)) / MB if first and last else 0.0
    print(
        f"  server RSS: {min(servers) / MB:.0f} MB at least, {max(servers) / MB:.0f} MB at most; "
        f"median of the first 10 s {statistics.median(first) / MB:.0f} MB, of the last 10 s "
        f"{statistics.median(last) / MB:.0f} MB (growth {growth:+.1f} MB); with ffprobe/ffmpeg "
        f"children at most {max(everything) / MB:.0f} MB"
    )
    marks = [started + k * 10 for k in range(int((ended - started) // 10) + 1)]
    timeline = [sampler.server_between(mark, mark + 2) for mark in marks]
    print(
        "  server RSS every 10 s: " + ", ".join(f"{t[0] / MB:.0f}" for t in timeline if t) + " MB"
    )
    errors = len(reads.errors) + len(writes.errors)
    passed = errors == 0 and reads.requests > 0 and writes.requests > 0 and growth < limit_mb
    verdict = "PASS" if passed else "FAIL"
    print(f"{verdict}: {errors} errors, memory growth {growth:+.1f} MB (limit {limit_mb:.0f} MB)")
    return passed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--uploaders", type=int, default=10)
    parser.add_argument("--big-mb", type=float, default=64.0, help="size of the ranged clip")
    parser.add_argument("--limit-mb", type=float, default=30.0, help="RSS growth allowed")
    parser.add_argument("--seed", type=int, default=9110)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    need("ffmpeg", "ffprobe", "curl")
    sigterm_as_interrupt()
    print(
        f"amps load: {args.readers} range readers + {args.uploaders} uploaders for "
        f"{args.seconds:.0f} s; {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}; before: {machine_load()}"
    )
    big_path = raw_video(args.big_mb)
    small_paths = [short_clip(seconds) for seconds in (10, 20, 60)]
    # The uploads of this run are the load itself: no per-address limit here.
    os.environ["AMPS_UPLOADS_PER_MINUTE"] = "0"
    with temp_dir("amps-load-") as tmp:
        amps = AmpsServer(tmp / "media", tmp / "amps.log")
        sampler: RssSampler | None = None
        try:
            amps.start()
            assert amps.proc is not None
            big = Clip(big_path.read_bytes(), amps.upload(big_path).stream_url)
            small = [Clip(p.read_bytes(), amps.upload(p).stream_url) for p in small_paths]
            uploads = [clip.data for clip in small[:2]]
            sampler = RssSampler(amps.proc.pid)
            sampler.start()
            time.sleep(1)
            reads, writes, started, ended = asyncio.run(
                run_load(amps.base, big, small, uploads, args)
            )
            alive = amps.alive()
        except KeyboardInterrupt:
            print("\ninterrupted: server stopped, temp files removed", file=sys.stderr)
            return 130
        finally:
            if sampler is not None:
                sampler.stopping.set()
            amps.stop()
        log = amps.log_tail(10)
    sizes = ", ".join(f"{len(c.data):,}" for c in small)
    print(f"clips: ranged {len(big.data):,} bytes; small {sizes}")
    passed = report(reads, writes, ended - started, sampler, started, ended, args.limit_mb)
    if not alive:
        print("FAIL: the server exited during the run")
        passed = False
    errors_logged = [line for line in log if "ERROR" in line or "Traceback" in line]
    if errors_logged:
        print("server log:", *errors_logged, sep="\n  ")
    print(f"after: {machine_load()}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
