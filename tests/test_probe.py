"""probe_file on real media made by ffmpeg: what a file is, how long it lasts, what we refuse."""

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from app.media import probe
from app.media.probe import BrokenMedia, NotMedia, ProbeError, ProbeResult, ProbeTimeout, probe_file
from tests.media import LENGTH, ffmpeg, truncate

# name -> (kind, mime type, extension, container, codecs, width, height)
EXPECTED = {
    "video.mp4": ("video", "video/mp4", ".mp4", "mp4", ("h264", "aac"), 320, 180),
    "moov-at-end.mp4": ("video", "video/mp4", ".mp4", "mp4", ("h264", "aac"), 320, 180),
    "video.webm": ("video", "video/webm", ".webm", "webm", ("vp9", "opus"), 160, 90),
    "cbr.mp3": ("audio", "audio/mpeg", ".mp3", "mp3", ("mp3",), None, None),
    "vbr.mp3": ("audio", "audio/mpeg", ".mp3", "mp3", ("mp3",), None, None),
    "vbr-no-xing.mp3": ("audio", "audio/mpeg", ".mp3", "mp3", ("mp3",), None, None),
    "audio.ogg": ("audio", "audio/ogg", ".ogg", "ogg", ("vorbis",), None, None),
    "audio.opus": ("audio", "audio/ogg", ".opus", "ogg", ("opus",), None, None),
    "audio.wav": ("audio", "audio/wav", ".wav", "wav", ("pcm_s16le",), None, None),
    "audio.flac": ("audio", "audio/flac", ".flac", "flac", ("flac",), None, None),
    "audio.m4a": ("audio", "audio/mp4", ".m4a", "mp4", ("aac",), None, None),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def probed(request: pytest.FixtureRequest, media_files: dict[str, Path]) -> tuple[str, ProbeResult]:
    """Each test format probed once (with verification) and shared by the tests below."""
    return request.param, probe_file(media_files[request.param])


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("png") / "red.png"
    ffmpeg("-f", "lavfi", "-i", "color=red:s=16x16", "-frames:v", "1", str(path))
    return path


def short_audio(path: Path, *args: str) -> Path:
    """A 5 s tone in the format the name asks for."""
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=5", *args, str(path))
    return path


def test_duration_is_within_a_tenth_of_a_second(probed: tuple[str, ProbeResult]) -> None:
    _, result = probed
    assert result.duration == pytest.approx(LENGTH, abs=0.1)


def test_kind_mime_type_and_extension_come_from_the_container(
    probed: tuple[str, ProbeResult],
) -> None:
    name, result = probed
    kind, mime_type, extension, container, *_ = EXPECTED[name]
    assert (result.kind, result.mime_type, result.extension) == (kind, mime_type, extension)
    assert result.container == container


def test_codecs_list_video_then_audio(probed: tuple[str, ProbeResult]) -> None:
    name, result = probed
    codecs = EXPECTED[name][4]
    assert result.codecs == codecs
    assert (result.video_codec, result.audio_codec) == (
        codecs[0] if len(codecs) == 2 else None,
        codecs[-1],
    )


def test_video_has_width_and_height_audio_has_none(probed: tuple[str, ProbeResult]) -> None:
    name, result = probed
    assert (result.width, result.height) == EXPECTED[name][5:]


def test_bitrate_is_bits_per_second_over_the_whole_file(
    probed: tuple[str, ProbeResult], media_files: dict[str, Path]
) -> None:
    name, result = probed
    size = media_files[name].stat().st_size
    assert result.bitrate == pytest.approx(size * 8 / LENGTH, rel=0.01)


@pytest.mark.parametrize(
    ("name", "prober"),
    [
        ("cbr.mp3", "mutagen"),
        ("vbr.mp3", "mutagen"),
        ("vbr-no-xing.mp3", "mutagen+ffprobe"),
        ("audio.flac", "mutagen"),
        ("video.mp4", "ffprobe"),
        ("video.webm", "ffprobe"),
    ],
)
def test_prober_names_the_tool_that_decided_the_duration(
    media_files: dict[str, Path], name: str, prober: str
) -> None:
    assert probe_file(media_files[name], verify=False).prober == prober


def test_mime_type_ignores_the_file_name(media_files: dict[str, Path], tmp_path: Path) -> None:
    disguised = shutil.copy(media_files["video.webm"], tmp_path / "clip.mp3")
    result = probe_file(disguised, verify=False)
    assert (result.mime_type, result.extension, result.kind) == ("video/webm", ".webm", "video")


def test_mp3_with_cover_art_is_audio(png: Path, tmp_path: Path) -> None:
    song = short_audio(tmp_path / "song.mp3")
    covered = tmp_path / "covered.mp3"
    ffmpeg("-i", str(song), "-i", str(png), "-map", "0", "-map", "1", "-c", "copy",
           "-disposition:v", "attached_pic", str(covered))  # fmt: skip
    result = probe_file(covered)
    assert (result.kind, result.codecs, result.width) == ("audio", ("mp3",), None)


def test_mpeg_ts_decode_errors_after_a_seek_do_not_count_as_broken(
    media_files: dict[str, Path], tmp_path: Path
) -> None:
    # Seeking into TS lands between keyframes, and the decoder complains about missing frames.
    clip = tmp_path / "clip.ts"
    ffmpeg("-i", str(media_files["video.mp4"]), "-t", "20", "-c", "copy", str(clip))
    result = probe_file(clip)
    assert (result.mime_type, result.extension) == ("video/mp2t", ".ts")


@pytest.mark.parametrize(("fmt", "args"), [("mp3", []), ("ogg", ["-c:a", "libvorbis"])])
def test_tags_have_lower_case_keys(tmp_path: Path, fmt: str, args: list[str]) -> None:
    tagged = short_audio(tmp_path / f"tagged.{fmt}", *args,
                         "-metadata", "title=Ça va", "-metadata", "ARTIST=Someone")  # fmt: skip
    assert probe_file(tagged).tags == {"title": "Ça va", "artist": "Someone"}


def test_huge_tag_values_are_left_out(tmp_path: Path) -> None:
    tagged = short_audio(tmp_path / "long.mp3", "-metadata", "title=Short",
                         "-metadata", "comment=" + "x" * 5000)  # fmt: skip
    assert probe_file(tagged).tags == {"title": "Short"}


def test_as_dict_is_json_ready_with_duration_text(media_files: dict[str, Path]) -> None:
    data = json.loads(json.dumps(probe_file(media_files["cbr.mp3"], verify=False).as_dict()))
    assert data["duration_text"] == "3:25"
    assert data["codecs"] == ["mp3"]
    assert data["mime_type"] == "audio/mpeg"


def empty(tmp_path: Path, png: Path) -> Path:
    path = tmp_path / "empty.mp3"
    path.touch()
    return path


def random_bytes(tmp_path: Path, png: Path) -> Path:
    path = tmp_path / "noise.mp3"
    path.write_bytes(random.Random(1).randbytes(100_000))  # seeded: no chance of a real header
    return path


def text(tmp_path: Path, png: Path) -> Path:
    path = tmp_path / "notes.mp3"
    path.write_text("This is not a song, just text.\n" * 200)
    return path


def image(tmp_path: Path, png: Path) -> Path:
    return Path(shutil.copy(png, tmp_path / "picture.png"))


def image_named_mp4(tmp_path: Path, png: Path) -> Path:
    return Path(shutil.copy(png, tmp_path / "picture.mp4"))


def still_in_mp4(tmp_path: Path, png: Path) -> Path:
    ffmpeg("-i", str(png), "-frames:v", "1", str(tmp_path / "still.mp4"))
    return tmp_path / "still.mp4"


def still_in_webm(tmp_path: Path, png: Path) -> Path:
    ffmpeg("-i", str(png), "-frames:v", "1", str(tmp_path / "still.webm"))
    return tmp_path / "still.webm"


@pytest.mark.parametrize(
    "make",
    [empty, random_bytes, text, image, image_named_mp4, still_in_mp4, still_in_webm],
)
def test_non_media_is_refused_with_415(
    make: Callable[[Path, Path], Path], tmp_path: Path, png: Path
) -> None:
    with pytest.raises(NotMedia) as caught:
        probe_file(make(tmp_path, png))
    assert caught.value.status == 415
    assert str(caught.value).endswith(".")


@pytest.mark.parametrize(
    "name",
    ["video.mp4", "moov-at-end.mp4", "cbr.mp3", "vbr.mp3", "video.webm", "audio.flac",
     "audio.wav", "audio.ogg", "audio.opus", "audio.m4a"],
)  # fmt: skip
def test_truncated_file_is_refused_with_422(
    media_files: dict[str, Path], tmp_path: Path, name: str
) -> None:
    cut = truncate(media_files[name], tmp_path / name)
    with pytest.raises(BrokenMedia) as caught:
        probe_file(cut)
    assert caught.value.status == 422
    assert not isinstance(caught.value, ProbeTimeout)


def test_large_garbage_named_mp3_is_refused_quickly(tmp_path: Path) -> None:
    # Given the name, ffprobe would scan all 300 MB for MPEG frames (about 6 s here).
    garbage = tmp_path / "zeros.mp3"
    with garbage.open("wb") as file:
        file.truncate(300 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(NotMedia):
        probe_file(garbage)
    assert time.monotonic() - started < 2


def test_truncated_mp4_with_moov_in_front_probes_fine_without_verify(
    media_files: dict[str, Path], tmp_path: Path
) -> None:
    cut = truncate(media_files["video.mp4"], tmp_path / "cut.mp4")
    assert probe_file(cut, verify=False).duration == pytest.approx(LENGTH, abs=0.1)


def test_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(NotMedia):
        probe_file(fifo, timeout=1)
    assert time.monotonic() - started < 0.5


def test_tool_reading_a_silent_fifo_is_killed_at_the_timeout(tmp_path: Path) -> None:
    # probe_file never hands ffprobe a FIFO, so drive the runner directly with one.
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ProbeTimeout) as caught:
        probe.run_tool(["ffprobe", "-v", "error", f"file:{fifo}"], deadline=started + 1)
    assert time.monotonic() - started < 2
    assert caught.value.status == 422
    # Killed and reaped: no zombie left (the session's SeaweedFS, if started, is ours too).
    assert [p for p in psutil.Process().children() if p.name() != "weed"] == []


def test_probe_past_its_timeout_raises_probe_timeout(media_files: dict[str, Path]) -> None:
    with pytest.raises(ProbeTimeout):
        probe_file(media_files["vbr-no-xing.mp3"], timeout=0.005)


def test_missing_ffprobe_is_an_operator_error_not_a_probe_error(
    media_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError) as caught:
        probe_file(media_files["cbr.mp3"])
    assert not isinstance(caught.value, ProbeError)
