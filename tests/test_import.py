"""`amps import`: mutagen alone for whole, common audio files, ffprobe for everything else,
the same records and the same refusals as an upload would get."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.catalog.database import Catalog
from app.config import Settings
from app.media.probe import probe_file
from app.media.quick_probe import quick_probe
from tests.media import LENGTH, truncate

AUDIO = ["cbr.mp3", "vbr.mp3", "audio.flac", "audio.ogg", "audio.opus", "audio.wav", "audio.m4a"]
FOR_FFPROBE = ["vbr-no-xing.mp3", "video.mp4", "moov-at-end.mp4", "video.webm"]


@pytest.mark.parametrize("name", AUDIO)
def test_quick_probe_agrees_with_the_full_probe(media_files: dict[str, Path], name: str) -> None:
    quick = quick_probe(media_files[name])
    full = probe_file(media_files[name])
    assert quick is not None and quick.prober == "mutagen"
    assert abs(quick.duration - LENGTH) < 0.1
    for field in ("kind", "mime_type", "extension", "container", "codecs", "audio_codec", "tags"):
        assert getattr(quick, field) == getattr(full, field), field
    assert abs(quick.duration - full.duration) < 0.01


@pytest.mark.parametrize("name", FOR_FFPROBE)
def test_quick_probe_leaves_video_and_unstated_lengths_to_ffprobe(
    media_files: dict[str, Path], name: str
) -> None:
    assert quick_probe(media_files[name]) is None


@pytest.mark.parametrize("name", AUDIO)
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.97])
def test_quick_probe_leaves_cut_files_to_ffprobe(
    media_files: dict[str, Path], tmp_path: Path, name: str, fraction: float
) -> None:
    cut = truncate(media_files[name], tmp_path / name, fraction)
    assert quick_probe(cut) is None


def test_quick_probe_reads_tags_under_ffprobes_names(
    media_files: dict[str, Path], tmp_path: Path
) -> None:
    import mutagen

    for name in ("cbr.mp3", "audio.flac", "audio.ogg", "audio.m4a"):
        copy = tmp_path / name
        shutil.copyfile(media_files[name], copy)
        tagged = mutagen.File(copy, easy=True)
        if tagged.tags is None:
            tagged.add_tags()
        tagged["title"] = "Council meeting"
        tagged["artist"] = "Town hall"
        tagged.save()
        quick = quick_probe(copy)
        assert quick is not None
        assert quick.tags == probe_file(copy).tags
        assert quick.tags["title"] == "Council meeting" and quick.tags["artist"] == "Town hall"


def tool_shims(directory: Path, log: Path) -> dict[str, str]:
    """An environment whose ffprobe and ffmpeg log each run, then exec the real tools."""
    directory.mkdir()
    for tool in ("ffprobe", "ffmpeg"):
        real = shutil.which(tool)
        assert real is not None
        script = directory / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env["AMPS_AUTOMATIC_CAPTIONS"] = "false"  # see conftest's clean_environment
    return {**env, "PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}


def test_import_of_a_mixed_folder(media_files: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    for name in AUDIO + FOR_FFPROBE:
        shutil.copyfile(media_files[name], source / name)
    (source / "notes.txt").write_text("not media\n")
    (source / "nested" / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    truncate(media_files["cbr.mp3"], source / "nested" / "cut.mp3")
    truncate(media_files["audio.m4a"], source / "nested" / "cut.m4a", 0.6)
    truncate(media_files["audio.ogg"], source / "nested" / "cut.ogg", 0.6)
    library = tmp_path / "library"
    runs = tmp_path / "tool-runs.log"

    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import", str(source), "--media-dir", str(library)],
        capture_output=True, text=True, check=False, env=tool_shims(tmp_path / "shims", runs),
    )  # fmt: skip

    accepted = AUDIO + FOR_FFPROBE
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{len(accepted)} added, 5 skipped"
    skipped = {line.split(": ")[0].removeprefix("skipped ") for line in done.stderr.splitlines()}
    assert {Path(p).name for p in skipped} == {
        "notes.txt", "cover.png", "cut.mp3", "cut.m4a", "cut.ogg"
    }  # fmt: skip
    catalog = Catalog(Settings(media_dir=library).catalog_url)
    records, total = catalog.list(limit=100)
    catalog.dispose()
    assert total == len(accepted)
    by_name = {m.original_filename: m for m in records}
    assert set(by_name) == set(accepted)
    for name, media in by_name.items():
        assert abs(media.duration - LENGTH) < 0.1, name
        assert media.kind == ("video" if name.endswith((".mp4", ".webm")) else "audio")
    # One full probe (one `ffprobe -show_format`) for each file mutagen could not decide
    # alone: the video, the MP3 without a Xing header, the cut files and the non-media.
    full_probes = [line for line in runs.read_text().splitlines() if "-show_format" in line]
    assert len(full_probes) == len(FOR_FFPROBE) + 5
    # Browsers play every accepted file as it is: each is ready at once, with no job (and so
    # no poster rendered by ffmpeg) run during the import; posters come on first view.
    assert {m.status for m in records} == {"ready"}
    assert not [line for line in runs.read_text().splitlines() if "showwavespic" in line]
