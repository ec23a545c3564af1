"""Test media made by ffmpeg from its test sources, cached between runs (never committed).

Each entry: name -> (ffmpeg input arguments, output arguments); every file lasts LENGTH s.
"""

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

LENGTH = 205  # 3:25, the length PRODUCT.md's player shows
VIDEO_IN = [
    "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=15:duration={LENGTH}",
    "-f", "lavfi", "-i", f"sine=frequency=440:duration={LENGTH}",
]  # fmt: skip
# Sine plus pink noise, loud then quiet every 10 s, so VBR MP3 frame sizes really vary.
AUDIO_IN = [
    "-f", "lavfi", "-i", f"sine=frequency=440:duration={LENGTH}",
    "-f", "lavfi", "-i", f"anoisesrc=duration={LENGTH}:color=pink:amplitude=0.3",
    "-filter_complex", "[0][1]amix=inputs=2,volume='if(lt(mod(t,20),10),1,0.02)':eval=frame",
]  # fmt: skip
H264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-b:v", "60k"]

FORMATS: dict[str, tuple[list[str], list[str]]] = {
    "video.mp4": (VIDEO_IN, [*H264, "-c:a", "aac", "-b:a", "32k", "-shortest",
                             "-movflags", "+faststart"]),
    "moov-at-end.mp4": (VIDEO_IN, [*H264, "-c:a", "aac", "-b:a", "32k", "-shortest"]),
    "video.webm": (
        ["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=10:duration={LENGTH}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={LENGTH}"],
        ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "40k",
         "-c:a", "libopus", "-b:a", "24k", "-shortest"],
    ),
    # MPEG-4 Part 2 and MP3 in AVI: browsers play neither container nor video codec.
    "video.avi": (VIDEO_IN, ["-c:v", "mpeg4", "-q:v", "8", "-c:a", "libmp3lame", "-b:a", "32k",
                             "-shortest"]),
    "cbr.mp3": (AUDIO_IN, ["-c:a", "libmp3lame", "-b:a", "64k"]),
    "vbr.mp3": (AUDIO_IN, ["-c:a", "libmp3lame", "-q:a", "4"]),
    "vbr-no-xing.mp3": (AUDIO_IN, ["-c:a", "libmp3lame", "-q:a", "4", "-write_xing", "0"]),
    "audio.ogg": (AUDIO_IN, ["-c:a", "libvorbis", "-q:a", "2"]),
    "audio.opus": (AUDIO_IN, ["-c:a", "libopus", "-b:a", "32k"]),
    "audio.wav": (AUDIO_IN, ["-c:a", "pcm_s16le", "-ar", "8000", "-ac", "1"]),
    "audio.flac": (AUDIO_IN, ["-c:a", "flac", "-ar", "16000", "-ac", "1"]),
    "audio.m4a": (AUDIO_IN, ["-c:a", "aac", "-b:a", "48k"]),
}  # fmt: skip


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly, raising with its stderr on failure."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True
    )


def make(name: str, directory: Path) -> Path:
    """Create one test file (once; later runs reuse it)."""
    target = directory / name
    if not target.exists():
        inputs, outputs = FORMATS[name]
        partial = directory / f"partial-{os.getpid()}-{name}"  # one per process
        ffmpeg(*inputs, *outputs, str(partial))
        partial.rename(target)
    return target


def make_all(directory: Path) -> dict[str, Path]:
    """Every format, two at a time (the machines have two cores)."""
    directory.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        paths = list(pool.map(lambda n: make(n, directory), FORMATS))
    return dict(zip(FORMATS, paths, strict=True))


def truncate(source: Path, target: Path, fraction: float = 0.5) -> Path:
    """A copy cut short, as a broken download would leave it."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def have_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


LADDER_LENGTH = 33  # over the ladder's 30 s minimum, a few keyframe intervals past it


def ladder_clip(directory: Path) -> Path:
    """A 33 s 720p clip with sound, cheap to encode (few frames, low bitrate): the one video
    whose rendition ladder the tests make (once per machine; later runs reuse it)."""
    target = directory / "ladder-720p.mp4"
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f"partial-{os.getpid()}-ladder-720p.mp4"
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc=size=1280x720:rate=6:duration={LADDER_LENGTH}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={LADDER_LENGTH}",
            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "150k", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "32k", "-shortest", "-movflags", "+faststart", str(partial),
        )  # fmt: skip
        partial.rename(target)
    return target
