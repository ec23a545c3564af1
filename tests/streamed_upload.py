"""A big upload streamed from disk, and the peak memory of the server taking it: shared by
tests/e2e/test_s3_server.py and bench/s3.py (neither may hold the whole file either)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil

MIB = 1024 * 1024


def multipart_body(
    path: Path, boundary: str, filename: str, content_type: str | None = None
) -> tuple[Iterator[bytes], int]:
    """The upload form with `path` as its file field, read a MiB at a time, and its length."""
    part_type = f"Content-Type: {content_type}\r\n" if content_type else ""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"{part_type}\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        with path.open("rb") as file:
            while chunk := file.read(MIB):
                yield chunk
        yield tail

    return chunks(), len(head) + path.stat().st_size + len(tail)


class PeakRss:
    """Samples the resident memory of a process and its children (granian's workers) every
    20 ms while in the `with` block, leaving out children named in `leave_out`."""

    def __init__(self, pid: int, leave_out: tuple[str, ...] = ()) -> None:
        self.process = psutil.Process(pid)
        self.leave_out = leave_out
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                if process is self.process or process.name() not in self.leave_out:
                    total += process.memory_info().rss
        return total

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
