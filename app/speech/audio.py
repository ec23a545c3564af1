"""A clip's audio as 16 kHz mono 16-bit PCM, the one feed every speech engine reads.

ffmpeg (through `app.media.probe.run_tool`, under its time and memory limits) writes the PCM
to a file next to the caller's other temporary files; engines then read it slice by slice, so
a long clip never sits in memory whole (10 minutes are 19 MB on disk).
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from app.media.probe import input_args, run_tool

RATE = 16000
BYTES_PER_SAMPLE = 2
FRAME_RATE = 100  # pocketsphinx's frames per second


class AudioError(Exception):
    """The clip's audio could not be decoded; str() is a sentence for people."""


@dataclass(frozen=True)
class Pcm:
    """Raw s16le mono samples at RATE in a file."""

    path: Path

    @property
    def duration(self) -> float:
        return self.path.stat().st_size / (RATE * BYTES_PER_SAMPLE)

    def read(self, start: float = 0.0, end: float | None = None) -> bytes:
        """The samples from `start` to `end` seconds (the end of the clip when None)."""
        first = max(0, round(start * RATE)) * BYTES_PER_SAMPLE
        last = self.path.stat().st_size if end is None else round(end * RATE) * BYTES_PER_SAMPLE
        with self.path.open("rb") as file:
            file.seek(first)
            return file.read(max(0, last - first))

    def chunks(self, size: float = 10.0) -> list[tuple[float, float]]:
        """(start, end) seconds of consecutive slices of at most `size` seconds."""
        edges = [n * size for n in range(int(self.duration // size) + 1)] + [self.duration]
        return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]


def decode_audio(source: Path | str, out: Path, timeout: float) -> Pcm:
    """Decode the first audio stream of `source` (a path or an object's presigned URL) to `out`."""
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", *input_args(source),
        "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-y", f"file:{out}",
    ]  # fmt: skip
    done = run_tool(command, time.monotonic() + timeout)
    if done.returncode != 0:
        if os.path.exists(out):
            out.unlink()
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        if "matches no streams" in done.stderr:
            raise AudioError("This clip has no sound to caption.")
        raise AudioError(f"The clip's sound could not be read ({tail[0]}).")
    return Pcm(out)
