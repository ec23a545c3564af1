"""Web-playable renditions: which clips browsers cannot play, and an H.264/AAC copy of them.

"Browsers" means the current Chromium, Firefox and Safari: a clip plays as uploaded only when
its container and every codec in it are ones they all (or, for WebM and Ogg, the first two)
decode. Anything else (MPEG-4 Part 2 in AVI, HEVC, QuickTime, Matroska, AIFF, AC-3...) gets a
copy made by ffmpeg: H.264/AAC in MP4 with the index at the front, or AAC in M4A for audio.
"""

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.media.probe import input_args, run_tool

log = logging.getLogger("amps")

BROWSER_CODECS: dict[str, frozenset[str]] = {
    "video/mp4": frozenset({"h264", "av1", "aac", "mp3"}),
    "audio/mp4": frozenset({"aac", "mp3"}),
    "video/webm": frozenset({"vp8", "vp9", "av1", "opus", "vorbis"}),
    "audio/webm": frozenset({"opus", "vorbis"}),
    "audio/mpeg": frozenset({"mp3"}),
    "audio/aac": frozenset({"aac"}),
    "audio/ogg": frozenset({"vorbis", "opus", "flac"}),
    "audio/wav": frozenset({"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_f32le"}),
    "audio/flac": frozenset({"flac"}),
}
VIDEO_NAME, VIDEO_TYPE = "playable.mp4", "video/mp4"
AUDIO_NAME, AUDIO_TYPE = "playable.m4a", "audio/mp4"
MAX_HEIGHT = 1080  # past what most screens show; keeps a 4K upload's copy quick to make
HASH_CHUNK = 1024 * 1024


class RenditionError(Exception):
    """ffmpeg could not convert the clip; str() is a sentence for people."""


@dataclass(frozen=True)
class Rendition:
    """A finished copy, written to `path`: what the record keeps of it."""

    path: Path
    mime_type: str
    size: int
    sha256: str


def browsers_play(mime_type: str, codecs: Sequence[str]) -> bool:
    """Whether browsers play the file as it is (so no rendition is needed)."""
    allowed = BROWSER_CODECS.get(mime_type)
    return allowed is not None and bool(codecs) and set(codecs) <= allowed


def rendition_name(kind: str) -> str:
    return VIDEO_NAME if kind == "video" else AUDIO_NAME


def make_rendition(source: Path | str, kind: str, target: Path, timeout: float) -> Rendition:
    """Transcode `source` into `target` (blocking); RenditionError, or ProbeTimeout when it
    runs past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    args = _video_args(source, target) if kind == "video" else _audio_args(source, target)
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    done = run_tool(command, deadline)
    if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        log.warning("ffmpeg rendition failed (%s): %s", done.returncode, done.stderr[-2000:])
        raise RenditionError(
            "A version for web browsers could not be made: ffmpeg could not convert this clip."
        )
    mime_type = VIDEO_TYPE if kind == "video" else AUDIO_TYPE
    size, digest = _measure(target)
    return Rendition(target, mime_type, size, digest)


def _video_args(source: Path | str, target: Path) -> list[str]:
    # Even sides (yuv420p needs them), no taller than MAX_HEIGHT, square pixels.
    height = f"min(ih,{MAX_HEIGHT})"
    scale = f"scale=w='trunc({height}*dar/2)*2':h='trunc({height}/2)*2',setsar=1"
    return [
        *input_args(source), "-map", "0:v:0", "-map", "0:a:0?",
        "-vf", scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
        "-pix_fmt", "yuv420p", "-profile:v", "high", "-threads", "1",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2",
        "-movflags", "+faststart", "-f", "mp4", f"file:{target}",
    ]  # fmt: skip


def _audio_args(source: Path | str, target: Path) -> list[str]:
    return [
        *input_args(source), "-map", "0:a:0", "-vn",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2",
        "-movflags", "+faststart", "-f", "mp4", f"file:{target}",
    ]  # fmt: skip


def _measure(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def file_sha256(path: Path) -> str:
    return _measure(path)[1]
