"""WebVTT and SRT cues: read leniently, checked line by line, written back as clean WebVTT.

Cue text is kept as WebVTT markup in which only real WebVTT tags (`<i>`, `<v Name>`, ...) are
tags: anything else that looks like one (`<script>`) is literal text, escaped on output, so
a browser and our transcript show the same words.
"""

import codecs
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_BYTES = 2 * 1024 * 1024
MAX_CUES = 20_000
MAX_CUE_TEXT = 5_000

_HEADER = re.compile(r"WEBVTT(?:[ \t].*)?")
_KEYWORD_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t].*)?")
_TIMING_LIKE = re.compile(r"-->|^\s*\d{1,2}:\d")
_VTT_TIME = re.compile(r"(?:(\d{1,6}):)?(\d{2}):(\d{2})\.(\d{3})")
_SRT_TIME = re.compile(r"(?:(\d{1,6}):)?(\d{1,2}):(\d{2})[,.](\d{1,3})")
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SETTING = re.compile(
    r"vertical:(?:rl|lr)"
    r"|line:-?\d{1,3}(?:\.\d+)?%?(?:,(?:start|center|end))?"
    r"|position:\d{1,3}(?:\.\d+)?%(?:,(?:line-left|center|line-right))?"
    r"|size:\d{1,3}(?:\.\d+)?%"
    r"|align:(?:start|center|end|left|right)"
)
# Tags: the WebVTT ones in cue text; in SRT, the style tags players honour.
_TAG = re.compile(r"<[^<>]*>")
_VTT_START = re.compile(
    r"<(c|i|b|u|ruby|rt|v|lang)((?:\.[A-Za-z0-9_-]+)*)(?:[ \t\n\f]+([^<>]*))?>", re.IGNORECASE
)
_VTT_END = re.compile(r"</(c|i|b|u|ruby|rt|v|lang)[ \t]*>", re.IGNORECASE)
_VTT_TIME_TAG = re.compile(r"<(?:\d{1,6}:)?[0-5]\d:[0-5]\d\.\d{3}>")
_SRT_MARKUP = re.compile(r"<[^<>]*>|\{\\[^{}]*\}")
_SRT_STYLE = re.compile(r"<(/?)([ibu])[ \t]*>", re.IGNORECASE)
_ANNOTATED = ("v", "lang")

# Default track labels, in the language itself, for the languages a user is likeliest to meet.
LANGUAGE_NAMES = {
    "ar": "العربية",
    "de": "Deutsch",
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "hi": "हिन्दी",
    "it": "Italiano",
    "ja": "日本語",
    "ko": "한국어",
    "nl": "Nederlands",
    "pl": "Polski",
    "pt": "Português",
    "ru": "Русский",
    "sv": "Svenska",
    "tr": "Türkçe",
    "uk": "Українська",
    "zh": "中文",
}

Line = tuple[int, str]  # (1-based line number, text)


class CaptionError(ValueError):
    """A track file we refuse; str() says which line is wrong and how."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str  # WebVTT cue text: markup with real tags only, see the module docstring
    identifier: str | None = None
    settings: str = ""


@dataclass(frozen=True)
class _Format:
    time: re.Pattern[str]
    example: str  # a timing line, for error messages
    srt: bool


_VTT = _Format(_VTT_TIME, "00:01.000 --> 00:04.000", srt=False)
_SRT = _Format(_SRT_TIME, "00:00:01,000 --> 00:00:04,000", srt=True)


def parse_track(data: bytes, filename: str | None = None) -> list[Cue]:
    """The cues of an uploaded WebVTT or SRT file (told apart by content), sorted by start."""
    if len(data) > MAX_BYTES:
        raise CaptionError(
            "The file is larger than 2 MiB; captions even for a long film are far smaller, "
            "so check that this is the right file."
        )
    text = _decode(data)
    if not text.strip():
        raise CaptionError("The file is empty.")
    if text.lstrip("\r\n\t ").startswith("WEBVTT"):
        return parse_vtt(text)
    if filename and filename.lower().endswith(".vtt"):
        lines = _lines(text)
        number = next(i for i, line in enumerate(lines, 1) if line.strip())
        raise _not_webvtt(number, lines[number - 1])
    return parse_srt(text)


def parse_vtt(text: str) -> list[Cue]:
    lines = _lines(text)
    blocks = list(_blocks(lines))
    if not blocks:
        raise CaptionError("The file is empty.")
    number, header = blocks[0][0]
    if not _HEADER.fullmatch(header):
        raise CaptionError(
            f"Line {number}: a WebVTT file starts with `WEBVTT`, not `{_quote(header)}`."
        )
    # The header ends at the first blank line; a timing line before it starts the first cue.
    arrow = next((i for i, (_, line) in enumerate(blocks[0][1:], 1) if "-->" in line), None)
    cue_blocks = blocks[1:] if arrow is None else [blocks[0][arrow:], *blocks[1:]]
    return _collect((b for b in cue_blocks if not _is_keyword_block(b)), _VTT)


def parse_srt(text: str) -> list[Cue]:
    blocks = list(_blocks(_lines(text)))
    if not blocks:
        raise CaptionError("The file is empty.")
    return _collect(iter(blocks), _SRT)


def to_vtt(cues: list[Cue]) -> str:
    """Clean WebVTT: cues sorted by start, times as hh:mm:ss.ttt, text escaped where it must be."""
    out = ["WEBVTT", ""]
    for cue in sorted(cues, key=lambda c: c.start):
        identifier = (cue.identifier or "").strip()
        if identifier and "-->" not in identifier and not re.search(r"[\r\n]", identifier):
            out.append(identifier)
        settings = _clean_settings(cue.settings)
        out.append(
            f"{format_time(cue.start)} --> {format_time(cue.end)}{settings and ' '}{settings}"
        )
        text = _serialise(_vtt_tokens(cue.text))
        out.extend(line for line in text.split("\n") if line.strip())
        out.append("")
    return "\n".join(out)


def cue_plain_text(cue: Cue) -> str:
    """The words of a cue, tags dropped and entities decoded: plain text, to be escaped later."""
    return "".join(value for is_tag, value in _vtt_tokens(cue.text) if not is_tag)


def cue_editable_text(cue: Cue) -> str:
    """A cue's text as a person edits it: WebVTT tags kept, everything else as plain characters
    (`&amp;` shown as `&`); to_vtt() reads it back the same way."""
    return "".join(value for _, value in _vtt_tokens(cue.text))


def format_time(seconds: float) -> str:
    millis = max(round(seconds * 1000), 0)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def track_label(srclang: str) -> str:
    """A label for a track when the uploader gave none: the language's own name, or the tag."""
    return LANGUAGE_NAMES.get(srclang.partition("-")[0].lower(), srclang)


