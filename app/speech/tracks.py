"""A captions track made from a clip's sound and its script, end to end: the one call jobs make."""

import contextlib
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.media.probe import child_dies_with_parent
from app.speech.align import Alignment, NoSpeech, align_script
from app.speech.audio import AudioError, decode_audio
from app.speech.cues import make_cues, to_webvtt
from app.speech.models import ModelError, find_model, find_recogniser, no_recogniser
from app.speech.recognize import recognise
from app.speech.words import TimedWord

MEMORY_LIMIT = 1536 * 1024**2  # pocketsphinx and Whisper tiny on long clips stay far below


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
        f"Captions made by amps on {datetime.now(UTC):%Y-%m-%d} from the clip's script, "
        f"aligned to its speech by {alignment.engine}. Machine-timed, not reviewed."
    )
    if unplaced:
        note += f" {len(unplaced)} of {len(alignment.words)} script words were not heard."
    return MadeTrack(to_webvtt(cues, note), None, unplaced, time.monotonic() - began)


def automatic_track(
    source: Path | str, language: str | None, models: Mapping[str, Path], timeout: float
) -> MadeTrack:
    """Recognise the speech of `source` as a WebVTT track; English words are re-timed by the
    aligner (Whisper's own times are ~100 ms off), which also drops what Whisper invented on a
    clip with no speech. ModelError for a model that fails its hash check."""
    began = time.monotonic()
    recogniser = find_recogniser(language, models)
    if recogniser is None:
        return MadeTrack(None, no_recogniser(language))
    aligner = find_model(language, models)
    with tempfile.TemporaryDirectory(prefix="amps-speech-") as scratch:
        try:
            pcm = decode_audio(source, Path(scratch) / "audio.raw", timeout)
            heard = recognise(pcm, recogniser)
            words = heard.words
            if not words:
                raise NoSpeech("No speech was found in the clip's sound.")
            if aligner is not None:
                words = _retimed(align_script(pcm, " ".join(w.text for w in words), aligner))
        except (AudioError, NoSpeech) as exc:
            return MadeTrack(None, str(exc), seconds=time.monotonic() - began)
        cues = make_cues(words, pcm.duration)
    retimed = f", re-timed by {aligner.origin}" if aligner else ""
    note = (
        f"Captions made by amps on {datetime.now(UTC):%Y-%m-%d} by speech recognition: "
        f"{heard.engine}{retimed}. Automatic captions may contain errors."
    )
    return MadeTrack(to_webvtt(cues, note), None, (), time.monotonic() - began)


def _retimed(alignment: Alignment) -> list[TimedWord]:
    return alignment.spoken


class SpeechTimeout(Exception):
    """The speech work ran past its time limit and was killed."""


def aligned_track_isolated(
    source: Path | str,
    script: str,
    language: str | None,
    models: Mapping[str, Path],
    timeout: float,
    memory: int = MEMORY_LIMIT,
) -> MadeTrack:
    """aligned_track in a child process: killed at `timeout` seconds (SpeechTimeout) and held
    to `memory` bytes, so a job can always be stopped (pocketsphinx cannot be interrupted)."""
    return _isolated("aligned", source, script, language, models, timeout, memory)


def automatic_track_isolated(
    source: Path | str,
    language: str | None,
    models: Mapping[str, Path],
    timeout: float,
    memory: int = MEMORY_LIMIT,
) -> MadeTrack:
    """automatic_track in a child process, as aligned_track_isolated."""
    return _isolated("automatic", source, None, language, models, timeout, memory)


def _isolated(
    kind: str,
    source: Path | str,
    script: str | None,
    language: str | None,
    models: Mapping[str, Path],
    timeout: float,
    memory: int,
) -> MadeTrack:
    request = json.dumps(
        {
            "kind": kind, "source": str(source), "local": isinstance(source, Path),
            "script": script, "language": language,
            "models": {k: str(v) for k, v in models.items()}, "timeout": timeout,
        }
    )  # fmt: skip
    # Killed with the server or worker too (this thread waits for it until it is reaped).
    child = subprocess.Popen(
        [sys.executable, "-m", "app.speech.tracks"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=child_dies_with_parent(),
    )  # fmt: skip
    with contextlib.suppress(ProcessLookupError):
        # Soft limit only: ffmpeg, its child, must still be given run_tool's own limits.
        resource.prlimit(child.pid, resource.RLIMIT_AS, (memory, resource.RLIM_INFINITY))
    try:
        out, err = child.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        what = "Aligning the script" if kind == "aligned" else "Recognising the speech"
        raise SpeechTimeout(f"{what} took more than {timeout:g} seconds.") from None
    if child.returncode != 0:
        raise RuntimeError(f"the speech process failed ({child.returncode}): {err[-500:]}")
    answer = json.loads(out)
    if "model_error" in answer:
        raise ModelError(answer["model_error"])
    return MadeTrack(
        answer["vtt"], answer["reason"], tuple(answer["unplaced"]), float(answer["seconds"])
    )


def _serve_one() -> None:
    """The child's side of aligned_track_isolated: one JSON request in, one answer out."""
    request = json.loads(sys.stdin.read())
    source = Path(request["source"]) if request["local"] else request["source"]
    models = {language: Path(path) for language, path in request["models"].items()}
    try:
        if request["kind"] == "aligned":
            made = aligned_track(
                source, request["script"], request["language"], models, request["timeout"]
            )
        else:
            made = automatic_track(source, request["language"], models, request["timeout"])
    except ModelError as exc:
        print(json.dumps({"model_error": str(exc)}))
        return
    print(json.dumps(dataclasses.asdict(made)))


if __name__ == "__main__":
    _serve_one()
