"""The demo clip: 3:25 of ffmpeg's test pattern and a tone, with English captions."""

import subprocess
import tempfile
from pathlib import Path

from app.catalog.models import Media
from app.library import Library
from app.media.durations import format_duration

LENGTH = 205
TITLE = "Test pattern with a tone"
DESCRIPTION = (
    "A 3 minute 25 second demonstration clip made by ffmpeg: a moving colour test pattern "
    "with a 440 Hz tone. Its captions say what is on screen."
)
LINES = [
    "A colour test pattern fills the screen.",
    "A steady 440 hertz tone plays.",
    "The counter in the middle counts the seconds.",
    "Colour bars move slowly across the picture.",
]


def vtt_time(seconds: float) -> str:
    whole, millis = divmod(round(seconds * 1000), 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{millis:03d}"


def demo_captions(length: int = LENGTH, step: int = 5) -> str:
    """One cue every `step` seconds, so the transcript has something to follow."""
    cues = ["WEBVTT", ""]
    for index, start in enumerate(range(0, length, step)):
        end = min(start + step, length)
        text = LINES[index % len(LINES)]
        if index % len(LINES) == 2:
            text = f"The counter shows {format_duration(start)}."
        cues += [str(index + 1), f"{vtt_time(start)} --> {vtt_time(end)}", text, ""]
    return "\n".join(cues)


def render_clip(target: Path, length: int = LENGTH) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={length}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={length}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-b:v", "300k",
         "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart",
         "-metadata", f"title={TITLE}", str(target)],
        check=True,
        capture_output=True,
    )  # fmt: skip


def add_demo(library: Library) -> Media:
    """Render the clip, add it to the library and attach its captions."""
    with tempfile.TemporaryDirectory(prefix="amps-demo-") as tmp:
        clip = Path(tmp) / "demo.mp4"
        render_clip(clip)
        media = library.add_file(
            clip, automatic_captions=False, title=TITLE, description=DESCRIPTION, language="en"
        )
    library.add_track(media.id, "captions", "en", "English", demo_captions())
    refreshed = library.catalog.get(media.id)
    assert refreshed is not None
    return refreshed
