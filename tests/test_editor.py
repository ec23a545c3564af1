"""The caption editor without JavaScript: the form of cues, saving, validation, restoring the
machine-made text, and the write rule (token or loopback, never cross-site)."""

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.catalog.database import new_id
from app.catalog.models import Media
from app.config import Settings
from app.jobs.processing import new_track, store_track
from app.main import create_app
from app.media.captions import parse_vtt
from app.media.cue_edits import CueRow, check_cues, parse_cue_time, rows_from_form
from app.storage.base import media_key
from tests.conftest import stored_files

MACHINE_VTT = """WEBVTT

NOTE
Captions made by amps by speech recognition. Automatic captions may contain errors.

00:00:00.500 --> 00:00:02.000
The city council <script>met</script> & voted

00:00:02.000 --> 00:00:04.250
on the new budget today.
"""
ORIGIN = "http://testserver"


def add_clip(app: FastAPI, duration: float = 10.0) -> str:
    """A clip's record straight into the catalog (the editor needs no media file)."""
    media_id = new_id()
    app.state.catalog.add(
        Media(
            id=media_id, title="Council <b>budget</b>", kind="video", status="ready",
            duration=duration, mime_type="video/mp4", size=1,
            storage_key=media_key(media_id, "original.mp4"), sha256="0" * 64,
        )
    )  # fmt: skip
    return media_id


def add_machine_track(app: FastAPI, media_id: str, origin: str = "automatic") -> str:
    """A track as the automatic job stores one."""
    track = new_track(
        media_id, kind="captions", srclang="en", label="English (automatic)", origin=origin,
        reviewed=False,
    )  # fmt: skip
    library = app.state.library
    return store_track(library.storage, library.catalog, track, MACHINE_VTT).id


@pytest.fixture
def clip(client: TestClient) -> dict[str, str]:
    app: FastAPI = client.app  # type: ignore[assignment]
    media_id = add_clip(app)
    return {"media": media_id, "track": add_machine_track(app, media_id)}


def edit_url(clip: dict[str, str]) -> str:
    return f"/media/{clip['media']}/tracks/{clip['track']}/edit"


def track_record(client: TestClient, clip: dict[str, str]) -> dict[str, Any]:
    record = client.get(f"/api/media/{clip['media']}").json()
    return next(t for t in record["tracks"] if t["id"] == clip["track"])


def labels(client: TestClient, clip: dict[str, str]) -> tuple[str, bool]:
    track = track_record(client, clip)
    return track["origin"], track["reviewed"]


def vtt_of(client: TestClient, clip: dict[str, str]) -> str:
    response = client.get(f"/media/{clip['media']}/tracks/{clip['track']}.vtt")
    assert response.status_code == 200
    return response.text


def form(*cues: tuple[str, str, str], reviewed: bool = False, **extra: str) -> dict[str, str]:
    fields = {f"cue-{i}-{name}": value for i, cue in enumerate(cues)
              for name, value in zip(("start", "end", "text"), cue, strict=True)}  # fmt: skip
    if reviewed:
        fields["reviewed"] = "1"
    return fields | extra


GOOD = form(("0:00.500", "0:02.000", "The city council met"), ("0:02.000", "0:04.250", "today."))


def post(client: TestClient, url: str, data: dict[str, str], **headers: str) -> Any:
    return client.post(
        url, data=data, headers={"origin": ORIGIN, **headers}, follow_redirects=False
    )


def field_tag(html: str, field_id: str) -> str:
    match = re.search(rf'<(?:input|textarea)[^>]*\bid="{re.escape(field_id)}"[^>]*>', html)
    assert match, f"no field {field_id}"
    return match[0]


def test_page_shows_the_cues_escaped(client: TestClient, clip: dict[str, str]) -> None:
    response = client.get(edit_url(clip))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "<script>met" not in html and "&lt;script&gt;met&lt;/script&gt; &amp; voted" in html
    assert "Council &lt;b&gt;budget&lt;/b&gt;" in html
    assert 'value="0:00.500"' in html and 'value="0:04.250"' in html
    assert 'aria-describedby="amps-time-hint"' in field_tag(html, "cue-0-start")
    assert '<label for="cue-1-text"' in html
    assert "Restore the machine-made captions" not in html  # nothing edited yet
    assert "may contain errors" in html
    assert not re.search(r'id="amps-reviewed"[^>]*checked', html)
    watch = client.get(f"/media/{clip['media']}").text
    assert f'href="{edit_url(clip)}"' in watch and "Edit captions: English (automatic)" in watch
    arabic = client.get(edit_url(clip) + "?lang=ar").text
    assert '<html lang="ar" dir="rtl">' in arabic and "تحرير التسميات التوضيحية" in arabic
    assert 'dir="ltr"' in field_tag(arabic, "cue-0-start")


