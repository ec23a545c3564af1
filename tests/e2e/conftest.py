"""A real `amps serve` process on a free loopback port, with its own library folder."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    media_dir: Path
    port: int
    env: dict[str, str]
    args: tuple[str, ...] = ()  # more `amps serve` flags, e.g. ("--server", "granian")
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        command += ["--media-dir", str(self.media_dir), "--log-level", "warning", *self.args]
        # No automatic captions unless a test asks (see tests/conftest.py clean_environment).
        env = {"AMPS_AUTOMATIC_CAPTIONS": "false", **self.env}
        self.process = subprocess.Popen(command, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "amps serve exited at start-up"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("amps serve did not become healthy in 20 s")

    def kill(self) -> None:
        """Kill -9 of every process of the server (granian runs workers under a main
        process): no clean shutdown, as a crash or a container being killed would."""
        assert self.process is not None
        workers = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGKILL)
        for worker in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
        self.process.wait(10)
        psutil.wait_procs(workers, timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    running = Server(media_dir=tmp_path / "media", port=free_port(), env=env)
    running.start()
    yield running
    running.stop()
