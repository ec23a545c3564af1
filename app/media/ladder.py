"""A video's rendition ladder: 240p, 360p and 720p H.264/AAC, plus its audio alone for
"listen only", made by one ffmpeg run (the source decoded once).

Every file is a fragmented MP4 with one global index (`sidx`) at the front: as a plain MP4 a
browser plays it in a few requests, and the index gives HLS playlists their byte ranges
(app.media.sidx). Keyframes are forced every SEGMENT seconds with scene cuts off, so every
rendition's fragments start at the same times and a player can switch between them.
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from app.catalog.models import rendition_file
from app.media.probe import input_args, run_tool
from app.media.renditions import RenditionError

log = logging.getLogger("amps")

SEGMENT = 2  # seconds between keyframes, the same in every rendition
MIN_DURATION = 30.0  # shorter clips play well enough from one file
MIN_SOURCE_HEIGHT = 361  # a source of 360p or less gains nothing from a ladder
# skip_trailer: no `mfra` box at the end. With one, the index no longer reaches the end of
# the file, and Chromium's demuxer (ffmpeg's) reads the file's last bytes to learn the box's
# size: a round trip and a 32 KB read away from the first frame (0.6 s at 400 kbit/s).
FRAGMENTED = "+frag_keyframe+empty_moov+default_base_moof+global_sidx+skip_trailer"
AUDIO_NAME = "audio"


@dataclass(frozen=True)
class Rung:
    """One video rendition: its height and caps (bits per second) for video and audio."""

    height: int
    video_bitrate: int
    audio_bitrate: int

    @property
    def name(self) -> str:
        return f"{self.height}p"


# 240p fits a 400 kbit/s link with room to spare; each step about doubles the one below.
RUNGS = (Rung(240, 220_000, 64_000), Rung(360, 550_000, 96_000), Rung(720, 1_800_000, 128_000))
LISTEN_BITRATE = 96_000


@dataclass(frozen=True)
class LadderFile:
    """A file the ladder wrote: `name` is "240p"... or "audio"."""

    name: str
    path: Path
    height: int | None
    width: int | None
    bitrate: int  # measured: size over duration
    size: int
    mime_type: str
    codecs: str  # RFC 6381, as HLS's CODECS attribute wants them


def rungs_for(kind: str, width: int | None, height: int | None, duration: float) -> list[Rung]:
    """The ladder a clip gets: none for audio, short clips and sources of 360p or less;
    else every rung up to the source's height (never upscaled)."""
    if kind != "video" or not width or not height or duration < MIN_DURATION:
        return []
    if height < MIN_SOURCE_HEIGHT:
        return []
    return [rung for rung in RUNGS if rung.height <= height]


def file_name(name: str) -> str:
    """The file's name in storage, beside the clip's original."""
    return f"rendition-{rendition_file(name)}"


def playlist_name(name: str) -> str:
    return f"hls-{name}.m3u8"


def make_ladder(
    source: Path | str, rungs: list[Rung], folder: Path, timeout: float
) -> list[LadderFile]:
    """Encode every rung (and the audio alone, when there is audio) into `folder` (blocking);
    RenditionError, or ProbeTimeout past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    has_audio = _has_audio(source, deadline)
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *input_args(source)]
    command += _ladder_args(rungs, has_audio, folder)
    done = run_tool(command, deadline)
    names = [rung.name for rung in rungs] + ([AUDIO_NAME] if has_audio else [])
    paths = [folder / file_name(name) for name in names]
    if done.returncode != 0 or not all(p.is_file() and p.stat().st_size for p in paths):
        log.warning("ffmpeg ladder failed (%s): %s", done.returncode, done.stderr[-2000:])
        raise RenditionError("The renditions of this clip could not be made by ffmpeg.")
    return [_describe(name, path, deadline) for name, path in zip(names, paths, strict=True)]


def _has_audio(source: Path | str, deadline: float) -> bool:
    command = ["ffprobe", "-v", "error", *input_args(source), "-select_streams", "a:0"]
    command += ["-show_entries", "stream=index", "-of", "csv=p=0"]
    done = run_tool(command, deadline)
    if done.returncode != 0:
        raise RenditionError("The clip could not be read to make its renditions.")
    return bool(done.stdout.strip())


def _ladder_args(rungs: list[Rung], has_audio: bool, folder: Path) -> list[str]:
    labels = [f"[v{rung.height}]" for rung in rungs]
    scales = [
        f"[s{i}]scale=w=-2:h={rung.height},setsar=1,format=yuv420p{label}"
        for i, (rung, label) in enumerate(zip(rungs, labels, strict=True))
    ]
    split = f"[0:v:0]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))
    args = ["-filter_complex", ";".join([split, *scales])]
    keyframes = f"expr:gte(t,n_forced*{SEGMENT})"
    for rung, label in zip(rungs, labels, strict=True):
        rate = rung.video_bitrate
        args += ["-map", label, *(["-map", "0:a:0"] if has_audio else [])]
        args += [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-profile:v", "high",
            "-maxrate", str(rate), "-bufsize", str(rate * 2), "-threads", "1",
            "-force_key_frames", keyframes, "-x264-params", "scenecut=0:open_gop=0",
            "-c:a", "aac", "-b:a", str(rung.audio_bitrate), "-ac", "2",
            "-movflags", FRAGMENTED, "-f", "mp4", f"file:{folder / file_name(rung.name)}",
        ]  # fmt: skip
    if has_audio:
        # No keyframes to cut at: fragments of SEGMENT seconds (in microseconds).
        args += [
            "-map", "0:a:0", "-vn", "-c:a", "aac", "-b:a", str(LISTEN_BITRATE), "-ac", "2",
            "-movflags", "+empty_moov+default_base_moof+global_sidx+skip_trailer",
            "-frag_duration", str(SEGMENT * 1_000_000),
            "-f", "mp4", f"file:{folder / file_name(AUDIO_NAME)}",
        ]  # fmt: skip
    return args


def _describe(name: str, path: Path, deadline: float) -> LadderFile:
    """Size, measured bitrate, picture size and codec strings of a finished file."""
    command = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format"]
    command += ["-show_streams", f"file:{path}"]
    done = run_tool(command, deadline)
    if done.returncode != 0:
        raise RenditionError("A rendition ffmpeg made could not be read back.")
    info = json.loads(done.stdout)
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    size = path.stat().st_size
    duration = float(info.get("format", {}).get("duration") or 0) or 1.0
    codecs = [_codec_string(s) for s in streams if s.get("codec_type") in ("video", "audio")]
    return LadderFile(
        name=name,
        path=path,
        height=int(video["height"]) if video else None,
        width=int(video["width"]) if video else None,
        bitrate=round(size * 8 / duration),
        size=size,
        mime_type="video/mp4" if video else "audio/mp4",
        codecs=",".join(codecs),
    )


def _codec_string(stream: dict[str, object]) -> str:
    if stream.get("codec_type") == "audio":
        return "mp4a.40.2"  # AAC-LC, what ffmpeg's aac encoder writes
    profile = {"High": 0x64, "Main": 0x4D, "Baseline": 0x42, "Constrained Baseline": 0x42}
    idc = profile.get(str(stream.get("profile")), 0x64)
    level = int(str(stream.get("level") or 31))
    return f"avc1.{idc:02X}00{level:02X}"
