"""Forced alignment of a known script to a clip's speech, with pocketsphinx.

Plain forced alignment fails outright when the script holds words that were not spoken (a
sentence cut in the edit), and finds nothing past ~8 s with default beams. So, in steps:

1. recognise the audio with a small language model built from the script itself;
2. keep runs of recognised words that match the script in order: anchors;
3. force-align each gap between anchors, with the anchored word either side, in the audio
   between them (wide beams); failing that, its sentences one by one from either end;
4. force-align each sentence again within its neighbours, for exact word boundaries.

Words that cannot be placed (unspoken, or lost in noise) get times interpolated between their
neighbours and `placed=False`. A script whose words are a small part of the recognised speech
is refused (NoSpeech). pocketsphinx 5.1.1's traps, found the hard way: its lattice pass
(`bestpath`) drops the end of forced alignments, and digital silence (exact zeros) throws its
features off unless dithered; loading a language model against all of CMUdict takes 20-30 s,
so each script gets a dictionary of its own words.
"""

import difflib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pocketsphinx import Decoder
from pocketsphinx.lm import ArpaBoLM

from app.speech.audio import FRAME_RATE, Pcm
from app.speech.models import SpeechModel
from app.speech.pronounce import espeak_phones
from app.speech.script import Token, tokenize
from app.speech.words import TimedWord

WIDE_BEAMS = {"beam": 1e-120, "pbeam": 1e-120, "wbeam": 1e-100}
RECOGNITION_WINDOW = 30.0  # seconds of audio recognised at a time: bounded memory
MIN_ANCHOR_RUN = 2  # matching words in a row before a run is trusted
MIN_ANCHOR_LETTERS = 7  # ... and their letters
MIN_ANCHORED = 3  # script words recognised before there is speech to align
MIN_MATCHED = 0.6  # share of the recognised speech's time that must be the script's (see run)
SECONDS_PER_PHONE = 0.035  # a gap shorter than this per phone cannot hold its words
MARGIN = 0.15  # seconds of context around a sentence aligned again
CONTEXT = 0.05  # seconds before and after the neighbours a gap is aligned with
MIN_UNPLACED = 0.12  # seconds an unplaced word must have had to count as said
NOT_SPEECH = {"<s>", "</s>", "<sil>"}
SENTENCE_PAUSE = 0.15  # seconds of silence between a sentence's first and second words


class NoSpeech(Exception):
    """Nothing in the audio matches the script; str() is the reason, for people."""


@dataclass(frozen=True)
class Alignment:
    words: list[TimedWord]
    engine: str

    @property
    def unplaced(self) -> list[TimedWord]:
        return [word for word in self.words if not word.placed]

    @property
    def spoken(self) -> list[TimedWord]:
        """The words to caption: all but unplaced ones left no time at all (never said)."""
        return [w for w in self.words if w.placed or w.end - w.start >= MIN_UNPLACED]


Span = tuple[float, float]


def align_script(pcm: Pcm, script: str, model: SpeechModel) -> Alignment:
    """Time every word of `script` in `pcm`; NoSpeech when the audio does not say it."""
    tokens = tokenize(script)
    with tempfile.TemporaryDirectory(prefix="amps-align-") as scratch:
        aligner = _Aligner(pcm, tokens, model, Path(scratch))
        spans = aligner.run()
    times, placed = _interpolate(spans, pcm.duration)
    _after_pauses(tokens, times, placed)
    words = [
        TimedWord(token.text, start, end, token.sentence_end, token.clause_end, found)
        for token, (start, end), found in zip(tokens, times, placed, strict=True)
    ]
    return Alignment(words, model.origin)