# Reading text


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252 as old SRT files are."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        elif b"\x00" in data:
            text = "\x00"
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.removeprefix(codecs.BOM_UTF8).decode("cp1252")
    except UnicodeDecodeError:
        raise CaptionError(
            "This is not text in UTF-8 or Windows-1252: upload a WebVTT (.vtt) or SubRip (.srt) "
            "file, saved as UTF-8."
        ) from None
    if "\x00" in text:
        raise CaptionError(
            "This is not a text file we can read (it holds NUL bytes): upload a WebVTT (.vtt) "
            "or SubRip (.srt) file, saved as UTF-8."
        )
    return text


def _lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", _CONTROL.sub("", text.removeprefix("\ufeff")))


def _not_webvtt(number: int, line: str) -> CaptionError:
    return CaptionError(f"Line {number}: a WebVTT file starts with `WEBVTT`, not `{_quote(line)}`.")


def _blocks(lines: list[str]) -> Iterator[list[Line]]:
    """Runs of non-blank lines, numbered from 1."""
    block: list[Line] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _is_keyword_block(block: list[Line]) -> bool:
    """NOTE, STYLE and REGION blocks (unless they are a cue whose identifier is the word)."""
    has_timing = len(block) > 1 and "-->" in block[1][1]
    return bool(_KEYWORD_BLOCK.fullmatch(block[0][1])) and not has_timing


def _quote(line: str, width: int = 60) -> str:
    line = line.strip().replace("`", "'")
    return line if len(line) <= width else line[: width - 1] + "…"


# Reading cues


def _collect(blocks: Iterator[list[Line]], fmt: _Format) -> list[Cue]:
    cues: list[Cue] = []
    for block in blocks:
        rest = block
        while rest:
            if len(cues) == MAX_CUES:
                raise CaptionError(
                    f"Line {rest[0][0]}: a track may hold at most {MAX_CUES:,} cues; "
                    "split the file, or check that it is the right one."
                )
            cue, rest = _read_cue(rest, fmt)
            cues.append(cue)
    if not cues:
        raise CaptionError(
            "The file has no cues: a cue is a timing line such as "
            f"`{fmt.example}` followed by its text."
        )
    return sorted(cues, key=lambda c: c.start)


def _timing_at(block: list[Line]) -> int:
    """Which of a block's first two lines is (or was meant to be) its timing line."""
    if "-->" in block[0][1] or len(block) == 1:
        return 0
    if "-->" in block[1][1]:
        return 1
    if _TIMING_LIKE.search(block[0][1]):
        return 0
    return 1 if _TIMING_LIKE.search(block[1][1]) else 0


