"""Speech models are hash-checked when a server or worker starts: a tampered file is refused
with a sentence naming it and both hashes; the hashes are remembered between processes only
while a file is the very same one (size, times, inode)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.speech.models import ModelError, check_installed, remembered_sha256, sha256
from tests.e2e.conftest import free_port
from tests.test_speech import operator_copy


def tampered(directory: Path) -> tuple[Path, str, str]:
    """Flip a byte of the copy's acoustic means: the file, its listed and its new SHA-256."""
    means = directory / "acoustic" / "means"
    listed = sha256(means)
    data = bytearray(means.read_bytes())
    data[len(data) // 2] ^= 0xFF
    means.write_bytes(bytes(data))
    return means, listed, sha256(means)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_tampered_model_stops_the_start(command: str, tmp_path: Path) -> None:
    directory = operator_copy(tmp_path / "en")
    means, listed, found = tampered(directory)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env |= {"AMPS_SPEECH_MODELS": json.dumps({"en": str(directory)}),
            "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
    args = ["--media-dir", str(tmp_path / "media")]
    if command == "serve":
        args += ["--port", str(free_port())]
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", command, *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"{means} is not the file the en speech model should hold" in done.stderr
    assert f"its SHA-256 is {found}, where {listed} was expected" in done.stderr
    assert "Reinstall the model." in done.stderr
    assert not (tmp_path / "media" / "amps.sqlite3").exists()  # refused before anything


def test_installed_models_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    directory = operator_copy(tmp_path / "es")
    origins = check_installed({"es": directory})
    assert str(directory) in origins and "pocketsphinx 5.1.1 en-us" in origins


def test_a_remembered_hash_is_dropped_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    directory = operator_copy(tmp_path / "en")
    means = directory / "acoustic" / "means"
    listed = remembered_sha256(means)
    cache = json.loads((tmp_path / "cache" / "amps" / "model-sha256.json").read_text())
    assert cache[str(means)][-1] == listed == sha256(means)
    # Changed in place with its size and modification time put back: its ctime still moves.
    before = means.stat()
    _, _, found = tampered(directory)
    os.utime(means, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert means.stat().st_mtime_ns == before.st_mtime_ns
    assert remembered_sha256(means) == found != listed
    with pytest.raises(ModelError, match="its SHA-256 is"):
        check_installed({"en": directory})
