"""Streams and uploads with clips in S3 (a real SeaweedFS), side by side in one run.

Reads of one 64 MiB clip: whole-file GETs and random 64 KiB ranges, through amps proxying
the store, through amps redirecting to a presigned URL (the client follows), and from
SeaweedFS directly (a presigned URL): the reference. Then a 1 GiB upload through amps into
the store, with the server's RSS growth, against the same file put straight into SeaweedFS
with a streamed multipart upload. One async client (httpx2) for every read path.

    .venv/bin/python bench/s3.py [--upload-mib 1024] [--ranges 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

import httpx2
from _support import (
    CACHE,
    MB,
    MIB,
    RAW_FRAME_BYTES,
    AmpsServer,
    _ffmpeg,
    machine_load,
    sigterm_as_interrupt,
    temp_dir,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.seaweed import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS  # noqa: E402
from tests.streamed_upload import PeakRss, multipart_body  # noqa: E402

RANGE = 64 * 1024
FULL_RUNS = 6
ROUNDS = 3
FULL_CONCURRENCY = 4
RANGE_CONCURRENCY = 16


def noise_video(size_mb: int) -> Path:
    """Uncompressed 720p video of random pixels in Matroska, cached: made in seconds, probes as
    video, and does not compress (SeaweedFS gzips compressible objects, which then makes every
    ranged read decompress a whole chunk: real H.264 or AAC never compresses)."""
    frames = max(30, -(-size_mb * MIB // RAW_FRAME_BYTES))
    target = CACHE / f"noise-1280x720-{frames}f.mkv"
    if target.exists():
        return target
    print(f"generating {target.name} (~{frames * RAW_FRAME_BYTES / MIB:.0f} MiB) ...", flush=True)
    pixels = "geq=lum='random(1)*255':cb='random(2)*255':cr='random(3)*255'"
    source = f"nullsrc=s=1280x720:r=30,{pixels}"
    args = ["-f", "lavfi", "-i", source, "-frames:v", str(frames), "-c:v", "rawvideo"]
    return _ffmpeg([*args, "-pix_fmt", "yuv420p"], target)


def upload(server: AmpsServer, path: Path) -> tuple[dict[str, object], float, int]:
    """(record, seconds, RSS growth in bytes) of one streamed upload."""
    assert server.proc is not None
    body, length = multipart_body(path, "amps-bench", "b.mkv")
    headers = {"Content-Type": "multipart/form-data; boundary=amps-bench"}
    headers["Content-Length"] = str(length)
    with PeakRss(server.proc.pid) as rss:
        started = time.perf_counter()
        answer = httpx2.post(f"{server.base}/api/media", content=body, headers=headers, timeout=900)
        seconds = time.perf_counter() - started
    if answer.status_code != 201:
        raise SystemExit(f"upload failed: {answer.status_code} {answer.text[:500]}")
    return answer.json(), seconds, rss.peak - rss.start


async def full_gets(url: str, size: int) -> float:
    """MB/s of FULL_RUNS whole-file GETs, FULL_CONCURRENCY at once."""
    semaphore = asyncio.Semaphore(FULL_CONCURRENCY)
    async with httpx2.AsyncClient(follow_redirects=True, timeout=120) as client:

        async def one() -> None:
            async with semaphore, client.stream("GET", url) as answer:
                got = 0
                async for chunk in answer.aiter_raw(MIB):
                    got += len(chunk)
                assert answer.status_code == 200 and got == size, (answer.status_code, got)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(FULL_RUNS)))
        return FULL_RUNS * size / MB / (time.perf_counter() - started)


async def range_gets(url: str, size: int, count: int) -> tuple[float, float]:
    """(requests/s, p50 ms) of `count` random 64 KiB ranges, RANGE_CONCURRENCY at once."""
    rng = random.Random(64)
    starts = [rng.randrange(0, size - RANGE) for _ in range(count)]
    semaphore = asyncio.Semaphore(RANGE_CONCURRENCY)
    latencies: list[float] = []
    limits = httpx2.Limits(max_connections=RANGE_CONCURRENCY * 2)
    async with httpx2.AsyncClient(follow_redirects=True, timeout=60, limits=limits) as client:

        async def one(start: int) -> None:
            async with semaphore:
                t = time.perf_counter()
                answer = await client.get(
                    url, headers={"Range": f"bytes={start}-{start + RANGE - 1}"}
                )
                latencies.append(time.perf_counter() - t)
                assert answer.status_code == 206 and len(answer.content) == RANGE

        for start in starts[:50]:  # warm the connections
            await one(start)
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(s) for s in starts))
        return count / (time.perf_counter() - started), statistics.median(latencies) * 1000


def put_directly(weed: SeaweedFS, path: Path) -> float:
    """Seconds to stream `path` into SeaweedFS as amps does (obstore, 8 MiB parts, 4 in flight)."""
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        BUCKET,
        endpoint=weed.endpoint,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )
    started = time.perf_counter()
    with (
        obstore.open_writer(store, "bench/direct.bin", buffer_size=8 * MIB, max_concurrency=4) as w,
        path.open("rb") as file,
    ):
        while chunk := file.read(MIB):
            w.write(chunk)
    seconds = time.perf_counter() - started
    obstore.delete(store, "bench/direct.bin")
    return seconds


def server_side_copy(weed: SeaweedFS, key: str) -> float:
    """Seconds SeaweedFS takes to copy the object: the part of an upload's commit we pay for."""
    client = weed.client()
    started = time.perf_counter()
    client.copy_object(
        Bucket=BUCKET, Key="bench/copy.bin", CopySource={"Bucket": BUCKET, "Key": key}
    )
    seconds = time.perf_counter() - started
    client.delete_object(Bucket=BUCKET, Key="bench/copy.bin")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--ranges", type=int, default=1000)
    args = parser.parse_args()
    sigterm_as_interrupt()
    clip, big = noise_video(64), noise_video(args.upload_mib)
    print(machine_load())
    with temp_dir("amps-bench-s3-") as temp:
        weed = SeaweedFS(temp / "weed")
        weed.start()
        try:
            run(weed, temp, clip, big, args)
        finally:
            weed.stop()


