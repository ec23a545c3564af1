"""Shared by the bench scripts: generated media, a real amps server, downloads with curl.

Benchmarks print figures; they are not tests. Everything they start is in its own process
group and is stopped (and every temp dir removed) on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import psutil

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
PYTHON = sys.executable
MIB = 1024 * 1024
MB = 1_000_000  # throughput figures are in MB/s (10^6 bytes per second)
# Uncompressed 1280x720 yuv420p: every frame is exactly this many bytes, so a file of a chosen
# size takes seconds to make (x264 at that size takes minutes) and still probes as real video.
RAW_WIDTH, RAW_HEIGHT, RAW_RATE = 1280, 720, 30
RAW_FRAME_BYTES = RAW_WIDTH * RAW_HEIGHT * 3 // 2


def need(*commands: str) -> None:
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        sys.exit(
            f"missing: {', '.join(missing)}. Run `scripts/install-system-packages.sh bench` "
            "(Debian: apt-get install ffmpeg nginx-light wrk)."
        )


def machine_load() -> str:
    """Other work on this machine skews every figure: say how busy it was."""
    busy = psutil.cpu_percent(interval=1.0)
    return f"load average {os.getloadavg()[0]:.2f}, CPU {busy:.0f}% busy over the last second"


def _our_cpu() -> float:
    """CPU seconds of this script and everything it started (reaped children included)."""
    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def _machine_busy() -> float:
    times = psutil.cpu_times()  # on Linux, guest time is already inside user time
    busy = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(getattr(times, name, 0.0) for name in busy)


class OtherLoad:
    """How much CPU processes that are not ours used meanwhile: a shared machine skews figures."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy, self.ours = _machine_busy(), _our_cpu()

    def percent(self) -> float:
        """Their CPU time as a % of one core over the interval (200 = both cores of two)."""
        elapsed = time.monotonic() - self.started
        others = (_machine_busy() - self.busy) - (_our_cpu() - self.ours)
        return max(0.0, 100 * others / elapsed) if elapsed > 0 else 0.0


def sigterm_as_interrupt() -> None:
    """SIGTERM (and SIGINT) unwind like Ctrl-C: `finally` blocks stop servers, remove temp dirs."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    # Also when started in the background by a shell, which sets SIGINT to "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _ffmpeg(args: list[str], target: Path) -> Path:
    """Run ffmpeg into a temp name and rename: an interrupted run never leaves a cached stub."""
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")
    try:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", *args, str(partial)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def short_clip(seconds: int = 60) -> Path:
    """A real H.264/AAC MP4 (moov first), 320x180: the size of a small web clip."""
    target = CACHE / f"clip-{seconds}s.mp4"
    if target.exists():
        return target
    return _ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=15:duration={seconds}"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "32k", "-shortest", "-movflags", "+faststart"),
        ],
        target,
    )


def raw_video(size_mb: float) -> Path:
    """Uncompressed video in Matroska of about `size_mb` MiB (whole frames), cached."""
    frames = max(30, math.ceil(size_mb * MIB / RAW_FRAME_BYTES))
    target = CACHE / f"raw-{RAW_WIDTH}x{RAW_HEIGHT}-{frames}f.mkv"
    if target.exists():
        return target
    print(f"generating {target.name} (~{frames * RAW_FRAME_BYTES / MIB:.0f} MiB) ...", flush=True)
    source = f"testsrc2=size={RAW_WIDTH}x{RAW_HEIGHT}:rate={RAW_RATE}"
    return _ffmpeg(
        ["-f", "lavfi", "-i", source, "-frames:v", str(frames), "-c:v", "rawvideo"]
        + ["-pix_fmt", "yuv420p"],
        target,
    )


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM the process group we created for `proc`, then SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Uploaded:
    id: str
    size: int
    mime_type: str
    stream_url: str
    path: Path  # the file amps stored, found in its library
    seconds: float  # the upload request, probing included


class AmpsServer:
    """`python -m app.cli serve` on a free loopback port, in its own process group."""

    def __init__(
        self,
        media_dir: Path,
        log_path: Path,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.media_dir = media_dir
        self.log_path = log_path
        self.args = args  # more `amps serve` flags, e.g. ("--server", "granian")
        self.env = env or {}  # AMPS_* settings on top of this process's environment
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        command = [PYTHON, "-m", "app.cli", "serve", "--port", str(self.port)]
        command += ["--media-dir", str(self.media_dir), "--log-level", "warning", *self.args]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                # No Whisper run per uploaded clip unless a bench asks: it measures other work.
                env={"AMPS_AUTOMATIC_CAPTIONS": "false", **os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, not it; we stop it ourselves
            )
        wait_http(f"{self.base}/healthz", timeout, self.proc, self.log_path)

    def stop(self) -> None:
        stop_process(self.proc)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def upload(self, path: Path) -> Uploaded:
        """curl -F streams the file from disk, as a user would upload it."""
        started = time.perf_counter()
        done = subprocess.run(
            [
                "curl",
                "-sS",
                "-F",
                f"file=@{path}",
                "-w",
                "\n%{http_code}",
                f"{self.base}/api/media",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        body, _, status = done.stdout.rpartition("\n")
        if done.returncode != 0 or status != "201":
            raise SystemExit(
                f"upload of {path.name} failed: curl exit {done.returncode}, HTTP {status}: "
                f"{body[:500]} {done.stderr.strip()}"
            )
        record = json.loads(body)
        stored = stored_file(self.media_dir, record["id"])
        if stored.stat().st_size != record["size"] or record["size"] != path.stat().st_size:
            raise SystemExit(f"stored file {stored} does not have the uploaded size")
        return Uploaded(
            record["id"],
            record["size"],
            record["mime_type"],
            record["urls"]["stream"],
            stored,
            seconds,
        )

    def log_tail(self, lines: int = 20) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.splitlines()[-lines:]


def stored_file(media_dir: Path, media_id: str) -> Path:
    """The clip's file in the library: the largest file in its folder (no catalog files)."""
    candidates = [
        p
        for p in media_dir.rglob("*")
        if p.is_file() and not p.name.startswith("amps.sqlite3") and media_id in p.parts
    ]
    if not candidates:
        raise SystemExit(f"no stored file for {media_id} under {media_dir}")
    return max(candidates, key=lambda p: p.stat().st_size)


