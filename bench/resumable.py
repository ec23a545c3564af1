"""Resumable uploads (tus) against a plain multipart upload, in one run on one server.

1. A plain multipart upload of a ~1 GiB file (`curl -F`), the reference.
2. The same file as one tus PATCH (`curl -T`, streamed from disk) on an uncut loopback link.
3. The same file through a local TCP proxy that cuts the connection after every 100 MiB: a
   small tus client (HEAD for the offset, then PATCH the rest from there, streamed from the
   file) resumes after each cut. It must complete, re-send at most one chunk per cut, and keep
   the server's memory growth under 100 MB.

    .venv/bin/python bench/resumable.py [--mib 1024] [--cut-mib 100]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import psutil
from _support import MB, MIB, AmpsServer, machine_load, raw_video, sigterm_as_interrupt, temp_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.cutting_proxy import CuttingProxy  # noqa: E402

TUS = {"Tus-Resumable": "1.0.0"}
READ = MIB


class Memory:
    """Peak RSS growth of the server's own processes (granian's main and worker), apart from
    the ffprobe/ffmpeg children that check the finished file (the same for every upload)."""

    TOOLS = ("ffprobe", "ffmpeg")

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self.server_peak = self._server()
        self.tools_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _processes(self) -> list[psutil.Process]:
        return [self.process, *self.process.children(recursive=True)]

    def _rss(self, tools: bool) -> int:
        total = 0
        for process in self._processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                if (process.name() in self.TOOLS) == tools:
                    total += process.memory_info().rss
        return total

    def _server(self) -> int:
        return self._rss(tools=False)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.server_peak = max(self.server_peak, self._server())
            self.tools_peak = max(self.tools_peak, self._rss(tools=True))

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def __str__(self) -> str:
        return (
            f"server RSS growth {(self.server_peak - self.start) / MB:.0f} MB "
            f"(+ ffprobe/ffmpeg checking the file: {self.tools_peak / MB:.0f} MB)"
        )

    @property
    def growth(self) -> float:
        return (self.server_peak - self.start) / MB


def create(base: str, path: Path) -> str:
    name = base64.b64encode(path.name.encode()).decode()
    headers = {
        **TUS,
        "Upload-Length": str(path.stat().st_size),
        "Upload-Metadata": f"filename {name}",
    }
    response = httpx2.post(f"{base}/api/uploads", headers=headers)
    if response.status_code != 201:
        raise SystemExit(f"creating the upload failed: {response.status_code} {response.text}")
    return response.headers["Location"]


def media_id_after(response_headers: str) -> str:
    for line in response_headers.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "amps-media-id":
            return value.strip()
    raise SystemExit(f"no Amps-Media-Id in the last PATCH's answer:\n{response_headers}")


def tus_with_curl(base: str, path: Path) -> tuple[float, str]:
    """One PATCH of the whole file, streamed from disk by curl."""
    url = create(base, path)
    started = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", "-X", "PATCH", "-T", str(path),
         "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0", "-H", "Expect:",
         "-H", "Content-Type: application/offset+octet-stream", url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0 or " 204" not in done.stdout.splitlines()[0]:
        raise SystemExit(f"tus PATCH failed: {done.stdout[:500]} {done.stderr}")
    return seconds, media_id_after(done.stdout)


def body_from(path: Path, offset: int, sent: list[int]) -> Iterator[bytes]:
    with path.open("rb") as file:
        file.seek(offset)
        while chunk := file.read(READ):
            sent[0] += len(chunk)
            yield chunk


def tus_through_cuts(base: str, path: Path) -> tuple[float, str, int, int]:
    """HEAD, PATCH from the offset, again after every cut. Returns seconds, the clip's id,
    the PATCHes sent and the bytes the client sent in all."""
    size = path.stat().st_size
    url = create(base, path)
    sent = [0]
    patches = 0
    started = time.perf_counter()
    with httpx2.Client(timeout=120) as client:
        while True:
            offset = int(client.head(url, headers=TUS).headers["Upload-Offset"])
            headers = {
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(size - offset),
            }
            patches += 1
            try:
                response = client.patch(url, content=body_from(path, offset, sent), headers=headers)
            except httpx2.HTTPError:
                continue  # the link dropped: ask where the upload stands and go on
            if response.status_code == 204 and "Amps-Media-Id" in response.headers:
                return (
                    time.perf_counter() - started,
                    response.headers["Amps-Media-Id"],
                    patches,
                    sent[0],
                )
            if response.status_code not in (204, 409):
                raise SystemExit(f"PATCH failed: {response.status_code} {response.text}")


def delete(base: str, media_id: str) -> None:
    httpx2.delete(f"{base}/api/media/{media_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the uploaded file")
    parser.add_argument("--cut-mib", type=int, default=100, help="the proxy cuts after this")
    parser.add_argument("--server", choices=("granian", "uvicorn"), default="granian")
    args = parser.parse_args()
    sigterm_as_interrupt()
    path = raw_video(args.mib)
    size = path.stat().st_size
    print(f"{path.name}: {size / MIB:.0f} MiB, amps on {args.server}; {machine_load()}")
    with temp_dir("amps-bench-tus-") as work:
        # No jobs: a web copy of raw video would run x264 in the measured server.
        env = {"AMPS_RUN_JOBS": "false", "AMPS_MAX_UPLOAD_BYTES": str(4 * 1024**3)}
        server = AmpsServer(
            work / "media", work / "server.log", args=("--server", args.server), env=env
        )
        server.start()
        try:
            assert server.proc is not None
            with Memory(server.proc.pid) as rss:
                uploaded = server.upload(path)
            plain = size / uploaded.seconds / MB
            delete(server.base, uploaded.id)
            print(f"plain multipart (curl -F):        {uploaded.seconds:6.2f} s  {plain:7.1f} MB/s"
                  f"  {rss}")  # fmt: skip

            with Memory(server.proc.pid) as rss:
                seconds, media_id = tus_with_curl(server.base, path)
            uncut = size / seconds / MB
            delete(server.base, media_id)
            print(f"tus, one PATCH (curl -T), uncut:  {seconds:6.2f} s  {uncut:7.1f} MB/s"
                  f"  ({uncut / plain:.2f}x plain), {rss}")  # fmt: skip

            target = ("127.0.0.1", server.port)
            proxy = CuttingProxy(target, cut_every=args.cut_mib * MIB).start()
            try:
                with Memory(server.proc.pid) as rss:
                    seconds, media_id, patches, sent = tus_through_cuts(proxy.url, path)
            finally:
                proxy.stop()
            record = httpx2.get(f"{server.base}/api/media/{media_id}").json()
            delete(server.base, media_id)
            resent = sent - size
            growth = rss.growth
            print(f"tus through a proxy cutting every {args.cut_mib} MiB: {seconds:6.2f} s  "
                  f"{size / seconds / MB:7.1f} MB/s; {proxy.cuts} cuts, {patches} PATCHes, "
                  f"re-sent {resent / MIB:.2f} MiB in all ({resent / max(proxy.cuts, 1) / MIB:.2f} "
                  f"MiB per cut); {rss}; "
                  f"stored {record['size'] == size and 'whole' or 'WRONG SIZE'}")  # fmt: skip
            ok = (
                record["size"] == size
                and growth < 100
                and resent <= proxy.cuts * args.cut_mib * MIB
            )
            fast = uncut >= 0.8 * plain
            print("completes, <= one chunk re-sent per cut, < 100 MB growth:", ok and "yes" or "NO")
            print("uncut tus at least 0.8x plain multipart:", fast and "yes" or "NO")
        finally:
            server.stop()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