def test_save_writes_an_edited_reviewed_track(
    client: TestClient, clip: dict[str, str], settings: Settings
) -> None:
    response = post(client, edit_url(clip), GOOD | {"reviewed": "1"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(edit_url(clip) + "?lang=en&done=saved")
    vtt = vtt_of(client, clip)
    assert vtt.startswith("WEBVTT\n\nNOTE\nCaptions edited by a person")
    cues = parse_vtt(vtt)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.5, 2.0, "The city council met"), (2.0, 4.25, "today."),
    ]  # fmt: skip
    assert labels(client, clip) == ("edited", True)
    page = client.get(response.headers["location"]).text
    assert re.search(r'role="status"[^>]*>Captions saved\.</p>', page)
    assert "<title>Captions saved." in page
    assert "Restore the machine-made captions" in page
    # The machine-made file is kept beside the edited one, nothing else is left behind.
    assert len([p for p in stored_files(settings.media_dir) if p.suffix == ".vtt"]) == 2


# One form holding every mistake the editor refuses, each in a cue of its own.
MISTAKES = (
    ("0:01.000", "0:00.500", "Backwards"),
    ("0:02.000", "0:03.000", "One"),
    ("0:02.500", "0:04.000", "Two"),
    ("0:05.000", "0:06.000", "  \n "),
    ("one second", "0:07.000", "Words"),
    ("0:09.000", "0:12.000", "Late"),
    ("0:12.000", "0:12.500", "Later"),
)
EXPECTED = {
    "cue-0-end": "The end must be after the start (0:01.000).",
    "cue-2-start": "The cue starts before the previous cue ends (0:03.000).",
    "cue-3-text": "Enter the cue&#39;s text.",
    "cue-4-start": "Enter the time like 0:01.250.",
    "cue-5-end": "The time is past the end of the clip (0:10.000).",
    "cue-6-start": "The time is past the end of the clip (0:10.000).",
    "cue-6-end": "The time is past the end of the clip (0:10.000).",
}


def test_each_error_beside_its_field_nothing_saved(
    client: TestClient, clip: dict[str, str]
) -> None:
    before = vtt_of(client, clip)
    response = post(client, edit_url(clip), form(*MISTAKES, reviewed=True))
    assert response.status_code == 422
    html = response.text
    errors = dict(re.findall(r'<span class="amps-error" id="([\w-]+)-error">([^<]*)</span>', html))
    assert errors == EXPECTED
    for field in EXPECTED:
        tag = field_tag(html, field)
        assert 'aria-invalid="true"' in tag and f"{field}-error" in tag
    assert "aria-invalid" not in field_tag(html, "cue-1-start")
    summary = re.search(
        r'<div class="amps-error-summary"[^>]*autofocus[^>]*>(.*?)</div>', html, re.S
    )
    assert summary
    assert re.findall(r'href="#([\w-]+)"', summary[1]) == list(EXPECTED)
    assert "Cue 1, End: The end must be after the start" in summary[1]
    assert "<title>Error:" in html
    for value in (v for cue in MISTAKES for v in cue if v.strip()):  # what was typed is kept
        assert unescape(value) in unescape(html)
    assert re.search(r'id="amps-reviewed"[^>]*checked', html)
    assert vtt_of(client, clip) == before
    assert labels(client, clip) == ("automatic", False)


def test_restore_brings_the_machine_text_back(
    client: TestClient, clip: dict[str, str], settings: Settings
) -> None:
    post(client, edit_url(clip), GOOD | {"reviewed": "1"})
    restore = f"/media/{clip['media']}/tracks/{clip['track']}/restore"
    response = post(client, restore, GOOD)
    assert response.status_code == 303 and "done=restored" in response.headers["location"]
    assert vtt_of(client, clip) == MACHINE_VTT
    assert labels(client, clip) == ("automatic", False)
    page = client.get(response.headers["location"]).text
    assert "The machine-made captions are back." in page
    assert "Restore the machine-made captions" not in page
    assert len([p for p in stored_files(settings.media_dir) if p.suffix == ".vtt"]) == 1