def wait_http(
    url: str, timeout: float, proc: subprocess.Popen[bytes], log_path: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace")[-2000:] if log_path else ""
            raise SystemExit(f"{url}: the server exited with {proc.returncode}\n{log}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(url, timeout=2.0).status_code < 500:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Download:
    """What one curl process did: it fetched the URL `repeats` times on one connection."""

    repeats: int
    statuses: list[str]
    bytes: int
    seconds: float  # sum of curl's time_total over its transfers
    exit_code: int
    error: str

    def ok(self, size: int) -> bool:
        return (
            self.exit_code == 0
            and self.statuses == ["200"] * self.repeats
            and self.bytes == size * self.repeats
        )

    def problem(self, size: int) -> str:
        return (
            f"curl exit {self.exit_code}, statuses {sorted(set(self.statuses))}, "
            f"{self.bytes:,} of {size * self.repeats:,} bytes; {self.error.strip()[:300]}"
        )


def curl_download(url: str, repeats: int = 1, extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """Start curl fetching `url` `repeats` times over one keep-alive connection, to /dev/null.

    A transfer that stays under 1 MB/s for 20 s is aborted (exit 28): that is a stall.
    """
    args = ["curl", "-sS", "--speed-limit", "1000000", "--speed-time", "20", *extra, "-K", "-"]
    transfer = f'url = "{url}"\noutput = "/dev/null"\nwrite-out = "{WRITE_OUT}"\n'
    # The config (one url/output pair per transfer) goes in through an unnamed temp file.
    with tempfile.TemporaryFile("w+") as config:
        config.write(transfer * repeats)
        config.seek(0)
        return subprocess.Popen(
            args, stdin=config, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


WRITE_OUT = r"%{http_code} %{size_download} %{time_total}\n"


def finish_download(proc: subprocess.Popen[str], repeats: int = 1) -> Download:
    out, err = proc.communicate()
    statuses: list[str] = []
    total = 0
    seconds = 0.0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            statuses.append(parts[0])
            total += int(parts[1])
            seconds += float(parts[2])
    return Download(repeats, statuses, total, seconds, proc.returncode, err)


def kill_all(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# Debian's stock nginx.conf sets `tcp_nopush on`: with sendfile, that corks the socket and an
# exactly-64 KiB range then waits ~44 ms on loopback for the cork to time out, so nginx would
# look ~100x slower than it is on the range test. We set `tcp_nopush off` explicitly.
NGINX_CONF = """\
# written by bench/performance.py; private prefix, removed after the run
{user}worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush off;  # NOT Debian's default `on`: it stalls exactly-64 KiB ranges (~44 ms)
    tcp_nodelay on;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client_body;
{temp_paths}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
        }}
        location = /ready {{
            return 204;
        }}
    }}
}}
"""


class Nginx:
    """nginx -p PREFIX with a config of our own, in the foreground, in its own process group."""

    def __init__(self, prefix: Path, root: Path) -> None:
        self.prefix, self.root = prefix, root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.prefix.mkdir(parents=True)
        built = subprocess.run(["nginx", "-V"], capture_output=True, text=True).stderr
        temp_paths = "".join(
            f"    {module}_temp_path {self.prefix}/{module};\n"
            for module in ("proxy", "fastcgi", "uwsgi", "scgi")
            if f"--without-http_{module}_module" not in built
        )
        # The library is in a 0700 temp dir: as root, the worker must stay root to read it.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user=user,
                prefix=self.prefix,
                temp_paths=temp_paths.rstrip("\n"),
                port=self.port,
                root=self.root,
            )
        )
        command = ["nginx", "-p", str(self.prefix), "-c", str(conf)]
        command += ["-e", str(self.prefix / "error.log")]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_http(f"{self.base}/ready", 15.0, self.proc)

    def url_for(self, path: Path) -> str:
        return f"{self.base}/{path.relative_to(self.root).as_posix()}"

    def stop(self) -> None:
        stop_process(self.proc)

    def log_tail(self, lines: int = 20) -> list[str]:
        log = self.prefix / "error.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return text.splitlines()[-lines:]
