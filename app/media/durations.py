"""Duration formatting: the one Python place for `3:25`, `PT3M25S` and spoken time."""

import math


def _parts(seconds: float) -> tuple[int, int, int]:
    total = max(0, math.floor(seconds + 1e-6)) if math.isfinite(seconds) else 0
    return total // 3600, (total // 60) % 60, total % 60


def format_duration(seconds: float) -> str:
    """`0:05`, `3:25`, `1:02:03`: how players show time."""
    hours, minutes, secs = _parts(seconds)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_cue_time(seconds: float) -> str:
    """A cue's time to the millisecond, as the caption editor shows it: `0:01.250`."""
    millis = max(round(seconds * 1000), 0) if math.isfinite(seconds) else 0
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{millis:03d}"
    return f"{minutes}:{secs:02d}.{millis:03d}"


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration for `<time datetime>`: `PT3M25S`."""
    hours, minutes, secs = _parts(seconds)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if secs or text == "PT":
        text += f"{secs}S"
    return text


def spoken_duration(seconds: float) -> str:
    """English words for a screen reader: `3 minutes 25 seconds`."""
    hours, minutes, secs = _parts(seconds)
    words = []
    for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")):
        if value:
            words.append(f"{value} {unit}{'' if value == 1 else 's'}")
    return " ".join(words) or "0 seconds"
