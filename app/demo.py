"""The demo clips: 3:25 of ffmpeg's test pattern and a tone, with English captions; and a short
news item spoken by espeak-ng, captioned by aligning its script (the real align job, offline)."""

import shutil
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


SPEECH_TITLE = "News: the river festival"
SPEECH_DESCRIPTION = (
    "A short news item read by the espeak-ng speech synthesiser. Its captions were made by "
    "amps itself, offline: the story's text was aligned to the speech, word by word."
)
NEWS_SCRIPT = (
    "Good evening. The river festival opens on Saturday morning, after two years of repairs "
    "to the old harbour. Organisers expect more than twenty thousand visitors over the "
    "weekend. Trains will run every ten minutes, and the bridge will be closed to cars until "
    "Sunday night. Entry is free, but boat tours must be booked online."
)


def render_speech(target: Path, work: Path) -> None:
    """espeak-ng reads the script (about 19 s); ffmpeg draws the sound as a moving waveform
    (a video, so the player shows its captions over the picture)."""
    speech = work / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(speech), NEWS_SCRIPT],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(speech),
         "-filter_complex",
         "[0:a]showwaves=s=640x360:r=15:mode=cline:colors=0xf1c40f,format=yuv420p[v]",
         "-map", "[v]", "-map", "0:a",
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "150k",
         "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart",
         "-metadata", f"title={SPEECH_TITLE}", str(target)],
        check=True, capture_output=True,
    )  # fmt: skip


def add_speech_demo(library: Library) -> Media | None:
    """The news clip with its script: the align job makes its captions (at once on SQLite,
    by the workers on PostgreSQL). None when espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="amps-demo-") as tmp:
        clip = Path(tmp) / "news.mp4"
        render_speech(clip, Path(tmp))
        media = library.add_file(
            clip, title=SPEECH_TITLE, description=SPEECH_DESCRIPTION, language="en",
            script=NEWS_SCRIPT,
        )  # fmt: skip
    return library.catalog.get(media.id) or media


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
