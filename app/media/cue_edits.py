"""Cues as a person typed them in the caption editor: read, checked and written as WebVTT.

The one place the editor's rules live: a readable time (`0:01.250`, `1:02:03.5`, `75.25`), an
end after the start, no overlap with the cue before, nothing past the clip's end, some text.
Each problem names its cue and field with a message key (the page translates it), so the form
can show it next to the field; nothing is saved while any problem is left.
"""

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.media.captions import MAX_CUE_TEXT, MAX_CUES, Cue, to_vtt
from app.media.durations import format_cue_time

# [[h:]m:]s[.fraction]: a comma is taken for the decimal point too; digits of any script.
_TIME = re.compile(r"(?:(?:(\d{1,6}):)?(\d{1,2}):)?(\d{1,6})(?:[.,](\d{1,3}))?")
_FIELD = re.compile(r"cue-(\d{1,6})-(start|end|text|settings)")
FIELDS = ("start", "end", "text")
TOLERANCE = 0.0005  # half a millisecond: what a time written to the ms may be off by


@dataclass(frozen=True)
class CueRow:
    """One cue of the form, as entered (text fields, unchecked)."""

    start: str = ""
    end: str = ""
    text: str = ""
    settings: str = ""  # WebVTT cue settings (position, align...), carried through unchanged


@dataclass(frozen=True)
class CueProblem:
    """What is wrong with one field of one cue (`index` from 0); `key` names the message and
    `values` fill it in. `index` None: the track as a whole (no cues, too many)."""

    index: int | None
    field: str
    key: str
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def field_id(self) -> str:
        return f"cue-{self.index}-{self.field}" if self.index is not None else "cues"


def parse_cue_time(text: str) -> float | None:
    """Seconds from `0:01.250`, `1:02:03.5`, `01:02.5`, `75.25` or `1:05`; None when unreadable."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    hours, minutes, seconds, fraction = match.groups()
    if minutes is not None and int(seconds) > 59:
        return None
    if hours is not None and int(minutes) > 59:
        return None
    millis = int(fraction.ljust(3, "0")) if fraction else 0
    total = (int(hours or 0) * 60 + int(minutes or 0)) * 60 + int(seconds)
    return total + millis / 1000


def rows_from_form(items: Iterable[tuple[str, str]]) -> list[CueRow]:
    """The cue rows of a posted form (`cue-N-start`, `-end`, `-text`, `-settings`), in N order;
    other fields are ignored. At most MAX_CUES + 1 rows are read (one more is an error)."""
    found: dict[int, dict[str, str]] = {}
    for name, value in items:
        match = _FIELD.fullmatch(name)
        if match is None:
            continue
        index = int(match[1])
        if index in found or len(found) <= MAX_CUES:
            found.setdefault(index, {})[match[2]] = value
    return [CueRow(**found[index]) for index in sorted(found)]


def check_cues(rows: list[CueRow], duration: float | None) -> tuple[list[Cue], list[CueProblem]]:
    """The rows as cues, or every problem found (then the cues are not to be saved).

    `duration`: the clip's length in seconds (None or 0 when unknown: not checked)."""
    if not rows:
        return [], [CueProblem(None, "cues", "cue_none")]
    if len(rows) > MAX_CUES:
        return [], [CueProblem(None, "cues", "cue_too_many", {"count": f"{MAX_CUES:,}"})]
    problems: list[CueProblem] = []
    cues: list[Cue] = []
    previous_end: float | None = None
    for index, row in enumerate(rows):
        start, end = parse_cue_time(row.start), parse_cue_time(row.end)
        found = _time_problems(index, start, end, previous_end, duration)
        found += _text_problems(index, row.text)
        problems += found
        if start is not None and end is not None and not found:
            cues.append(Cue(start, end, _clean_text(row.text), settings=row.settings))
        if end is not None and (start is None or end > start):
            previous_end = end
    return (cues if not problems else []), problems


def _time_problems(
    index: int,
    start: float | None,
    end: float | None,
    previous_end: float | None,
    duration: float | None,
) -> list[CueProblem]:
    problems: list[CueProblem] = []
    if start is None:
        problems.append(CueProblem(index, "start", "cue_time_unreadable"))
    elif previous_end is not None and start < previous_end - TOLERANCE:
        problems.append(
            CueProblem(index, "start", "cue_overlap", {"end": format_cue_time(previous_end)})
        )
    elif duration and start >= duration:
        problems.append(
            CueProblem(index, "start", "cue_past_duration", {"duration": format_cue_time(duration)})
        )
    if end is None:
        problems.append(CueProblem(index, "end", "cue_time_unreadable"))
    elif start is not None and end <= start:
        problems.append(
            CueProblem(index, "end", "cue_end_not_after_start", {"start": format_cue_time(start)})
        )
    elif duration and end > duration + TOLERANCE:
        problems.append(
            CueProblem(index, "end", "cue_past_duration", {"duration": format_cue_time(duration)})
        )
    return problems


def _text_problems(index: int, text: str) -> list[CueProblem]:
    if not _clean_text(text):
        return [CueProblem(index, "text", "cue_text_empty")]
    if len(text) > MAX_CUE_TEXT:
        return [CueProblem(index, "text", "cue_text_long", {"count": f"{MAX_CUE_TEXT:,}"})]
    return []


def _clean_text(text: str) -> str:
    """Lines without trailing space and no blank line (a blank line would end a WebVTT cue);
    control characters go (they are invisible and break players)."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    lines = (line.strip() for line in re.split(r"\r\n|\r|\n", text))
    return "\n".join(line for line in lines if line)


def edited_vtt(cues: list[Cue], note: str) -> str:
    """The cues as clean WebVTT, with `note` (who edited them, when) as its NOTE block."""
    body = to_vtt(cues).removeprefix("WEBVTT\n\n")
    note = " ".join(note.replace("-->", "->").split())
    return f"WEBVTT\n\nNOTE\n{note}\n\n{body}"
