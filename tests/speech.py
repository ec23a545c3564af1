"""Speech with true word times, for the speech tests and bench/captions.py.

libespeak-ng, in synchronous mode, reports the output sample at which every word starts (WORD
events); those are the truth the aligner is measured against. espeak-ng's voice and timing
change between releases, so `synthesize` checks the version it was written against and that
the reported starts fall on the waveform's own silence boundaries.
"""

import array
import ctypes
import ctypes.util
import difflib
import math
import re
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.media.captions import Cue, cue_plain_text, parse_vtt
from app.speech.cues import MAX_LINE, MAX_LINES, MAX_SECONDS, MIN_SECONDS
from app.speech.words import TimedWord

ESPEAK_VERSION = "1.51"
AUDIO_OUTPUT_SYNCHRONOUS = 2
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
POS_CHARACTER = 1
CHARS_UTF8 = 1

NEWS = (
    "The city council approved a new budget on Tuesday evening. "
    "Spending on public transport will rise by a fifth, while road repairs are delayed. "
    "Residents can comment on the plan until the end of March."
)


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Spoken:
    """A WAV file of `text` and, for each word of the text, the second at which it starts."""

    path: Path
    text: str
    starts: list[float]
    words: list[str]
    rate: int


def espeak_version() -> str | None:
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return None
    found = re.search(r"text-to-speech: (\S+)", out)
    return found[1] if found else None


def synthesize(text: str, path: Path, voice: str = "en-us", wpm: int = 165) -> Spoken:
    """Speak `text` into a 16-bit mono WAV at `path`, with each word's true start time."""
    lib = ctypes.CDLL(ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1")
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
    assert rate > 0, "libespeak-ng did not initialise"
    assert lib.espeak_SetVoiceByName(voice.encode()) == 0
    lib.espeak_SetParameter(1, wpm, 0)  # espeakRATE
    samples: list[bytes] = []
    words: list[tuple[int, int, int]] = []  # (sample, text position, length)

    def on_audio(wav, count, events):  # type: ignore[no-untyped-def]
        if wav and count > 0:
            samples.append(ctypes.string_at(wav, count * 2))
        index = 0
        while events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == EVENT_WORD and event.length > 0:  # 0: a sentence's end
                words.append((event.sample, event.text_position, event.length))
            index += 1
        return 0

    callback = _CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(callback)
    data = text.encode()
    lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    pcm = b"".join(samples)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    # text_position counts characters from 1 in the UTF-8 text given.
    spoken = [text[pos - 1 : pos - 1 + length] for _, pos, length in words]
    return Spoken(path, text, [sample / rate for sample, _, _ in words], spoken, rate)


def check_cue_rules(vtt: str) -> list[Cue]:
    """Fail unless `vtt` keeps every caption layout rule; its cues when it does."""
    assert vtt.startswith("WEBVTT\n\nNOTE\n"), "a NOTE header says how the captions were made"
    cues = parse_vtt(vtt) if "-->" in vtt else []
    previous_end = 0.0
    for cue in cues:
        lines = cue_plain_text(cue).split("\n")
        where = f"cue at {cue.start:.3f}: {lines}"
        assert 1 <= len(lines) <= MAX_LINES, where
        assert all(0 < len(line) <= MAX_LINE for line in lines), where
        assert MIN_SECONDS - 0.0005 <= cue.end - cue.start <= MAX_SECONDS + 0.0005, where
        assert cue.start >= previous_end - 0.0005, f"overlap: {where}"
        previous_end = cue.end
    return cues


def onsets(path: Path, threshold: int = 300, hop: float = 0.005) -> list[float]:
    """Seconds at which sound starts after at least 50 ms of (near) digital silence."""
    with wave.open(str(path)) as file:
        rate = file.getframerate()
        samples = array.array("h", file.readframes(file.getnframes()))
    step = int(rate * hop)
    loud = [max(map(abs, samples[n : n + step]), default=0) > threshold
            for n in range(0, len(samples), step)]  # fmt: skip
    quiet_needed = round(0.05 / hop)
    found, quiet = [], quiet_needed
    for index, is_loud in enumerate(loud):
        if is_loud and quiet >= quiet_needed:
            found.append(index * hop)
        quiet = 0 if is_loud else quiet + 1
    return found


def mix(speech: Path, kind: str, snr_db: float, out: Path) -> Path:
    """`speech` with pink noise or a pulsing chord ("music") mixed in at `snr_db` (RMS)."""
    with wave.open(str(speech)) as file:
        rate = file.getframerate()
        samples = array.array("h", file.readframes(file.getnframes()))
        seconds = file.getnframes() / rate
    rms = math.sqrt(sum(x * x for x in samples) / len(samples)) / 32768
    level = rms / 10 ** (snr_db / 20)
    if kind == "noise":  # anoisesrc's amplitude is its peak; pink noise's RMS is about a third
        source = f"anoisesrc=color=pink:amplitude={level * 3:.5f}:r={rate}:d={seconds:.3f}:seed=7"
    else:  # a minor chord, each note at level/sqrt(3) RMS, swelling twice a second
        chord = "+".join(f"sin(2*PI*{f}*t)" for f in (220, 261.6, 329.6))
        source = (
            f"aevalsrc='{level * math.sqrt(2 / 3):.5f}*({chord})*(0.7+0.3*sin(2*PI*2*t))'"
            f":s={rate}:d={seconds:.3f}"
        )
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(speech), "-f", "lavfi", "-i", source,
         "-filter_complex", "[0][1]amix=inputs=2:normalize=0:duration=first", str(out)],
        check=True,
    )  # fmt: skip
    return out


def start_errors(spoken: Spoken, words: Sequence[TimedWord]) -> list[float]:
    """|aligned start - true start| of every spoken word the aligner placed, in seconds."""
    truth = [word.lower() for word in spoken.words]
    found = [word.text.strip(".,;:!?\"'").lower() for word in words]
    matcher = difflib.SequenceMatcher(None, truth, found, autojunk=False)
    return [
        abs(words[block.b + n].start - spoken.starts[block.a + n])
        for block in matcher.get_matching_blocks()
        for n in range(block.size)
        if words[block.b + n].placed
    ]
