"""Timed words into WebVTT people can read: the one place the caption layout rules live.

Each cue holds at most MAX_LINES lines of at most MAX_LINE characters, lasts MIN_SECONDS to
MAX_SECONDS, and never overlaps the next. Cues break preferably at sentence ends, then at
clause punctuation, then at pauses of PAUSE seconds or more: the best set of breaks for the
whole text is found at once (dynamic programming), not word by word.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from app.media.captions import format_time
from app.speech.words import TimedWord

MAX_LINE = 42
MAX_LINES = 2
MIN_SECONDS = 1.0
MAX_SECONDS = 7.0
PAUSE = 0.4
# Costs of ending a cue after a word (lower is better), and of what a cue holds.
BREAK_COST = {"sentence": 0.0, "clause": 2.0, "pause": 3.0, "none": 10.0}
SENTENCE_INSIDE = 6.0  # a sentence ending in the middle of a cue
LONG_PAUSE_INSIDE = 8.0  # a cue shown across a silence of a second or more
TOO_SHORT = 20.0  # a cue that cannot be given MIN_SECONDS before the next starts
PER_CUE = 1.0
# Words a line should not end on: they belong with the next one.
DANGLING = frozenset(
    {"a", "an", "the", "of", "to", "and", "or", "in", "on", "at", "by", "for", "with", "from"}
)


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def make_cues(words: Sequence[TimedWord], clip_end: float | None = None) -> list[Cue]:
    """Cues for `words` (in time order); `clip_end` bounds the last cue."""
    words = [piece for word in words for piece in _fit_long_word(word)]
    if not words:
        return []
    end = max(clip_end or 0.0, words[-1].end)
    cues: list[Cue] = []
    breaks = _best_breaks(words, end)
    for first, last in zip([0, *breaks], breaks, strict=False):
        following = words[last].start if last < len(words) else end
        start, stop = _times(words[first:last], cues[-1].end if cues else 0.0, following)
        lines = split_lines([w.text for w in words[first:last]])
        cues.append(Cue(start, stop, lines or (" ".join(w.text for w in words[first:last]),)))
    return cues


def to_webvtt(cues: Sequence[Cue], note: str) -> str:
    """A WebVTT file with `note` (how the captions were made) as its NOTE block."""
    note = " ".join(note.replace("-->", "->").split())
    out = ["WEBVTT", "", "NOTE", note, ""]
    for cue in cues:
        out.append(f"{format_time(cue.start)} --> {format_time(cue.end)}")
        out.extend(_escape(line) for line in cue.lines)
        out.append("")
    return "\n".join(out)


def split_lines(text_words: Sequence[str]) -> tuple[str, ...] | None:
    """The words as one line, or two balanced lines (preferring a break after punctuation);
    None when they do not fit in MAX_LINES lines of MAX_LINE characters."""
    whole = " ".join(text_words)
    if len(whole) <= MAX_LINE:
        return (whole,)
    best: tuple[float, tuple[str, ...]] | None = None
    for cut in range(1, len(text_words)):
        top, bottom = " ".join(text_words[:cut]), " ".join(text_words[cut:])
        if len(top) > MAX_LINE or len(bottom) > MAX_LINE:
            continue
        score = abs(len(top) - len(bottom)) - (12 if top[-1] in ",;:.!?—–" else 0)
        score += 6 if text_words[cut - 1].lower() in DANGLING else 0
        if best is None or score < best[0]:
            best = (score, (top, bottom))
    return best[1] if best else None


def _best_breaks(words: Sequence[TimedWord], end: float) -> list[int]:
    """Indexes after which cues end (the last is len(words)), at the lowest total cost."""
    count = len(words)
    # best[i]: (cost of cues for words[:i], where the last of them starts, when it ends)
    best: list[tuple[float, int, float]] = [(0.0, 0, 0.0)] + [(float("inf"), 0, 0.0)] * count
    for last in range(1, count + 1):
        following = words[last].start if last < count else end
        for first in range(last - 1, -1, -1):
            if best[first][0] == float("inf"):
                continue
            cost = _cue_cost(words, first, last)
            if cost is None:
                if first < last - 1:
                    break  # adding earlier words only makes it longer
                cost = TOO_SHORT * 2  # a single word that breaks the rules: shown anyway
            start, stop = _times(words[first:last], best[first][2], following)
            if stop - start < MIN_SECONDS - 0.0005:
                cost += TOO_SHORT
            if best[first][0] + cost < best[last][0]:
                best[last] = (best[first][0] + cost, first, stop)
    breaks, last = [], count
    while last > 0:
        breaks.append(last)
        last = best[last][1]
    return breaks[::-1]


def _cue_cost(words: Sequence[TimedWord], first: int, last: int) -> float | None:
    """The cost of one cue of words[first:last] but its timing; None if it breaks a hard rule."""
    chunk = words[first:last]
    if chunk[-1].end - chunk[0].start > MAX_SECONDS:
        return None
    if sum(len(w.text) + 1 for w in chunk) > (MAX_LINE + 1) * MAX_LINES:
        return None
    if not split_lines([w.text for w in chunk]):
        return None
    cost = PER_CUE + BREAK_COST[_break_kind(words, last - 1)]
    for index in range(first, last - 1):
        if words[index].sentence_end:
            cost += SENTENCE_INSIDE
        if words[index + 1].start - words[index].end >= 1.0:
            cost += LONG_PAUSE_INSIDE
    return cost


def _break_kind(words: Sequence[TimedWord], index: int) -> str:
    word = words[index]
    if word.sentence_end or index == len(words) - 1:
        return "sentence"
    if word.clause_end:
        return "clause"
    if words[index + 1].start - word.end >= PAUSE:
        return "pause"
    return "none"


def _times(
    chunk: Sequence[TimedWord], previous_end: float, following: float
) -> tuple[float, float]:
    """When the cue of `chunk` shows: from its first word, at least MIN_SECONDS where the cues
    around it leave room, never before `previous_end` nor past `following`; in whole ms."""
    ms = 1000
    start = max(round(chunk[0].start * ms), round(previous_end * ms))
    limit = max(round(following * ms), start + 1)
    end = min(max(round(chunk[-1].end * ms), start + round(MIN_SECONDS * ms)), limit)
    if end - start < MIN_SECONDS * ms:  # no room after: start earlier, into the silence before
        start = max(round(previous_end * ms), end - round(MIN_SECONDS * ms))
    end = min(end, start + round(MAX_SECONDS * ms))
    return start / ms, end / ms


def _fit_long_word(word: TimedWord) -> list[TimedWord]:
    """A word longer than a line (a URL) as line-sized pieces sharing its time."""
    if len(word.text) <= MAX_LINE:
        return [word]
    pieces = [word.text[n : n + MAX_LINE] for n in range(0, len(word.text), MAX_LINE)]
    step = (word.end - word.start) / len(pieces)
    return [
        TimedWord(
            piece, word.start + n * step, word.start + (n + 1) * step,
            word.sentence_end and n == len(pieces) - 1,
            word.clause_end and n == len(pieces) - 1, word.placed,
        )
        for n, piece in enumerate(pieces)
    ]  # fmt: skip


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
