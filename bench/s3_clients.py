"""Which S3 client amps should use, measured against a real SeaweedFS in one run.

obstore (Rust object_store, sync and async) vs boto3 (sync, botocore) vs aioboto3 (async,
aiobotocore/aiohttp): import cost, 64 KiB ranged GET latency (one at a time) and throughput
(16 at once), a whole 64 MiB GET, and a multipart upload of 256 MiB fed 1 MiB at a time.
The losers are not project dependencies: `.venv/bin/pip install obstore aioboto3` first.

    .venv/bin/python bench/s3_clients.py
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.seaweed import BUCKET, SeaweedFS  # noqa: E402

MIB = 1024 * 1024
OBJECT_SIZE = 64 * MIB
UPLOAD_SIZE = 256 * MIB
RANGE = 64 * 1024
LATENCY_RUNS = 300
PARALLEL = 16
PARALLEL_RUNS = 1600
KEY = "bench/object.bin"


def ranges(count: int) -> list[tuple[int, int]]:
    rng = random.Random(7)
    return [(s, s + RANGE) for s in (rng.randrange(0, OBJECT_SIZE - RANGE) for _ in range(count))]


def chunks(total: int) -> Iterator[bytes]:
    block = os.urandom(MIB)
    for _ in range(total // MIB):
        yield block


def import_ms(module: str) -> float:
    """Median wall time of `import module` in a fresh interpreter, minus a bare interpreter."""

    def run(code: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return (run(f"import {module}") - run("pass")) * 1000


class Obstore:
    name = "obstore"
    module = "obstore"

    def __init__(self, endpoint: str) -> None:
        from obstore.store import S3Store

        self.store = S3Store(
            BUCKET,
            endpoint=endpoint,
            region="us-east-1",
            access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            client_options={"allow_http": True},
            virtual_hosted_style_request=False,
        )

    def get_range(self, start: int, end: int) -> int:
        import obstore

        return len(obstore.get_range(self.store, KEY, start=start, end=end))

    async def get_range_async(self, start: int, end: int) -> int:
        import obstore

        return len(await obstore.get_range_async(self.store, KEY, start=start, end=end))

    async def get_all_async(self) -> int:
        import obstore

        result = await obstore.get_async(self.store, KEY)
        return sum([len(chunk) async for chunk in result.stream(min_chunk_size=MIB)])

    def upload(self, key: str) -> None:
        import obstore

        with obstore.open_writer(self.store, key, buffer_size=8 * MIB) as writer:
            for chunk in chunks(UPLOAD_SIZE):
                writer.write(chunk)


class Boto3:
    name = "boto3"
    module = "boto3"

    def __init__(self, endpoint: str) -> None:
        import boto3
        from botocore.config import Config

        config = Config(max_pool_connections=PARALLEL * 2, s3={"addressing_style": "path"})
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", config=config
        )

    def get_range(self, start: int, end: int) -> int:
        answer = self.client.get_object(Bucket=BUCKET, Key=KEY, Range=f"bytes={start}-{end - 1}")
        return len(answer["Body"].read())

    def get_all(self) -> int:
        body = self.client.get_object(Bucket=BUCKET, Key=KEY)["Body"]
        return sum(len(c) for c in body.iter_chunks(MIB))

    def upload(self, key: str) -> None:
        upload = self.client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        parts, buffer = [], bytearray()
        for chunk in chunks(UPLOAD_SIZE):
            buffer += chunk
            if len(buffer) >= 8 * MIB:
                parts.append(self._part(key, upload, len(parts) + 1, bytes(buffer)))
                buffer.clear()
        if buffer:
            parts.append(self._part(key, upload, len(parts) + 1, bytes(buffer)))
        self.client.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )

    def _part(self, key: str, upload: str, number: int, data: bytes) -> dict[str, object]:
        answer = self.client.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}


class AioBoto3:
    name = "aioboto3"
    module = "aioboto3"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self):  # type: ignore[no-untyped-def]
        import aioboto3
        from botocore.config import Config

        config = Config(max_pool_connections=PARALLEL * 2, s3={"addressing_style": "path"})
        session = aioboto3.Session()
        return session.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", config=config
        )


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure_sync(client: Obstore | Boto3) -> dict[str, float]:
    spans = ranges(LATENCY_RUNS)
    for start, end in spans[:20]:
        client.get_range(start, end)
    latencies = []
    for start, end in spans:
        t = time.perf_counter()
        client.get_range(start, end)
        latencies.append(time.perf_counter() - t)
    spans = ranges(PARALLEL_RUNS)
    with ThreadPoolExecutor(PARALLEL) as pool:
        seconds = timed(lambda: list(pool.map(lambda s: client.get_range(*s), spans)))
    return {
        "range_p50_ms": statistics.median(latencies) * 1000,
        "range_rps": PARALLEL_RUNS / seconds,
    }


async def measure_async_obstore(client: Obstore) -> dict[str, float]:
    spans = ranges(LATENCY_RUNS)
    latencies = []
    for start, end in spans:
        t = time.perf_counter()
        await client.get_range_async(start, end)
        latencies.append(time.perf_counter() - t)
    semaphore = asyncio.Semaphore(PARALLEL)

    async def one(span: tuple[int, int]) -> None:
        async with semaphore:
            await client.get_range_async(*span)

    t = time.perf_counter()
    await asyncio.gather(*(one(s) for s in ranges(PARALLEL_RUNS)))
    rps = PARALLEL_RUNS / (time.perf_counter() - t)
    t = time.perf_counter()
    await client.get_all_async()
    full = OBJECT_SIZE / MIB / (time.perf_counter() - t)
    return {"range_p50_ms": statistics.median(latencies) * 1000, "range_rps": rps, "full": full}


async def measure_aioboto3(factory: AioBoto3) -> dict[str, float]:
    async with factory.client() as s3:

        async def get(start: int, end: int) -> int:
            answer = await s3.get_object(Bucket=BUCKET, Key=KEY, Range=f"bytes={start}-{end - 1}")
            return len(await answer["Body"].read())

        latencies = []
        for start, end in ranges(LATENCY_RUNS):
            t = time.perf_counter()
            await get(start, end)
            latencies.append(time.perf_counter() - t)
        semaphore = asyncio.Semaphore(PARALLEL)

        async def one(span: tuple[int, int]) -> None:
            async with semaphore:
                await get(*span)

        t = time.perf_counter()
        await asyncio.gather(*(one(s) for s in ranges(PARALLEL_RUNS)))
        rps = PARALLEL_RUNS / (time.perf_counter() - t)
        t = time.perf_counter()
        answer = await s3.get_object(Bucket=BUCKET, Key=KEY)
        total = 0
        async for chunk in answer["Body"].iter_chunks(MIB):
            total += len(chunk)
        full = OBJECT_SIZE / MIB / (time.perf_counter() - t)
    return {"range_p50_ms": statistics.median(latencies) * 1000, "range_rps": rps, "full": full}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="amps-s3-clients-") as temp:
        weed = SeaweedFS(Path(temp) / "weed")
        weed.start()
        os.environ.update(weed.credentials)
        try:
            rows = run_all(weed.endpoint)
        finally:
            weed.stop()
    print_table(rows)


def run_all(endpoint: str) -> dict[str, dict[str, float]]:
    obstore_client, boto = Obstore(endpoint), Boto3(endpoint)
    boto.client.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(OBJECT_SIZE))
    rows: dict[str, dict[str, float]] = {}
    sync = measure_sync(boto)
    sync["full"] = OBJECT_SIZE / MIB / timed(boto.get_all)
    sync["upload"] = UPLOAD_SIZE / MIB / timed(lambda: boto.upload("bench/up-boto3.bin"))
    rows["boto3 (sync, threads)"] = sync
    aio = asyncio.run(measure_aioboto3(AioBoto3(endpoint)))
    rows["aioboto3 (async)"] = aio
    osync = measure_sync(obstore_client)
    rows["obstore (sync, threads)"] = osync
    oasync = asyncio.run(measure_async_obstore(obstore_client))
    oasync["upload"] = UPLOAD_SIZE / MIB / timed(lambda: obstore_client.upload("bench/up-ob.bin"))
    rows["obstore (async)"] = oasync
    imports = {"boto3": import_ms("boto3"), "aioboto3": import_ms("aioboto3")}
    imports["obstore"] = import_ms("obstore")
    for name, row in rows.items():
        row["import_ms"] = imports[name.split()[0]]
    return rows


def print_table(rows: dict[str, dict[str, float]]) -> None:
    reference = rows["boto3 (sync, threads)"]
    columns = [
        ("range_p50_ms", "64 KiB GET p50 ms", False),
        ("range_rps", f"64 KiB GETs/s x{PARALLEL}", True),
        ("full", "64 MiB GET MiB/s", True),
        ("upload", "256 MiB multipart MiB/s", True),
        ("import_ms", "import ms", False),
    ]
    print(f"SeaweedFS on loopback; ratios against boto3 (x>1: better). {os.cpu_count()} cores")
    print(f"{'client':<26}" + "".join(f"{title:>26}" for _, title, _ in columns))
    for name, row in rows.items():
        cells = []
        for key, _, higher in columns:
            if key not in row:
                cells.append(f"{'-':>26}")
                continue
            ratio = row[key] / reference[key] if higher else reference[key] / row[key]
            cells.append(f"{row[key]:>16.1f} ({ratio:4.2f}x)")
        print(f"{name:<26}" + "".join(cells))


if __name__ == "__main__":
    main()