def test_uploaded_tracks_are_editable_without_restore(client: TestClient) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    media_id = add_clip(app)
    track = app.state.library.add_track(media_id, "subtitles", "es", "Español", MACHINE_VTT)
    clip = {"media": media_id, "track": track.id}
    assert post(client, edit_url(clip), GOOD).status_code == 303
    assert labels(client, clip) == ("edited", False)
    assert "Restore the machine-made captions" not in client.get(edit_url(clip)).text
    assert parse_vtt(vtt_of(client, clip))[0].text == "The city council met"


def test_cross_site_post_refused(client: TestClient, clip: dict[str, str]) -> None:
    response = post(client, edit_url(clip), GOOD, origin="https://evil.example")
    assert response.status_code == 403
    assert "sent from another site" in response.text
    assert 'id="amps-form"' in response.text
    assert track_record(client, clip)["origin"] == "automatic"
    sneaky = post(client, edit_url(clip), GOOD, **{"sec-fetch-site": "cross-site"})
    assert sneaky.status_code == 403


@pytest.fixture
def guarded(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings.api_token = "s3cret-token"
    with TestClient(create_app(settings), client=("203.0.113.9", 4000)) as remote:
        app: FastAPI = remote.app  # type: ignore[assignment]
        media_id = add_clip(app)
        yield remote, {"media": media_id, "track": add_machine_track(app, media_id)}


def test_token_required_when_set(guarded: tuple[TestClient, dict[str, str]]) -> None:
    remote, clip = guarded
    page = remote.get(edit_url(clip)).text
    assert 'name="token"' in page and "s3cret-token" not in page
    assert "You need the API token to save." in page
    missing = post(remote, edit_url(clip), GOOD)
    assert missing.status_code == 401
    assert 'aria-invalid="true"' in field_tag(missing.text, "amps-token")
    assert "The city council met" in missing.text  # the entered cues are kept
    wrong = post(remote, edit_url(clip), GOOD | {"token": "guess"})
    assert wrong.status_code == 403 and "The API token is wrong" in wrong.text
    assert "guess" not in wrong.text
    assert track_record(remote, clip)["origin"] == "automatic"
    right = post(remote, edit_url(clip), GOOD | {"token": "s3cret-token"})
    assert right.status_code == 303
    assert track_record(remote, clip)["origin"] == "edited"
    assert "s3cret-token" not in remote.get(right.headers["location"]).text


def test_no_token_refuses_other_machines(settings: Settings) -> None:
    with TestClient(create_app(settings), client=("203.0.113.9", 4000)) as remote:
        app: FastAPI = remote.app  # type: ignore[assignment]
        media_id = add_clip(app)
        clip = {"media": media_id, "track": add_machine_track(app, media_id)}
        assert "only from the server&#39;s own machine" in remote.get(edit_url(clip)).text
        assert post(remote, edit_url(clip), GOOD).status_code == 403
        assert track_record(remote, clip)["origin"] == "automatic"


def test_unknown_clip_or_track_404_page(client: TestClient, clip: dict[str, str]) -> None:
    for url in (
        f"/media/{'A' * 22}/tracks/{clip['track']}/edit",
        f"/media/{clip['media']}/tracks/0123456789abcdef/edit",
        "/media/not-an-id!/tracks/x/edit",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
        assert "No such captions track" in response.text
    missing = post(client, f"/media/{clip['media']}/tracks/0123456789abcdef/edit", GOOD)
    assert missing.status_code == 404


def test_times_and_rules() -> None:
    assert parse_cue_time("0:01.250") == 1.25
    assert parse_cue_time("1:02:03.5") == 3723.5
    assert parse_cue_time("75,25") == 75.25
    assert parse_cue_time("1:60") is None and parse_cue_time("") is None
    rows = rows_from_form([("cue-10-text", "b"), ("cue-2-text", "a"), ("token", "x")])
    assert [r.text for r in rows] == ["a", "b"]
    cues, problems = check_cues([CueRow("0:00", "0:01", "a\n\n  b  ")], 5.0)
    assert not problems and cues[0].text == "a\nb"
    assert check_cues([], 5.0)[1][0].key == "cue_none"
