"""The `amps` command line, run as a user would (a subprocess of the installed entry point)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.catalog.database import Catalog
from app.config import Settings
from app.media.probe import probe_file
from app.storage.local import LocalStorage
from tests.media import LENGTH

if TYPE_CHECKING:
    from tests.seaweed import SeaweedFS

AMPS = [sys.executable, "-m", "app.cli"]


def amps(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env = env | {"AMPS_AUTOMATIC_CAPTIONS": "false"} | settings  # see conftest's clean_environment
    return subprocess.run([*AMPS, *args], capture_output=True, text=True, env=env, timeout=120)


def test_probe_prints_what_the_service_records(media_files: dict[str, Path]) -> None:
    path = media_files["vbr-no-xing.mp3"]
    result = amps("probe", str(path))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)[str(path)]
    assert printed == json.loads(json.dumps(probe_file(path).as_dict()))
    assert abs(printed["duration"] - LENGTH) < 0.1 and printed["duration_text"] == "3:25"


def test_probe_reports_unreadable_files_and_fails(tmp_path: Path) -> None:
    junk = tmp_path / "notes.mp3"
    junk.write_text("hello")
    result = amps("probe", str(junk))
    assert result.returncode == 1
    assert json.loads(result.stdout)[str(junk)]["error"]


def test_import_adds_media_and_skips_the_rest(media_files: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "incoming"
    (source / "sub").mkdir(parents=True)
    shutil.copy(media_files["cbr.mp3"], source / "a.mp3")
    shutil.copy(media_files["video.webm"], source / "sub" / "b.webm")
    (source / "readme.txt").write_text("not media")
    library = tmp_path / "library"
    result = amps("import", str(source), "--media-dir", str(library))
    assert result.returncode == 0, result.stderr
    assert "2 added, 1 skipped" in result.stdout
    items, total = Catalog(Settings(media_dir=library).catalog_url).list()
    assert total == 2 and {m.kind for m in items} == {"audio", "video"}


def test_demo_makes_captioned_clips_once(tmp_path: Path) -> None:
    from app.demo import NEWS_SCRIPT, SPEECH_TITLE
    from tests.speech import check_cue_rules

    library = tmp_path / "library"
    first = amps("demo", "--if-empty", "--media-dir", str(library))
    assert first.returncode == 0, first.stderr
    assert "(English (aligned) captions)" in first.stdout
    again = amps("demo", "--if-empty", "--media-dir", str(library))
    assert "already has clips" in again.stdout
    items, total = Catalog(Settings(media_dir=library).catalog_url).list()
    assert total == 2
    clip = next(m for m in items if m.title != SPEECH_TITLE)
    assert clip.kind == "video" and abs(clip.duration - LENGTH) < 0.1
    [track] = clip.tracks
    assert (track.kind, track.srclang) == ("captions", "en")
    vtt = LocalStorage(library).local_path(track.storage_key).read_text()
    assert vtt.startswith("WEBVTT") and "-->" in vtt
    # The spoken news item: its script aligned to espeak-ng's speech by the align job.
    spoken = next(m for m in items if m.title == SPEECH_TITLE)
    assert spoken.status == "ready" and 15 < spoken.duration < 25
    [aligned] = spoken.tracks
    assert (aligned.kind, aligned.origin) == ("captions", "aligned")
    assert aligned.label == "English (aligned)"
    cues = check_cue_rules(LocalStorage(library).local_path(aligned.storage_key).read_text())
    said = re.findall(r"[a-z]+", " ".join(cue.text for cue in cues).lower())
    assert said == re.findall(r"[a-z]+", NEWS_SCRIPT.lower())  # every word, in order
    assert cues[-1].end > 0.8 * spoken.duration  # timed across the clip, not bunched up


def test_import_and_demo_go_to_the_object_store_when_one_is_set(
    media_files: dict[str, Path], tmp_path: Path, seaweedfs: "SeaweedFS"
) -> None:
    from app.storage.s3 import S3Storage
    from tests.conftest import s3_environment

    env = s3_environment(seaweedfs)
    source = tmp_path / "incoming"
    source.mkdir()
    shutil.copy(media_files["audio.opus"], source / "a.opus")
    library = tmp_path / "library"
    imported = amps("import", str(source), "--media-dir", str(library), **env)
    assert imported.returncode == 0, imported.stderr
    demo = amps("demo", "--media-dir", str(library), **env)
    assert demo.returncode == 0, demo.stderr
    settings = Settings(media_dir=library, **{k[5:].lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    items, total = Catalog(settings.catalog_url).list()
    storage = S3Storage(settings)
    assert total == 3 and all(storage.exists(m.storage_key) for m in items)
    [track] = next(m for m in items if m.tracks and m.tracks[0].origin == "uploaded").tracks
    assert storage.read_bytes(track.storage_key).startswith(b"WEBVTT")
    assert (
        sorted(
            p.name
            for p in library.iterdir()
            if p.is_file() and p.suffix != ".sqlite3" and not p.name.startswith("amps.sqlite3")
        )
        == []
    )
