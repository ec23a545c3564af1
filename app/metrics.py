"""Prometheus metrics: what amps counts, and the text a scrape gets.

Multiprocess-safe: `amps serve` sets PROMETHEUS_MULTIPROC_DIR (a fresh folder, emptied at
start) before its workers start, so each worker writes its counts to files there and any one
of them (or the metrics port in the main process) sums them all for a scrape. Without that
variable (tests, `amps worker`) the counts live in the process's own registry.

A leaf: imports nothing of ours, so the streams, jobs, the library and the API all count here.
Label values are few and fixed (route templates, status codes, job kinds), never raw paths.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
SIZE_BUCKETS = tuple(float(4**n * 1024) for n in range(13))  # 1 KiB .. 16 GiB, ×4
SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)

REQUESTS = Counter(
    "amps_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "amps_http_request_duration_seconds",
    "Time to answer an HTTP request (until its first byte for streams), by route template.",
    ["route"],
)
STREAM_RESPONSES = Counter(
    "amps_stream_responses_total",
    "Stream answers (clip bytes), by status and by who answered: the fast path or the route.",
    ["status", "path"],
)
STREAM_BYTES = Counter(
    "amps_stream_bytes_total",
    "Clip bytes sent in stream answers (the body's length as planned), by who answered.",
    ["path"],
)
STREAM_RANGES = Counter(
    "amps_stream_ranges_total", "Byte ranges served (206 answers), by who answered.", ["path"]
)
UPLOAD_BYTES = Histogram(
    "amps_upload_size_bytes", "Sizes of the clips uploaded and kept.", buckets=SIZE_BUCKETS
)
UPLOAD_REFUSALS = Counter(
    "amps_upload_refusals_total", "Uploads refused, by status (413, 415, 422, 429, 507 …).",
    ["status"],
)  # fmt: skip
PROBE_SECONDS = Histogram(
    "amps_probe_duration_seconds", "Time to probe an upload (mutagen or ffprobe).",
    buckets=SECONDS_BUCKETS,
)  # fmt: skip
JOB_SECONDS = Histogram(
    "amps_job_duration_seconds", "Time a background job ran, by kind.", ["kind"],
    buckets=SECONDS_BUCKETS,
)  # fmt: skip
JOB_FAILURES = Counter(
    "amps_job_failures_total",
    "Job runs that ended in an error (retried later, or given up), by kind.",
    ["kind"],
)
CLIPS_FAILED = Counter("amps_clips_failed_total", "Clips whose preparation failed.")
JOBS_QUEUED = Gauge(
    "amps_jobs_queued",
    "Jobs waiting to run: the PostgreSQL queue's, or the SQLite server process's own.",
    multiprocess_mode="mostrecent",
)
WEBHOOK_ATTEMPTS = Counter(
    "amps_webhook_attempts_total",
    "Webhook delivery attempts, by event and outcome (delivered, or failed).",
    ["event", "outcome"],
)


def count_stream(status: int, size: int, path: str) -> None:
    """One stream answer of `size` body bytes; `path` is "fast" or "route"."""
    STREAM_RESPONSES.labels(str(status), path).inc()
    if size:
        STREAM_BYTES.labels(path).inc(size)
    if status == 206:
        STREAM_RANGES.labels(path).inc()


_fast: dict[tuple[str, int, str], tuple[Any, ...]] = {}  # the fast path's, looked up once


def count_fast_stream(method: str, status: int, size: int, route: str) -> None:
    """An answer of the stream fast path (`route`: the template of the route it stands in
    for): the request, its status, bytes and range. The children are cached: a few
    increments per response, no label lookups."""
    children = _fast.get((method, status, route))
    if children is None:
        children = (
            REQUESTS.labels(method, route, str(status)),
            STREAM_RESPONSES.labels(str(status), "fast"),
            STREAM_BYTES.labels("fast"),
            STREAM_RANGES.labels("fast"),
        )
        _fast[(method, status, route)] = children
    children[0].inc()
    children[1].inc()
    if size:
        children[2].inc(size)
    if status == 206:
        children[3].inc()


@contextmanager
def timed_job(kind: str) -> Iterator[None]:
    """Time one run of a job; a run that raises counts as a failure too."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        JOB_FAILURES.labels(kind).inc()
        raise
    finally:
        JOB_SECONDS.labels(kind).observe(time.perf_counter() - started)


@contextmanager
def timed_probe() -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        PROBE_SECONDS.observe(time.perf_counter() - started)


def registry() -> CollectorRegistry:
    """What a scrape reads: every worker's files when multiprocess, else this process's."""
    if not os.environ.get(MULTIPROC_DIR):
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    return collected


def exposition() -> bytes:
    """The Prometheus text format of every metric (blocking: it reads the workers' files)."""
    return generate_latest(registry())


def prepare_multiprocess_dir(path: str) -> None:
    """Empty (or make) the folder the workers write their counts to: a count left by an
    earlier run would otherwise be added to this one's."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
