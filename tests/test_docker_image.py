"""The Dockerfile builds, and the image it makes serves: health, an upload, a range, Spanish pages.

No Docker engine runs here and containers cannot start (crun's setrlimit is refused), so the
image is built by podman (`--isolation chroot`) from a local Debian base made by debootstrap
(cached under .cache/docker), and its `amps serve` is run from the image's own filesystem under
`chroot`, as the image's user, with the image's environment, working directory and command.
Needs root (debootstrap, chroot, mounts) and podman, buildah and debootstrap (`make install`).
The first run takes a few minutes (debootstrap, apt's ffmpeg, pip); reruns reuse the layers.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import free_port

CACHE = ROOT / ".cache" / "docker"
BASE_TAR = CACHE / "bookworm-python3.tar"
BASE_IMAGE = "localhost/amps-test-base:bookworm"
IMAGE = "localhost/amps-test:latest"
# What the Dockerfile asks of its base besides Debian: python3 with venv and pip.
PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
MIRROR = "http://deb.debian.org/debian"

pytestmark = [
    pytest.mark.timeout(1200),
    pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap, chroot and mounts need root"),
]


def run(*command: str, timeout: float = 900) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, (
        f"{' '.join(command[:4])} failed:\n{done.stdout[-3000:]}\n" + (done.stderr[-3000:])
    )
    return done.stdout


def machine_settings(rootfs: Path) -> None:
    """What this machine's own Debian has that the base needs to reach PyPI and the mirror:
    its certificate authorities (a TLS proxy may sign pypi.org) and apt's clock settings."""
    (rootfs / "etc/ssl/certs/host-ca-certificates.crt").write_bytes(
        Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    )
    (rootfs / "etc/pip.conf").write_text(
        "[global]\ncert = /etc/ssl/certs/host-ca-certificates.crt\n"
    )
    (rootfs / "etc/apt/apt.conf.d/99host-clock").write_text(
        'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n'
    )


