"""Shared fixtures: test media generated once per machine, settings and apps per test."""

from pathlib import Path

import pytest

from tests import media

ROOT = Path(__file__).resolve().parent.parent
MEDIA_CACHE = ROOT / ".cache" / "test-media"


@pytest.fixture(scope="session")
def media_files() -> dict[str, Path]:
    """Every test format (see tests/media.py), each LENGTH seconds long."""
    assert media.have_ffmpeg(), "ffmpeg and ffprobe are needed: run `make install`"
    return media.make_all(MEDIA_CACHE)
