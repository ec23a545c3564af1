"""`amps serve --server/--workers` for real, and a cold read that must not hold up the loop."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest

from app.catalog.database import Catalog
from app.config import Settings
from app.library import Library
from app.storage.local import LocalStorage
from tests.e2e.conftest import Server, free_port
from tests.test_streaming import wav, wav_header

AMPS = [sys.executable, "-m", "app.cli"]
BLKIO = Path("/sys/fs/cgroup/blkio")  # cgroup v1
CGROUP2 = Path("/sys/fs/cgroup")
THROTTLE = 1_000_000  # bytes per second a throttled server may read from the disk


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env.update({f"AMPS_{name.upper()}": value for name, value in settings.items()})
    return env


def test_serve_help_lists_the_servers_and_workers() -> None:
    out = subprocess.run([*AMPS, "serve", "--help"], capture_output=True, text=True, check=True)
    assert "{uvicorn,granian}" in out.stdout and "--workers" in out.stdout


@pytest.mark.parametrize("args", [["--server", "nginx"], ["--workers", "0"], ["--workers", "x"]])
def test_serve_refuses_unknown_servers_and_worker_counts(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [*AMPS, "serve", "--media-dir", str(tmp_path), "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode != 0
    assert "server" in done.stderr or "workers" in done.stderr


@pytest.mark.parametrize("server_name", ["uvicorn", "granian"])
def test_workers_run_as_that_many_processes(tmp_path: Path, server_name: str) -> None:
    args = ("--server", server_name, "--workers", "2")
    server = Server(tmp_path / "media", free_port(), clean_env(), args)
    server.start()
    try:
        assert server.process is not None
        pids: set[int] = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:  # each answers as it comes up
            response = httpx.get(f"{server.url}/healthz", headers={"connection": "close"})
            assert response.status_code == 200
            pids = {p.pid for p in serving_processes(server.process.pid)}
            time.sleep(0.1)
        assert len(pids) >= 2, f"{server_name} runs {len(pids)} serving process(es)"
    finally:
        server.stop()


def serving_processes(pid: int) -> list[psutil.Process]:
    """The processes of the tree that listen on a TCP socket or hold the catalog open."""
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    found = []
    for process in tree:
        try:
            if any(f.path.endswith("amps.sqlite3") for f in process.open_files()):
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize(
    ("setting", "server_name"), [("uvicorn", "uvicorn"), ("granian", "granian"), (None, "granian")]
)
def test_server_setting_comes_from_the_environment(
    tmp_path: Path, setting: str | None, server_name: str
) -> None:
    env = clean_env(server=setting) if setting else clean_env()
    server = Server(tmp_path / "media", free_port(), env)
    server.start()
    try:
        assert httpx.get(f"{server.url}/healthz").headers["server"] == server_name
    finally:
        server.stop()


# --- cold reads --------------------------------------------------------------------------


def block_device(path: Path) -> str:
    """MAJ:MIN of the disk holding path (a partition's parent disk: throttles apply there)."""
    dev = os.stat(path).st_dev
    node = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if (node / "partition").exists():
        return (node.resolve().parent / "dev").read_text().strip()
    return f"{os.major(dev)}:{os.minor(dev)}"


@contextmanager
def throttled_reads(pids: list[int], device: str) -> Iterator[None]:
    """The processes read from `device` at THROTTLE bytes/s at most (a slow disk), as root."""
    if os.geteuid() != 0:
        pytest.skip("throttling a process's disk reads needs root (cgroups)")
    if (BLKIO / "cgroup.procs").exists():
        group, limit = BLKIO / f"amps-test-{os.getpid()}", "blkio.throttle.read_bps_device"
        value, parent = f"{device} {THROTTLE}", BLKIO
    elif (CGROUP2 / "cgroup.subtree_control").exists():
        group, limit = CGROUP2 / f"amps-test-{os.getpid()}", "io.max"
        value, parent = f"{device} rbps={THROTTLE}", CGROUP2
    else:
        pytest.skip("this kernel offers no cgroup I/O throttling")
    group.mkdir()
    try:
        (group / limit).write_text(value)
        for pid in pids:
            (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            (parent / "cgroup.procs").write_text(pid)
        group.rmdir()


def timed_get(url: str, headers: dict[str, str], results: dict[str, float], key: str) -> None:
    started = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=60)
    assert response.status_code == 206
    results[key] = time.monotonic() - started


@pytest.mark.parametrize("server_name", ["uvicorn", "granian"])
def test_cold_range_does_not_hold_up_other_requests(tmp_path: Path, server_name: str) -> None:
    settings = Settings(media_dir=tmp_path / "media")
    catalog = Catalog(settings.catalog_url)
    library = Library(settings, catalog, LocalStorage(settings.media_dir))
    library.start()
    (tmp_path / "cold.wav").write_bytes(wav(6 << 20))
    (tmp_path / "warm.wav").write_bytes(wav(200_000))
    cold, warm = (library.add_file(tmp_path / name) for name in ("cold.wav", "warm.wav"))
    cold_path = library.file_of(cold)
    assert cold_path is not None
    catalog.dispose()
    server = Server(settings.media_dir, free_port(), clean_env(), ("--server", server_name))
    server.start()
    try:
        assert server.process is not None
        base = f"{server.url}/media"
        for media in (cold, warm):  # both open in the cache, the warm one read once
            httpx.get(f"{base}/{media.id}/stream", headers={"range": "bytes=0-65535"})
        fd = os.open(cold_path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # the cold clip leaves the cache
        os.close(fd)
        tree = [server.process.pid, *(p.pid for p in psutil.Process(server.process.pid).children())]
        results: dict[str, float] = {}
        with throttled_reads(tree, block_device(cold_path)):
            slow = threading.Thread(
                target=timed_get,
                args=(f"{base}/{cold.id}/stream", {"range": "bytes=65536-"}, results, "cold"),
            )
            slow.start()
            time.sleep(0.5)  # the cold read is under way
            for i in range(5):
                timed_get(
                    f"{base}/{warm.id}/stream", {"range": "bytes=0-65535"}, results, f"warm{i}"
                )
            slow.join(60)
    finally:
        server.stop()
    assert results["cold"] > 2.0, "the throttle did not slow the cold read: no test"
    assert max(results[f"warm{i}"] for i in range(5)) < 0.5, results


def read_chars(pid: int) -> int:
    """Bytes the process tree has read through read/pread calls so far (/proc/PID/io)."""
    total = 0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        total += process.io_counters().read_chars
    return total


@pytest.mark.parametrize("server_name", ["uvicorn", "granian"])
def test_client_hanging_up_mid_body_stops_the_reads(tmp_path: Path, server_name: str) -> None:
    settings = Settings(media_dir=tmp_path / "media")
    catalog = Catalog(settings.catalog_url)
    library = Library(settings, catalog, LocalStorage(settings.media_dir))
    library.start()
    # Far more than is read while the server notices the hang-up: 83 MiB was seen once on
    # a loaded machine, a server that never notices reads all of it.
    size = 256 << 20
    with (tmp_path / "big.wav").open("wb") as file:  # sparse: silence after the header
        file.write(wav_header(size))
        file.truncate(size)
    clip = library.add_file(tmp_path / "big.wav")
    catalog.dispose()
    server = Server(settings.media_dir, free_port(), clean_env(), ("--server", server_name))
    server.start()
    try:
        assert server.process is not None
        request = (
            f"GET /media/{clip.id}/stream HTTP/1.1\r\nHost: x\r\nRange: bytes=1-\r\n\r\n"
        ).encode()
        before = read_chars(server.process.pid)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(request)
            received = 0
            while received < 1 << 20:
                received += len(sock.recv(65536))
        time.sleep(1.5)  # time enough to read the rest, were the server still at it
        read = read_chars(server.process.pid) - before
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
    assert read < size // 2, f"the server read {read:,} bytes for a client that left"