def run(weed: SeaweedFS, temp: Path, clip: Path, big: Path, args: argparse.Namespace) -> None:
    os.environ.update(
        {
            "AMPS_STORAGE_URL": f"s3://{BUCKET}/bench",
            "AMPS_S3_ENDPOINT_URL": weed.endpoint,
            "AMPS_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "AMPS_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "AMPS_MAX_UPLOAD_BYTES": str(4 * 1024 * MIB),
            "AMPS_PROBE_TIMEOUT": "120",
        }
    )
    proxy = AmpsServer(temp / "media", temp / "proxy.log")
    proxy.start()
    os.environ["AMPS_S3_REDIRECT"] = "1"
    redirect = AmpsServer(temp / "media", temp / "redirect.log")  # same catalog and bucket
    redirect.start()
    try:
        record, _, _ = upload(proxy, clip)
        size = int(record["size"])  # type: ignore[call-overload]
        stream = f"/media/{record['id']}/stream"
        key = f"bench/{record['id']}/original.mkv"
        direct = weed.client().generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
        )
        urls = {
            "SeaweedFS directly": direct,
            "amps proxy": proxy.base + stream,
            "amps redirect": redirect.base + stream,
        }
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in urls}
        names = list(urls)
        for round_ in range(ROUNDS):  # rotated, so no path always runs first (cold caches)
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                full = asyncio.run(full_gets(urls[name], size))
                rps, p50 = asyncio.run(range_gets(urls[name], size, args.ranges))
                samples[name].append((full, rps, p50))
        reads = {
            name: tuple(statistics.median(column) for column in zip(*rows, strict=True))
            for name, rows in samples.items()
        }
        print_reads(reads, size)  # type: ignore[arg-type]
        stored, amps_seconds, growth = upload(proxy, big)
        direct_seconds = put_directly(weed, big)
        copy_seconds = server_side_copy(weed, f"bench/{stored['id']}/original.mkv")
        print_upload(big.stat().st_size, amps_seconds, growth, direct_seconds, copy_seconds)
        print(machine_load())
    finally:
        proxy.stop()
        redirect.stop()


def print_reads(reads: dict[str, tuple[float, float, float]], size: int) -> None:
    reference = reads["SeaweedFS directly"]
    print(
        f"\nreads of a {size / MIB:.0f} MiB clip in SeaweedFS, median of {ROUNDS} rounds "
        "(ratios: vs SeaweedFS directly)"
    )
    print(
        f"{'path':<22}{'full GET MB/s':>24}"
        f"{'64 KiB ranges/s x' + str(RANGE_CONCURRENCY):>26}{'range p50 ms':>22}"
    )
    for name, (full, rps, p50) in reads.items():
        print(
            f"{name:<22}{full:>15.0f} ({full / reference[0]:4.2f}x)"
            f"{rps:>17.0f} ({rps / reference[1]:4.2f}x)"
            f"{p50:>13.1f} ({p50 / reference[2]:4.2f}x)"
        )


def print_upload(
    size: int, amps_seconds: float, growth: int, direct_seconds: float, copy_seconds: float
) -> None:
    print(f"\nupload of {size / MIB:.0f} MiB (ratio: vs obstore straight into SeaweedFS)")
    amps_rate, direct_rate = size / MB / amps_seconds, size / MB / direct_seconds
    print(
        f"amps POST /api/media (stream, probe, copy): {amps_seconds:6.1f} s  {amps_rate:6.0f} MB/s "
        f"({amps_rate / direct_rate:4.2f}x), server RSS growth {growth / MIB:.0f} MiB"
    )
    print(
        f"obstore multipart put directly:            {direct_seconds:6.1f} s  "
        f"{direct_rate:6.0f} MB/s"
    )
    print(f"of amps' time, the commit's CopyObject in SeaweedFS alone: {copy_seconds:.1f} s")


if __name__ == "__main__":
    main()