class _Aligner:
    def __init__(self, pcm: Pcm, tokens: list[Token], model: SpeechModel, scratch: Path) -> None:
        self.pcm = pcm
        self.tokens = tokens
        self.model = model
        self.scratch = scratch
        self.dictionary = scratch / "words.dict"
        self.phones = self._pronunciations()
        self.keys = [token.key for token in tokens]
        self.heard: list[tuple[str, Span]] = []

    def run(self) -> list[Span | None]:
        spans = self._anchors()
        self._check_heard(spans)
        aligner = self._decoder(lm=None, **WIDE_BEAMS)
        self._fill_gaps(aligner, spans)
        self._refine_sentences(aligner, spans)
        return spans

    def _check_heard(self, spans: list[Span | None]) -> None:
        """NoSpeech unless most of the speech recognised is the script's: the recogniser only
        knows the script's words, so with the wrong script (or none spoken) it still finds
        some, but scattered, and they are a small part of what it heard."""
        heard = sum(end - start for _, (start, end) in self.heard)
        matched = sum(span[1] - span[0] for span in spans if span is not None)
        anchored = sum(span is not None for span in spans)
        if anchored < MIN_ANCHORED:
            raise NoSpeech("No speech was found in the clip's sound.")
        if matched < MIN_MATCHED * heard:
            raise NoSpeech(
                "The clip's speech does not match its script: only "
                f"{anchored} of its {len(spans)} words were heard."
            )

    def _pronunciations(self) -> dict[str, str]:
        """Every key of the script that can be said, with its phones (espeak-ng for unknowns),
        written as the small dictionary both decoders load (the whole CMUdict takes seconds)."""
        needed = {token.key for token in self.tokens}
        wanted = needed | {part for key in needed if "-" in key for part in key.split("-")}
        found: dict[str, list[str]] = {}
        with self.model.dictionary.open(encoding="utf-8") as words:
            for line in words:
                word, _, phones = line.partition(" ")
                base = word.split("(")[0]
                if base in wanted:
                    found.setdefault(base, []).append(phones.strip())
        for key in needed - found.keys():
            parts = [found.get(part) for part in key.split("-") if part]
            if len(parts) > 1 and all(parts):
                found[key] = [" ".join(p[0] for p in parts if p)]
            elif said := espeak_phones(key, self.model.voice):
                found[key] = [said]
        with self.dictionary.open("w", encoding="utf-8") as out:
            for key in sorted(needed & found.keys()):
                for n, phones in enumerate(found[key]):
                    out.write(f"{key}{f'({n + 1})' if n else ''} {phones}\n")
        return {key: found[key][0] for key in needed & found.keys()}

    def _decoder(self, lm: Path | None, **beams: float) -> Decoder:
        # bestpath=False: the lattice pass drops the end of forced alignments (pocketsphinx
        # 5.1.1). Dither (seeded: the same result every run): digital silence, exact zeros,
        # throws its features off, and then whole phrases of clean speech go unrecognised.
        return Decoder(
            hmm=str(self.model.acoustic), dict=str(self.dictionary),
            lm=str(lm) if lm else None, loglevel="FATAL", bestpath=False, dither=True, seed=1,
            **beams,
        )  # fmt: skip

    def _anchors(self) -> list[Span | None]:
        """Recognise with the script's own language model; keep matching runs' times."""
        sentences = [
            " ".join(key for key in self.keys[first:last] if key in self.phones)
            for first, last in _sentences(self.tokens, 0, len(self.tokens))
        ]
        lm_path = self.scratch / "script.lm"
        model = ArpaBoLM(text="\n".join(sentences) + "\n", add_start=True)
        model.compute()
        model.write_file(str(lm_path))
        self.heard = heard = list(self._recognise(self._decoder(lm=lm_path)))
        spans: list[Span | None] = [None] * len(self.tokens)
        matcher = difflib.SequenceMatcher(None, self.keys, [w for w, _ in heard], autojunk=False)
        for block in matcher.get_matching_blocks():
            run = self.keys[block.a : block.a + block.size]
            # "to the" matches somewhere in any story: a short run of short words is no anchor.
            if block.size < MIN_ANCHOR_RUN or sum(map(len, run)) < MIN_ANCHOR_LETTERS:
                continue
            # A run's first and last words are where the recogniser's times go wrong (it may
            # hear "to" in "changes to"): past two words, only the inner ones are anchors.
            edge = 1 if block.size > MIN_ANCHOR_RUN else 0
            for n in range(edge, block.size - edge):
                spans[block.a + n] = heard[block.b + n][1]
        return spans

    def _recognise(self, decoder: Decoder) -> Iterator[tuple[str, Span]]:
        for start, end in self.pcm.chunks(RECOGNITION_WINDOW):
            decoder.start_utt()
            decoder.process_raw(self.pcm.read(start, end), full_utt=True)
            decoder.end_utt()
            for seg in decoder.seg():
                word = seg.word.split("(")[0]
                if word not in NOT_SPEECH and not word.startswith("["):
                    yield (
                        word,
                        (
                            start + seg.start_frame / FRAME_RATE,
                            start + (seg.end_frame + 1) / FRAME_RATE,
                        ),
                    )

    def _fill_gaps(self, decoder: Decoder, spans: list[Span | None]) -> None:
        for first, last in list(_runs(spans, missing=True)):
            self._fill_gap(decoder, spans, first, last)

    def _fill_gap(self, decoder: Decoder, spans: list[Span | None], first: int, last: int) -> None:
        """Place tokens[first:last]; failing that, its sentences from either end inwards (an
        unspoken sentence in a gap stops the whole gap from aligning, not its neighbours)."""
        if first >= last or self._place(decoder, spans, first, last):
            return
        if self._anchor_heard(spans, first, last):  # split the gap where words were heard
            for start, end in list(_runs(spans[first:last], missing=True)):
                self._fill_gap(decoder, spans, first + start, first + end)
            return
        pieces = list(_sentences(self.tokens, first, last))
        if len(pieces) < 2:
            return
        ends = sorted({pieces[0], pieces[-1]}, key=lambda p: -self._evidence(spans, *p))
        for piece_first, piece_last in ends:
            if self._place(decoder, spans, piece_first, piece_last):
                left = piece_first == first
                rest = (piece_last, last) if left else (first, piece_first)
                self._fill_gap(decoder, spans, *rest)
                return
        if len(pieces) > 2:
            self._fill_gap(decoder, spans, pieces[1][0], pieces[-1][0])

    def _anchor_heard(self, spans: list[Span | None], first: int, last: int) -> bool:
        """Anchor single words of tokens[first:last] the recogniser heard in their window
        (words of 4 letters or more: "the" is heard everywhere); True if it found any."""
        start, end = _window(spans, first, last, self.pcm.duration)
        heard = [(w, at) for w, at in self.heard if start <= at[0] and at[1] <= end]
        keys = self.keys[first:last]
        matcher = difflib.SequenceMatcher(None, keys, [w for w, _ in heard], autojunk=False)
        found = False
        for block in matcher.get_matching_blocks():
            for n in range(block.size):
                if len(keys[block.a + n]) >= 4:
                    spans[first + block.a + n] = heard[block.b + n][1]
                    found = True
        return found

    def _place(self, decoder: Decoder, spans: list[Span | None], first: int, last: int) -> bool:
        """Force-align tokens[first:last] with the placed word either side of them, in the
        audio from that word's start to the other's end; False when there is no room."""
        window = _window(spans, first, last, self.pcm.duration)
        keys = self.keys[first:last]
        needed = sum(len(self.phones.get(k, "").split()) for k in keys) * SECONDS_PER_PHONE
        if window[1] - window[0] < needed:
            return False  # no room for these words: they were not spoken
        before = spans[first - 1] if first > 0 else None
        after = spans[last] if last < len(spans) else None
        context = (
            before[0] - CONTEXT if before else window[0],
            after[1] + CONTEXT if after else window[1],
        )
        context = (max(0.0, context[0]), min(self.pcm.duration, context[1]))
        start, end = first - bool(before), last + bool(after)
        found = self._force(decoder, start, end, context)
        if not found:
            return False
        spans[first:last] = found[first - start : last - start]
        return True

    def _evidence(self, spans: list[Span | None], first: int, last: int) -> int:
        """How many of tokens[first:last] the recogniser heard in the audio they could be in."""
        start, end = _window(spans, first, last, self.pcm.duration)
        keys = set(self.keys[first:last])
        return sum(word in keys and start <= at[0] < end for word, at in self.heard)

    def _refine_sentences(self, decoder: Decoder, spans: list[Span | None]) -> None:
        for first, last in _runs(spans, missing=False):
            for start, end in _sentences(self.tokens, first, last):
                window = _window(spans, start, end, self.pcm.duration)
                placed = (spans[start][0] - MARGIN, spans[end - 1][1] + MARGIN)  # type: ignore[index]
                window = (max(window[0], placed[0]), min(window[1], placed[1]))
                found = self._force(decoder, start, end, window)
                if found:
                    spans[start:end] = found

    def _force(self, decoder: Decoder, first: int, last: int, window: Span) -> list[Span] | None:
        """Forced alignment of tokens[first:last] in the window; None if it finds no path."""
        keys = self.keys[first:last]
        if not all(key in self.phones for key in keys) or window[1] - window[0] < 0.05:
            return None
        decoder.set_align_text(" ".join(keys))
        decoder.start_utt()
        decoder.process_raw(self.pcm.read(*window), full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:
            return None
        found = [
            (window[0] + seg.start_frame / FRAME_RATE, window[0] + (seg.end_frame + 1) / FRAME_RATE)
            for seg in decoder.seg()
            if seg.word.split("(")[0] not in NOT_SPEECH and not seg.word.startswith("[")
        ]
        return found if len(found) == len(keys) else None


def _after_pauses(tokens: Sequence[Token], times: list[Span], placed: Sequence[bool]) -> None:
    """A sentence's first word placed before the pause that ends the sentence before it (a
    short "A" is easily aligned there) moves to just before the word after the pause."""
    for index in range(1, len(tokens) - 1):
        start, end = times[index]
        after = times[index + 1][0]
        if (
            tokens[index - 1].sentence_end
            and not tokens[index].sentence_end
            and placed[index] and placed[index + 1]
            and after - end >= SENTENCE_PAUSE
            and end - start < after - end
        ):  # fmt: skip
            times[index] = (after - (end - start), after)


def _runs(spans: Sequence[Span | None], missing: bool) -> Iterator[tuple[int, int]]:
    """(first, last) index ranges of consecutive spans that are (missing=True) or aren't None."""
    first = None
    for index, span in enumerate([*spans, 0.0 if missing else None]):  # sentinel ends a run
        if (span is None) == missing:
            first = index if first is None else first
        elif first is not None:
            yield first, index
            first = None


def _window(spans: Sequence[Span | None], first: int, last: int, duration: float) -> Span:
    """The audio between the placed words either side of tokens[first:last]."""
    before = next((s[1] for s in reversed(spans[:first]) if s is not None), 0.0)
    after = next((s[0] for s in spans[last:] if s is not None), duration)
    return before, after


def _sentences(tokens: Sequence[Token], first: int, last: int) -> Iterator[tuple[int, int]]:
    start = first
    for index in range(first, last):
        if tokens[index].sentence_end or index == last - 1:
            yield start, index + 1
            start = index + 1


def _interpolate(spans: Sequence[Span | None], duration: float) -> tuple[list[Span], list[bool]]:
    """Fill missing spans evenly between their placed neighbours."""
    filled: list[Span] = []
    placed = [span is not None for span in spans]
    done = list(spans)
    for first, last in _runs(spans, missing=True):
        start, end = _window(spans, first, last, duration)
        step = max(0.0, end - start) / (last - first)
        for n in range(first, last):
            done[n] = (start + (n - first) * step, start + (n - first + 1) * step)
    filled = [span for span in done if span is not None]
    return filled, placed
