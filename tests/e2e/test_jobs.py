"""Background jobs in real processes, killed with SIGKILL in the middle of a transcode:
`amps serve` alone on SQLite, and `amps serve` + `amps worker` on PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psutil
import pytest

from app.jobs.processing import DAMAGED
from tests import pg
from tests.e2e.conftest import Server, free_port

STALLED_AFTER = 4  # seconds: AMPS_JOB_STALLED_AFTER for these tests (default 30)


def clean_env(**amps: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    return env | {f"AMPS_{name.upper()}": value for name, value in amps.items()}


def upload(server: Server, path: Path) -> dict[str, Any]:
    with path.open("rb") as body:
        response = httpx.post(
            f"{server.url}/api/media", files={"file": (path.name, body)}, timeout=60
        )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    assert record["status"] == "processing"
    return record


def record_of(server: Server, media_id: str) -> dict[str, Any]:
    record: dict[str, Any] = httpx.get(f"{server.url}/api/media/{media_id}", timeout=10).json()
    return record


def wait_processed(server: Server, media_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    record = record_of(server, media_id)
    while record["status"] == "processing" and time.monotonic() < deadline:
        time.sleep(0.2)
        record = record_of(server, media_id)
    return record


def transcode_child(pid: int, timeout: float = 60) -> psutil.Process:
    """The ffmpeg making a rendition under process `pid`, once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                if child.name() == "ffmpeg" and "libx264" in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.02)
    raise AssertionError("no transcode started")


def reap(process: psutil.Process) -> None:
    """End a child the test found, if it is still running (ffmpeg dies with its parent now)."""
    try:
        process.kill()
        process.wait(10)
    except psutil.NoSuchProcess:
        pass


def assert_playable_copy(server: Server, record: dict[str, Any], tmp_path: Path) -> None:
    assert record["status"] == "ready", record
    assert record["urls"]["playable"].endswith("/playable")
    copy = tmp_path / f"{record['id']}.mp4"
    copy.write_bytes(httpx.get(record["urls"]["playable"], timeout=30).content)
    codecs = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
         str(copy)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert codecs == ["h264", "aac"]


def test_sqlite_server_killed_mid_transcode_finishes_the_clip_after_a_restart(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    server = Server(media_dir=tmp_path / "media", port=free_port(), env=clean_env())
    server.start()
    try:
        record = upload(server, media_files["video.avi"])
        assert server.process is not None
        orphan = transcode_child(server.process.pid)
        server.kill()
        reap(orphan)
        assert not list((tmp_path / "media").rglob("playable.mp4"))
        server.start()  # re-queues every clip still `processing`
        done = wait_processed(server, record["id"], timeout=120)
        assert_playable_copy(server, done, tmp_path)
        assert list((tmp_path / "media" / ".tmp").glob("*.part")) == []
    finally:
        server.stop()


class Worker:
    """A real `amps worker` process."""

    def __init__(self, media_dir: Path, env: dict[str, str]) -> None:
        self.media_dir = media_dir
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", "worker", "--media-dir", str(self.media_dir)]
        self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == b"amps worker: running jobs\n"
        self.process.stdout.close()  # it prints nothing more; logs go to stderr

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    pg.require_server()
    with pg.fresh_schema() as schema:
        yield clean_env(
            database_url=pg.url(schema), run_jobs="0", job_stalled_after=str(STALLED_AFTER)
        )


def test_postgres_worker_killed_mid_job_finishes_it_after_a_restart(
    tmp_path: Path, media_files: dict[str, Path], pg_env: dict[str, str]
) -> None:
    media_dir = tmp_path / "media"
    server = Server(media_dir=media_dir, port=free_port(), env=pg_env)
    worker = Worker(media_dir, pg_env)
    server.start()
    try:
        # Queued while no worker runs (the server runs none: AMPS_RUN_JOBS=0).
        avi = upload(server, media_files["video.avi"])
        damaged = upload(server, media_files["video.mp4"])
        original = next(p for p in media_dir.rglob("original.mp4") if damaged["id"] in str(p))
        with original.open("r+b") as file:
            file.seek(original.stat().st_size // 2)
            file.write(b"\0" * 4096)
        time.sleep(1)
        assert record_of(server, avi["id"])["status"] == "processing"

        worker.start()
        assert worker.process is not None
        orphan = transcode_child(worker.process.pid)
        worker.kill()
        reap(orphan)
        killed_at = time.monotonic()
        assert record_of(server, avi["id"])["status"] == "processing"

        worker.start()
        done = wait_processed(server, avi["id"], timeout=120)
        took = time.monotonic() - killed_at
        print(f"job finished {took:.1f} s after the kill (stalled after {STALLED_AFTER} s)")
        assert_playable_copy(server, done, tmp_path)
        # Found dead only once its heartbeat is STALLED_AFTER s old.
        assert took >= STALLED_AFTER

        failed = wait_processed(server, damaged["id"], timeout=60)
        assert (failed["status"], failed["status_reason"]) == ("failed", DAMAGED)
    finally:
        worker.stop()
        server.stop()


def test_worker_refuses_a_sqlite_catalog(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--media-dir", str(tmp_path / "media")],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "needs a PostgreSQL catalog" in done.stderr
