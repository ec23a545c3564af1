"""/metrics of a real `amps serve --workers 2`: scraped before and after a known set of
requests, every counter moves by exactly what was sent, whichever worker answered."""

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_processed
from tests.e2e.conftest import Server, free_port

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STREAM = "/media/{media_id}/stream"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("metrics")
    counts = root / "counts"
    counts.mkdir()
    (counts / "counter_1.db").write_bytes(b"left by an earlier run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env |= {
        "AMPS_API_TOKEN": TOKEN,
        "AMPS_METRICS_PORT": str(free_port()),
        "PROMETHEUS_MULTIPROC_DIR": str(counts),
    }
    server = Server(root / "media", free_port(), env, args=("--workers", "2"))
    try:
        try:
            server.start()
        except AssertionError:  # two workers on a busy machine: give them longer
            wait_healthy(server, 60)
        yield server
    finally:
        server.stop()


def wait_healthy(server: Server, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.process is not None and server.process.poll() is None, "amps serve exited"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"amps serve --workers 2 did not become healthy in {seconds} s more")


def scrape(url: str, **headers: str) -> Samples:
    answer = httpx.get(url, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0) - before.get(key, 0)


def test_counters_move_by_exactly_the_requests_made_across_both_workers(
    two_workers: Server, media_files: dict[str, Path]
) -> None:
    base = two_workers.url
    counts = Path(two_workers.env["PROMETHEUS_MULTIPROC_DIR"])
    assert not (counts / "counter_1.db").exists(), "an earlier run's counts were kept"
    with media_files["audio.opus"].open("rb") as file:
        clip = httpx.post(f"{base}/api/media", files={"file": file}, headers=AUTH).json()
    with httpx.Client(base_url=base) as client:
        assert wait_processed(client, clip["id"])["status"] == "ready"
    stream = f"{base}/media/{clip['id']}/stream"
    before = scrape(f"{base}/metrics", **AUTH)

    def health(_: int) -> int:
        return httpx.get(f"{base}/healthz").status_code  # a new connection each

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(health, range(24))) == {200}
        ranges = pool.map(lambda _: httpx.get(stream, headers={"range": "bytes=0-99"}), range(6))
        assert [r.status_code for r in ranges] == [206] * 6
    assert [httpx.head(stream).status_code for _ in range(2)] == [200, 200]
    routed = httpx.get(f"{stream}?download=1", headers={"range": "bytes=100-149"})
    assert routed.status_code == 206 and len(routed.content) == 50  # through the route
    assert httpx.get(f"{base}/api/media/{'0' * 16}").status_code == 404
    refused = httpx.post(f"{base}/api/media", files={"file": ("a.txt", b"not media")}, headers=AUTH)
    assert refused.status_code == 415
    after = scrape(f"{base}/metrics", **AUTH)

    requests = "amps_http_requests_total"
    assert moved(before, after, requests, method="GET", route="/healthz", status="200") == 24
    assert moved(before, after, requests, method="GET", route=STREAM, status="206") == 7
    assert moved(before, after, requests, method="HEAD", route=STREAM, status="200") == 2
    assert moved(before, after, requests, method="GET", route="/api/media/{media_id}",
                 status="404") == 1  # fmt: skip
    assert moved(before, after, requests, method="POST", route="/api/media", status="415") == 1
    assert moved(before, after, "amps_upload_refusals_total", status="415") == 1
    assert moved(before, after, "amps_stream_ranges_total", path="fast") == 6
    assert moved(before, after, "amps_stream_bytes_total", path="fast") == 600
    assert moved(before, after, "amps_stream_ranges_total", path="route") == 1
    assert moved(before, after, "amps_stream_bytes_total", path="route") == 50
    assert after[("amps_upload_size_bytes_count", frozenset())] == 1
    assert after[("amps_probe_duration_seconds_count", frozenset())] >= 2
    assert after[("amps_job_duration_seconds_count", frozenset({("kind", "process")}))] == 1

    # Both workers answered some of the 24 and wrote their own counts; the scrape summed them.
    per_worker = []
    for path in counts.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        per_worker.append(sum(row[1] for row in values if '"/healthz"' in row[0]))
    assert len([n for n in per_worker if n]) == 2


def test_metrics_need_the_token_or_the_metrics_port(two_workers: Server) -> None:
    assert httpx.get(f"{two_workers.url}/metrics").status_code == 401
    wrong = httpx.get(f"{two_workers.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    port = two_workers.env["AMPS_METRICS_PORT"]
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    key = ("amps_http_requests_total", frozenset(
        {("method", "GET"), ("route", "/healthz"), ("status", "200")}
    ))  # fmt: skip
    assert samples[key] >= 1
