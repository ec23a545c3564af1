"""Settings: every one documented, environment read, explicit values winning."""

import re
from pathlib import Path

import pytest

from app.config import Settings
from tests.conftest import ROOT


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(AMPS_[A-Z0-9_]+)`", readme))
    assert {f"AMPS_{name.upper()}" for name in Settings.model_fields} <= documented


def test_settings_come_from_amps_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPS_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("AMPS_MEDIA_DIR", "/srv/clips")
    settings = Settings()
    assert settings.max_upload_bytes == 1234 and settings.media_dir == Path("/srv/clips")


def test_explicit_values_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPS_MEDIA_DIR", "/srv/clips")
    assert Settings(media_dir=Path("here")).media_dir == Path("here")


def test_default_catalog_is_sqlite_in_the_media_dir(tmp_path: Path) -> None:
    assert Settings(media_dir=tmp_path).catalog_url == f"sqlite:///{tmp_path / 'amps.sqlite3'}"
