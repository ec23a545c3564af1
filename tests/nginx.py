"""A real nginx running docs/nginx.conf (the sample operators copy) in front of an amps server."""

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from tests.conftest import ROOT

SAMPLE = ROOT / "docs" / "nginx.conf"
ACCEL_PREFIX = "/_amps_media/"  # the sample's internal location
MAIN_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
{temp_paths}
    include {prefix}/site.conf;
}}
"""


def have_nginx() -> bool:
    return shutil.which("nginx") is not None and Path("/etc/nginx/mime.types").exists()


def site_config(upstream_port: int, port: int, media_dir: Path) -> str:
    """The sample with this machine's ports and library folder put in."""
    text = SAMPLE.read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "alias /srv/amps/media/;": f"alias {media_dir.resolve()}/;",
    }
    for old, new in replacements.items():
        assert old in text, f"docs/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Nginx:
    prefix: Path
    port: int
    upstream_port: int
    media_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        (self.prefix / "site.conf").write_text(
            site_config(self.upstream_port, self.port, self.media_dir)
        )
        temp_paths = "".join(
            f"    {name}_temp_path {self.prefix}/{name};\n"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # The library sits in a private temp dir: as root, workers must stay root to read it.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.prefix / "nginx.conf"
        conf.write_text(
            MAIN_CONF.format(prefix=self.prefix, user=user, temp_paths=temp_paths.rstrip())
        )
        command = ["nginx", "-p", str(self.prefix), "-c", str(conf)]
        command += ["-e", str(self.prefix / "error.log")]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not answer in 20 s\n{self.log()}")

    def log(self) -> str:
        log = self.prefix / "error.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
