"""ffmpeg children die with the process that started them: SIGKILL of `amps serve` (jobs in
its own threads, on SQLite) or of `amps worker` (PostgreSQL) mid-transcode leaves no ffmpeg."""

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import Server, free_port
from tests.e2e.test_jobs import Worker, clean_env, pg_env, reap, transcode_child, upload

__all__ = ["pg_env"]  # the fixture, shared with test_jobs
GRACE = 5.0  # seconds a dead parent's ffmpeg may take to go


def survivor(child: psutil.Process, timeout: float = GRACE) -> bool:
    """Whether `child` still runs `timeout` seconds on (a zombie counts as gone)."""
    try:
        child.wait(timeout)
    except psutil.TimeoutExpired:
        return child.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
    return False


@contextlib.contextmanager
def reaped(child: psutil.Process) -> Iterator[psutil.Process]:
    """Whatever the test finds, no ffmpeg is left running after it."""
    try:
        yield child
    finally:
        reap(child)


@pytest.mark.parametrize("server_kind", ["granian", "uvicorn"])
def test_sigkill_of_the_server_takes_its_ffmpeg_with_it(
    tmp_path: Path, media_files: dict[str, Path], server_kind: str
) -> None:
    server = Server(
        media_dir=tmp_path / "media",
        port=free_port(),
        env=clean_env(),
        args=("--server", server_kind),
    )
    server.start()
    assert server.process is not None
    try:
        upload(server, media_files["video.avi"])
        with reaped(transcode_child(server.process.pid)) as ffmpeg:
            parent = ffmpeg.parent()
            assert parent is not None
            parent.send_signal(signal.SIGKILL)  # only the process that started ffmpeg
            assert not survivor(ffmpeg), f"ffmpeg {ffmpeg.pid} outlived its parent"
    finally:
        server.stop()


def test_sigkill_of_granians_main_process_alone_takes_worker_and_ffmpeg(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    server = Server(media_dir=tmp_path / "media", port=free_port(), env=clean_env())
    server.start()  # granian: a main process and one worker, which runs the jobs
    assert server.process is not None
    try:
        upload(server, media_files["video.avi"])
        with reaped(transcode_child(server.process.pid)) as ffmpeg:
            worker = ffmpeg.parent()
            assert worker is not None and worker.pid != server.process.pid
            with reaped(worker):
                server.process.send_signal(signal.SIGKILL)
                server.process.wait(10)
                assert not survivor(worker), "granian's worker outlived its main process"
                assert not survivor(ffmpeg), f"ffmpeg {ffmpeg.pid} outlived the server"
    finally:
        server.stop()


def test_sigkill_of_a_worker_takes_its_ffmpeg_with_it(
    tmp_path: Path, media_files: dict[str, Path], pg_env: dict[str, str]
) -> None:
    media_dir = tmp_path / "media"
    server = Server(media_dir=media_dir, port=free_port(), env=pg_env)
    worker = Worker(media_dir, pg_env)
    server.start()
    try:
        upload(server, media_files["video.avi"])
        worker.start()
        assert worker.process is not None
        with reaped(transcode_child(worker.process.pid)) as ffmpeg:
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait(10)
            started = time.monotonic()
            assert not survivor(ffmpeg), f"ffmpeg {ffmpeg.pid} outlived amps worker"
            print(f"ffmpeg gone {time.monotonic() - started:.2f} s after the worker")
    finally:
        worker.stop()
        server.stop()
