import pytest

from app.media.durations import format_duration, iso_duration, spoken_duration


@pytest.mark.parametrize(
    ("seconds", "text", "iso", "spoken"),
    [
        (0, "0:00", "PT0S", "0 seconds"),
        (5.9, "0:05", "PT5S", "5 seconds"),
        (205.03, "3:25", "PT3M25S", "3 minutes 25 seconds"),
        (65, "1:05", "PT1M5S", "1 minute 5 seconds"),
        (3723, "1:02:03", "PT1H2M3S", "1 hour 2 minutes 3 seconds"),
        (3600, "1:00:00", "PT1H", "1 hour"),
        (float("nan"), "0:00", "PT0S", "0 seconds"),
        (-3, "0:00", "PT0S", "0 seconds"),
    ],
)
def test_duration_forms(seconds: float, text: str, iso: str, spoken: str) -> None:
    assert format_duration(seconds) == text
    assert iso_duration(seconds) == iso
    assert spoken_duration(seconds) == spoken
