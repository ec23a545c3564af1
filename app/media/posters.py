"""Posters: a frame from about 10% into a video, or a waveform picture of audio, made by ffmpeg.

Made on first request and kept in storage next to the clip (`<id>/poster.jpg` or `.png`),
rendered to a local temp file, then stored whole (a rename on disk, one PUT in an object
store), so concurrent first requests cannot tear it.
"""

import logging
import math
import tempfile
import time
from pathlib import Path, PurePath

from app.catalog.models import Media
from app.media.probe import ProbeTimeout, ToolMissing, input_args, run_tool
from app.storage.base import Storage, media_key

log = logging.getLogger("amps")
MAX_WIDTH = 1280
# A still for small players and slow links (an embed shows it before anyone presses play):
# a quarter of the pixels at a lower JPEG quality: a quarter to half the bytes. The player
# asks for the full one when it is shown large on a fast link.
SMALL_WIDTH = 640
STILLS = {"full": (MAX_WIDTH, 3), "small": (SMALL_WIDTH, 5)}  # width, mjpeg -q:v (2 best)
WAVEFORM_SIZE = "1280x360"
# Light blue on near-black: a contrast ratio of about 10:1, legible in forced colours too.
WAVEFORM_BACKGROUND = "0x10151f"
WAVEFORM_COLOUR = "0x7cc4fa"
# showwavespic keeps every sample it is given until the end, so a long clip's waveform is
# drawn from a decimated envelope of its sound: memory then does not grow with the length.
SHORT_CLIP = 60.0  # seconds: up to this, every sample is drawn (23 MB at most, at 192 kHz)
WAVEFORM_SAMPLES = 256 * 1280  # envelope samples of a longer clip: 256 per column at most
ENVELOPE_RATE = 1000  # Hz: the first step down, so no one resampling ratio is huge
MIN_RATE = 4  # Hz: keeps the resampler's filters small (a few MB) past 22 hours
RMS_TO_MEAN = math.sqrt(2 / math.pi)  # mean |x| over RMS, for Gaussian noise
STILL_AT = 0.10  # of the duration: past fade-ins and title cards, well before the end
MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


class PosterError(Exception):
    """No poster could be made; str() is a sentence for the reader."""


def poster_name(kind: str, size: str = "full") -> str:
    """A still of a video is a photo (JPEG), in two sizes; a waveform is flat colour (PNG),
    small at any size: one."""
    if kind != "video":
        return "poster.png"
    return "poster.jpg" if size == "full" else f"poster.{size}.jpg"


def poster_names(kind: str) -> list[str]:
    """Every poster a clip of this kind may have stored."""
    return list(dict.fromkeys(poster_name(kind, size) for size in STILLS))


def media_type(key: str) -> str:
    return MEDIA_TYPES.get(PurePath(key).suffix, "application/octet-stream")


def stored_poster(
    storage: Storage, media: Media, source: Path | str | None, timeout: float, size: str = "full"
) -> str:
    """The key of the clip's poster of that size, rendered from `source` (a file or an
    object's URL) to a local temp file and stored on first use."""
    name = poster_name(media.kind, size)
    key = media_key(media.id, name)
    if not storage.exists(key):
        if source is None:
            raise PosterError("No poster can be made: the clip's file is not available any more.")
        with tempfile.TemporaryDirectory(prefix="amps-poster-") as temp:
            target = Path(temp) / name
            render_poster(source, media.kind, media.duration, target, timeout, size)
            storage.put_bytes(key, target.read_bytes(), MEDIA_TYPES[target.suffix])
    return key


