"""UI strings: one catalogue per language in locales/, chosen by `lang=` or Accept-Language."""

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale

LOCALES = Path(__file__).parent / "locales"
DEFAULT = "en"


@dataclass(frozen=True)
class Catalogue:
    code: str
    name: str
    dir: str
    strings: dict[str, str]
    units: dict[str, dict[str, str]]
    joiner: str = " "

    def __call__(self, key: str, **values: object) -> str:
        """The string for `key`, falling back to English, with `{placeholders}` filled."""
        text = self.strings.get(key) or english().strings[key]
        return text.format(**values) if values else text

    def unit(self, unit: str, count: int) -> str:
        forms = self.units[unit]
        form = Locale.parse(self.code).plural_form(count)
        return (forms.get(form) or forms["other"]).format(n=count)

    def spoken(self, seconds: float) -> str:
        """Time as words for a screen reader: `3 minutes 25 seconds`, `3 хвилини 25 секунд`."""
        total = max(0, math.floor(seconds + 1e-6)) if math.isfinite(seconds) else 0
        parts = (("hour", total // 3600), ("minute", total // 60 % 60), ("second", total % 60))
        words = [self.unit(unit, value) for unit, value in parts if value]
        return self.joiner.join(words) or self.unit("second", 0)


@cache
def catalogue(code: str) -> Catalogue:
    data = json.loads((LOCALES / f"{code}.json").read_text(encoding="utf-8"))
    return Catalogue(
        code, data["name"], data["dir"], data["strings"], data["units"], data.get("joiner", " ")
    )


def english() -> Catalogue:
    return catalogue(DEFAULT)


@cache
def available() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in LOCALES.glob("*.json")))


def _primary(tag: str) -> str:
    return tag.strip().split("-")[0].split("_")[0].lower()


def choose(lang: str | None, accept_language: str | None) -> Catalogue:
    """`lang=` wins; then the best Accept-Language entry we have; then English."""
    if lang and _primary(lang) in available():
        return catalogue(_primary(lang))
    ranked: list[tuple[float, int, str]] = []
    for index, entry in enumerate((accept_language or "").split(",")[:30]):
        tag, _, params = entry.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if _primary(tag) in available() and quality > 0:
            ranked.append((-quality, index, _primary(tag)))
    return catalogue(min(ranked)[2]) if ranked else english()
