"""Translations: every catalogue complete, plural forms right, choice of language."""

import json
import re

import pytest
from babel import Locale

from app.web.i18n import LOCALES, available, catalogue, choose, english


def test_at_least_four_languages_one_right_to_left() -> None:
    assert {"en", "es", "uk", "ar"} <= set(available())
    assert catalogue("ar").dir == "rtl"


@pytest.mark.parametrize("code", ["es", "uk", "ar"])
def test_every_catalogue_has_every_english_string(code: str) -> None:
    assert set(catalogue(code).strings) == set(english().strings)


@pytest.mark.parametrize("code", ["en", "es", "uk", "ar"])
def test_placeholders_match_english(code: str) -> None:
    for key, text in catalogue(code).strings.items():
        wanted = set(re.findall(r"{(\w+)}", english().strings[key]))
        assert set(re.findall(r"{(\w+)}", text)) == wanted, key


@pytest.mark.parametrize("code", ["en", "es", "uk", "ar"])
def test_units_cover_the_languages_plural_forms(code: str) -> None:
    forms = {Locale.parse(code).plural_form(n) for n in range(0, 200)}
    for unit, texts in catalogue(code).units.items():
        assert forms <= set(texts), (unit, forms - set(texts))


def test_spoken_time_uses_plural_rules() -> None:
    assert catalogue("uk").spoken(205) == "3 хвилини 25 секунд"
    assert catalogue("en").spoken(65) == "1 minute 5 seconds"
    assert catalogue("es").spoken(3600) == "1 hora"


def test_catalogue_files_are_valid_json() -> None:
    for path in LOCALES.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("lang", "accept", "expected"),
    [
        (None, None, "en"),
        ("es-MX", None, "es"),
        (None, "uk-UA,uk;q=0.9,en;q=0.8", "uk"),
        (None, "fr;q=1, ar;q=0.1", "ar"),
        (None, "es;q=0, en", "en"),
        (None, "es;q=bogus, en", "en"),
        ("../../etc", "x" * 5000, "en"),
    ],
)
def test_choose(lang: str | None, accept: str | None, expected: str) -> None:
    assert choose(lang, accept).code == expected
