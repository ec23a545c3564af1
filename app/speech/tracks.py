"""A captions track made from a clip's sound and its script, end to end: the one call jobs make."""

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.speech.align import NoSpeech, align_script
from app.speech.audio import AudioError, decode_audio
from app.speech.cues import make_cues, to_webvtt
from app.speech.models import find_model


@dataclass(frozen=True)
class MadeTrack:
    """WebVTT text, or none (`vtt` None) with the reason in a sentence."""

    vtt: str | None
    reason: str | None = None
    unplaced: tuple[str, ...] = ()
    seconds: float = 0.0  # how long the work took, wall clock


def aligned_track(
    source: Path | str,
    script: str,
    language: str | None,
    models: Mapping[str, Path],
    timeout: float,
) -> MadeTrack:
    """Align `script` to the speech of `source` (a path or presigned URL) as a WebVTT track.

    Raises models.ModelError for a model that fails its hash check (the operator's problem);
    everything about the clip itself comes back as a MadeTrack with a reason."""
    began = time.monotonic()
    model = find_model(language, models)
    if model is None:
        return MadeTrack(
            None, f"No speech model is installed for this clip's language ({language})."
        )
    with tempfile.TemporaryDirectory(prefix="amps-speech-") as scratch:
        try:
            pcm = decode_audio(source, Path(scratch) / "audio.raw", timeout)
            alignment = align_script(pcm, script, model)
        except (AudioError, NoSpeech) as exc:
            return MadeTrack(None, str(exc), seconds=time.monotonic() - began)
        cues = make_cues(alignment.spoken, pcm.duration)
    unplaced = tuple(word.text for word in alignment.unplaced)
    note = (
        f"Captions made by amps on {datetime.now(UTC):%Y-%m-%d}: the clip's script, "
        f"{alignment.engine}. Machine-timed, not reviewed."
    )
    if unplaced:
        note += f" {len(unplaced)} of {len(alignment.words)} script words were not heard."
    return MadeTrack(to_webvtt(cues, note), None, unplaced, time.monotonic() - began)