def base_image() -> str:
    """A Debian bookworm with python3 as a local image, debootstrapped once and cached."""
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE]).returncode == 0:
        return BASE_IMAGE
    if not BASE_TAR.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        rootfs = CACHE / "rootfs.partial"
        shutil.rmtree(rootfs, ignore_errors=True)
        run("debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(rootfs))
        machine_settings(rootfs)
        partial = BASE_TAR.with_suffix(".partial")
        run("tar", "-C", str(rootfs), "-cf", str(partial), ".")
        partial.replace(BASE_TAR)  # only a whole tar is ever cached
        shutil.rmtree(rootfs)
    run("podman", "import", "-q", str(BASE_TAR), BASE_IMAGE)
    return BASE_IMAGE


@dataclass
class ImageConfig:
    """What a container engine takes from the image to start it."""

    user: str
    env: list[str]
    workdir: str
    command: list[str]


def image_id(name: str) -> str:
    done = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture(scope="module")
def image() -> ImageConfig:
    """The Dockerfile built from the local base; the image's config (user, env, command)."""
    for tool in ("podman", "buildah", "debootstrap", "unshare", "chroot"):
        assert shutil.which(tool), f"{tool} is missing: run `make install` as root"
    base = base_image()
    before = image_id(IMAGE)
    run(
        *("podman", "build", "--isolation", "chroot", "--format", "docker"),
        *("--build-arg", f"BASE={base}", "-t", IMAGE, "-f", str(ROOT / "Dockerfile"), str(ROOT)),
    )
    if before and before != image_id(IMAGE):
        # The last run's image and the layers only it used: each change of app/ would
        # otherwise leave ~200 MB behind. Layers still shared stay as the next build's cache.
        subprocess.run(["podman", "rmi", before], capture_output=True)
    config = json.loads(run("podman", "image", "inspect", IMAGE))[0]["Config"]
    return ImageConfig(config["User"], config["Env"], config["WorkingDir"], config["Cmd"])


@dataclass
class Running:
    url: str
    data: Path  # the host folder mounted at the image's /data
    process: subprocess.Popen[bytes]


# In a mount namespace of its own: /dev, /proc and the data folder into the image's root,
# then the image's command under chroot as its user, with only the image's environment.
START = """
set -e
root=$1 data=$2 user=$3; shift 3
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount --bind "$data" "$root/data"
cd /
exec chroot --userspec="$user" "$root" /usr/bin/env -i "$@"
"""


def user_and_group(root: Path, user: str) -> str:
    """`uid:gid` of the image's USER, from the image's own /etc/passwd."""
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if user in (fields[0], fields[2]):
            return f"{fields[2]}:{fields[3]}"
    raise AssertionError(f"the image has no user {user}")


@pytest.fixture(scope="module")
def served(image: ImageConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    name = f"amps-test-{os.getpid()}"
    run("podman", "create", "--name", name, IMAGE)
    process = None
    try:
        root = Path(run("podman", "mount", name).strip())  # the container's writable root
        data = tmp_path_factory.mktemp("data")
        user = user_and_group(root, image.user)
        os.chown(data, *map(int, user.split(":")))
        port = free_port()
        env = [e for e in image.env if not e.startswith(("AMPS_HOST=", "AMPS_PORT="))]
        env += ["AMPS_HOST=127.0.0.1", f"AMPS_PORT={port}"]
        command = ["sh", "-c", f'cd "{image.workdir}" && exec "$@"', "sh", *image.command]
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", START]
            + ["start", str(root), str(data), user, *env, *command],
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield Running(url, data, process)
    finally:
        if process is not None:
            stop(process)
        subprocess.run(["podman", "umount", name], capture_output=True)
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the image's amps serve exited at start-up"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"the image's amps serve was not healthy within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_image_runs_amps_as_its_user_with_ffprobe(served: Running) -> None:
    health = httpx.get(f"{served.url}/healthz").json()
    assert health == {"status": "ok", "checks": {"catalog": True, "storage": True, "ffprobe": True}}
    servers = [
        p
        for p in psutil.Process(served.process.pid).children(recursive=True)
        if "amps" in " ".join(p.cmdline())
    ]
    assert servers, "no amps process under the chroot"
    assert {p.uids().real for p in servers} == {10001}


def test_image_takes_an_upload_and_serves_a_range(
    served: Running, media_files: dict[str, Path]
) -> None:
    clip = media_files["video.mp4"]
    upload = subprocess.run(
        ["curl", "-sS", "-F", f"file=@{clip}", "-w", "\n%{http_code}", f"{served.url}/api/media"],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, status = upload.stdout.rpartition("\n")
    assert status == "201", body
    record = json.loads(body)
    assert record["size"] == clip.stat().st_size
    # Kept in the volume, written by the image's user.
    stored = [p for p in served.data.rglob("*") if p.is_file() and record["id"] in p.parts]
    assert stored and {p.stat().st_uid for p in stored} == {10001}
    answer = httpx.get(
        f"{served.url}/media/{record['id']}/stream", headers={"Range": "bytes=100-1099"}
    )
    assert answer.status_code == 206
    assert answer.headers["content-range"] == f"bytes 100-1099/{clip.stat().st_size}"
    assert answer.content == clip.read_bytes()[100:1100]


def test_image_has_espeak_ng(image: ImageConfig) -> None:
    """espeak-ng speaks in the image (the aligner's pronunciations, `amps demo`'s spoken clip)."""
    root = Path(run("podman", "image", "mount", IMAGE).strip())
    try:
        done = subprocess.run(
            ["chroot", str(root), "espeak-ng", "-v", "en-us", "--stdout", "Kyiv"],
            capture_output=True, timeout=60,
        )  # fmt: skip
    finally:
        subprocess.run(["podman", "image", "unmount", IMAGE], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout[:4] == b"RIFF" and len(done.stdout) > 10_000  # a WAV with speech in it


def test_image_serves_translated_pages(served: Running) -> None:
    """The wheel carries the templates and the catalogues (pyproject package-data)."""
    page = httpx.get(f"{served.url}/?lang=es")
    assert page.status_code == 200
    assert '<html lang="es"' in page.text
    assert "Subir un clip" in page.text