def render_poster(
    source: Path | str, kind: str, duration: float, target: Path, timeout: float,
    size: str = "full",
) -> None:  # fmt: skip
    """Write a JPEG still (video) or a PNG waveform (audio) of `source` to `target`; blocking."""
    deadline = time.monotonic() + timeout
    if kind != "video":
        _ffmpeg(_waveform_args(source, target, duration), deadline)
    else:
        # A video stream may end before the audio does: then fall back to its first frame.
        at = max(duration, 0.0) * STILL_AT
        for seek in dict.fromkeys((at, 0.0)):
            _ffmpeg(_still_args(source, seek, target, *STILLS[size]), deadline)
            if _written(target):
                return
    if not _written(target):
        raise PosterError("No poster could be made: ffmpeg found no picture in this clip.")


def _written(target: Path) -> bool:
    """Whether ffmpeg wrote a picture: it writes nothing when a seek lands past the frames."""
    try:
        return target.stat().st_size > 0
    except FileNotFoundError:
        return False


def _still_args(
    source: Path | str, seek: float, target: Path, width: int, quality: int
) -> list[str]:
    # Scaled to its display aspect (sar), never wider than `width`, never enlarged.
    scale = f"scale=w='min({width},iw*sar)':h='round(ow/dar)',setsar=1"
    return [
        "-ss", f"{seek:.3f}", *input_args(source),
        "-map", "0:v:0", "-frames:v", "1", "-vf", scale,
        "-c:v", "mjpeg", "-q:v", str(quality), "-f", "image2", "-update", "1", f"file:{target}",
    ]  # fmt: skip


def envelope_rate(duration: float) -> int | None:
    """The sample rate of the envelope showwavespic draws; None: draw every sample."""
    if duration <= SHORT_CLIP:
        return None
    return min(max(math.floor(WAVEFORM_SAMPLES / duration), MIN_RATE), ENVELOPE_RATE)


def waveform_graph(duration: float) -> str:
    """ffmpeg's filter graph from the first audio stream to the waveform picture."""
    mono = "[0:a:0]aformat=sample_fmts=s16:channel_layouts=mono"  # s16: equal channels keep
    rate = envelope_rate(duration)  # their level when mixed, instead of gaining 3 dB
    if rate is not None:
        # Squared (a native filter, far cheaper than aeval on every sample), averaged down,
        # rooted: the RMS envelope, scaled so that noise-like sound draws as high as its
        # mean |x| did (what showwavespic averages over each column).
        mono += (
            ",aformat=sample_fmts=flt,asplit[x][y];[x][y]amultiply,"
            f"aresample={ENVELOPE_RATE}:filter_size=4,aresample={rate},"
            f"aeval=sqrt(max(val(0)\\,0))*{RMS_TO_MEAN:.4f}:c=same,asetnsamples=n=4096:p=0"
        )
    else:  # a file longer than its probed duration still hands over no more than this
        mono += f",atrim=end={2 * SHORT_CLIP:g}"
    return (
        f"{mono},showwavespic=s={WAVEFORM_SIZE}:colors={WAVEFORM_COLOUR}:scale=sqrt[wave];"
        f"color=c={WAVEFORM_BACKGROUND}:s={WAVEFORM_SIZE}[back];"
        "[back][wave]overlay=format=auto"
    )


def _waveform_args(source: Path | str, target: Path, duration: float) -> list[str]:
    graph = waveform_graph(duration)
    return [
        *input_args(source), "-filter_complex", graph, "-frames:v", "1",
        "-c:v", "png", "-f", "image2", "-update", "1", f"file:{target}",
    ]  # fmt: skip


def _ffmpeg(args: list[str], deadline: float) -> None:
    """Run ffmpeg under the probe's limits until it ends or the deadline passes: PosterError
    on failure."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    try:
        done = run_tool(command, deadline)
    except ProbeTimeout:
        raise PosterError("No poster could be made: it took too long.") from None
    except ToolMissing:
        raise PosterError("No poster could be made: ffmpeg is not installed here.") from None
    if done.returncode != 0:
        log.warning("ffmpeg poster failed (%s): %s", done.returncode, done.stderr[-2000:])
        raise PosterError("No poster could be made: ffmpeg could not read this clip.")