def _read_cue(block: list[Line], fmt: _Format) -> tuple[Cue, list[Line]]:
    """The block's first cue, and what is left when a timing line comes without a blank line."""
    at = _timing_at(block)
    number, timing = block[at]
    if not _TIMING_LIKE.search(timing):
        raise CaptionError(
            f"Line {number}: expected a cue timing such as `{fmt.example}` here, "
            f"found `{_quote(timing)}`."
        )
    start, end, settings = _read_timing(number, timing, fmt)
    payload = block[at + 1 :]
    cut = next((i for i, (_, line) in enumerate(payload) if "-->" in line), len(payload))
    if fmt.srt and cut < len(payload) and cut > 0 and payload[cut - 1][1].strip().isdigit():
        cut -= 1  # the next cue's counter, after a missing blank line
    text_lines = [line for _, line in payload[:cut]]
    if sum(len(line) + 1 for line in text_lines) > MAX_CUE_TEXT + 1:
        raise CaptionError(
            f"Line {number}: this cue's text is longer than {MAX_CUE_TEXT:,} characters."
        )
    tokens = (_srt_tokens if fmt.srt else _vtt_tokens)("\n".join(text_lines))
    identifier = None if at == 0 or fmt.srt else block[0][1].strip()
    cue = Cue(start, end, _serialise(tokens), identifier, settings)
    return cue, payload[cut:]


def _read_timing(number: int, line: str, fmt: _Format) -> tuple[float, float, str]:
    left, arrow, right = line.partition("-->")
    start_text, (end_text, *settings) = left.strip(), right.split(maxsplit=1) or [""]
    if not arrow or not start_text or not end_text:
        raise CaptionError(
            f"Line {number}: the cue timing `{_quote(line)}` is not `start --> end`, "
            f"as in `{fmt.example}`."
        )
    start = _read_time(number, start_text, line, fmt)
    end = _read_time(number, end_text, line, fmt)
    if end < start:
        raise CaptionError(
            f"Line {number}: the cue ends at {format_time(end)}, before it starts at "
            f"{format_time(start)}."
        )
    return start, end, "" if fmt.srt else _clean_settings("".join(settings))


def _read_time(number: int, value: str, line: str, fmt: _Format) -> float:
    match = fmt.time.fullmatch(value)
    if match is None or int(match[2]) > 59 or int(match[3]) > 59:
        example = fmt.example.partition(" ")[0]
        raise CaptionError(
            f"Line {number}: `{_quote(value, 30)}` in `{_quote(line)}` is not a time "
            f"such as `{example}`."
        )
    hours, minutes, seconds = int(match[1] or 0), int(match[2]), int(match[3])
    millis = int(match[4].ljust(3, "0"))
    return (((hours * 60 + minutes) * 60 + seconds) * 1000 + millis) / 1000


def _clean_settings(settings: str) -> str:
    """The cue settings browsers understand; others (and regions, which we drop) go."""
    return " ".join(s for s in settings.split() if _SETTING.fullmatch(s))


# Cue text as tokens: (True, canonical tag) or (False, literal text)


def _vtt_tokens(markup: str) -> list[tuple[bool, str]]:
    tokens: list[tuple[bool, str]] = []
    position = 0
    for match in _TAG.finditer(markup):
        tokens.append((False, html.unescape(markup[position : match.start()])))
        tag = _vtt_tag(match[0])
        tokens.append((False, html.unescape(match[0])) if tag is None else (True, tag))
        position = match.end()
    tokens.append((False, html.unescape(markup[position:])))
    return tokens


def _vtt_tag(tag: str) -> str | None:
    """A WebVTT tag in canonical form, or None when it is not one (so it is text)."""
    if _VTT_TIME_TAG.fullmatch(tag):
        return tag
    if end := _VTT_END.fullmatch(tag):
        return f"</{end[1].lower()}>"
    start = _VTT_START.fullmatch(tag)
    if start is None:
        return None
    name, classes = start[1].lower(), start[2]
    annotation = html.unescape(start[3] or "").strip()
    if name in _ANNOTATED and annotation:
        return f"<{name}{classes} {_escape(annotation)}>"
    return f"<{name}{classes}>"


def _srt_tokens(text: str) -> list[tuple[bool, str]]:
    """SRT text: <i>, <b>, <u> kept; <font> and {\\an8}-style overrides dropped; the rest text."""
    tokens: list[tuple[bool, str]] = []
    position = 0
    for match in _SRT_MARKUP.finditer(text):
        tokens.append((False, html.unescape(text[position : match.start()])))
        if style := _SRT_STYLE.fullmatch(match[0]):
            tokens.append((True, f"<{style[1]}{style[2].lower()}>"))
        elif not match[0].startswith("{") and not re.match(r"</?font\b", match[0], re.I):
            tokens.append((False, html.unescape(match[0])))
        position = match.end()
    tokens.append((False, html.unescape(text[position:])))
    return tokens


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _serialise(tokens: list[tuple[bool, str]]) -> str:
    """Cue text markup, with no blank lines (a blank line would end the cue)."""
    markup = "".join(value if is_tag else _escape(value) for is_tag, value in tokens)
    lines = (line.rstrip() for line in re.split(r"\r\n|\r|\n", markup))
    return "\n".join(line for line in lines if line)
