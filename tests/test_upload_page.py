"""The upload page as a plain form (no JavaScript) and the library page."""

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.catalog.database import new_id
from app.catalog.models import Media
from app.config import Settings
from app.main import create_app
from app.storage.base import media_key
from tests.conftest import stored_files


def post_form(client: TestClient, path: Path, name: str = "clip.mp3", **fields: str):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return client.post(
            "/upload", files={"file": (name, handle)}, data=fields, follow_redirects=False
        )


def test_upload_page_is_a_labelled_form(client: TestClient) -> None:
    html = client.get("/upload").text
    assert '<form class="amps-upload" method="post" action="/upload"' in html
    assert '<label for="amps-file">' in html and 'id="amps-file" name="file"' in html
    assert "<progress" in html and "amps-token" not in html


def test_form_post_redirects_to_the_new_watch_page(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    response = post_form(client, media_files["cbr.mp3"], title="From the form")
    assert response.status_code == 303
    watch = client.get(response.headers["location"])
    assert watch.status_code == 200 and '<h1 dir="auto">From the form</h1>' in watch.text


def test_form_error_is_shown_next_to_the_field_and_input_kept(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    fake = tmp_path / "notes.mp3"
    fake.write_text("not audio at all\n" * 100)
    response = post_form(client, fake, title="Keep <me>", language="en")
    assert response.status_code == 415
    html = response.text
    assert 'aria-invalid="true"' in html.split('id="amps-file"')[1].split(">")[0]
    assert '<p class="amps-error" id="amps-file-error">' in html
    assert 'value="Keep &lt;me&gt;"' in html
    assert stored_files(settings.media_dir) == []


def test_form_needs_the_token_when_one_is_set(tmp_path: Path, media_files: dict[str, Path]) -> None:
    settings = Settings(media_dir=tmp_path / "m", api_token="s3cret")
    with TestClient(create_app(settings), client=("203.0.113.5", 1)) as client:
        assert 'id="amps-token"' in client.get("/upload").text
        wrong = post_form(client, media_files["cbr.mp3"], token="nope")
        assert wrong.status_code == 403 and 'id="amps-token-error">The API token' in wrong.text
        assert stored_files(settings.media_dir) == []
        right = post_form(client, media_files["cbr.mp3"], token="s3cret")
        assert right.status_code == 303


def test_cross_site_form_post_is_refused(
    client: TestClient, settings: Settings, media_files: dict[str, Path]
) -> None:
    client.headers["Origin"] = "https://evil.example"
    response = post_form(client, media_files["cbr.mp3"])
    assert response.status_code == 403
    assert stored_files(settings.media_dir) == []


@pytest.fixture
def thirty(client: TestClient) -> list[str]:
    catalog = client.app.state.catalog  # type: ignore[attr-defined]
    titles = [f"Clip {i:02d}" for i in range(29)] + ["Budget 100% final"]
    for title in titles:
        media_id = new_id()
        catalog.add(
            Media(
                id=media_id, title=title, kind="audio", status="ready", duration=65.0,
                mime_type="audio/mpeg", size=1, codecs=[], tags={}, sha256="0",
                storage_key=media_key(media_id, "original.mp3"),
            )
        )  # fmt: skip
    return titles


def test_library_pages_through_clips(client: TestClient, thirty: list[str]) -> None:
    first = client.get("/").text
    assert "Clips 1 to 24 of 30" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/", params={"offset": 24}).text
    assert "Clips 25 to 30 of 30" in second and 'rel="prev"' in second
    assert "1:05" in second


def test_library_search_finds_titles_literally(client: TestClient, thirty: list[str]) -> None:
    html = client.get("/", params={"q": "100%"}).text
    assert "Budget 100% final" in html and "Clip 01" not in html
    assert "No clip matches" in client.get("/", params={"q": "zebra"}).text


def test_form_has_an_optional_script_field(client: TestClient) -> None:
    html = client.get("/upload").text
    assert '<label for="amps-script">Script (plain text) for captions</label>' in html
    field = html.split('<textarea id="amps-script"')[1].split(">")[0]
    assert 'name="script"' in field and "required" not in field
    assert 'aria-describedby="amps-script-hint amps-script-error"' in field
    assert 'id="amps-script-hint">Optional.' in html


def test_form_post_with_a_script_queues_its_alignment(
    settings: Settings, media_files: dict[str, Path]
) -> None:
    """No job runs here (AMPS_RUN_JOBS off): the record says the captions are pending and the
    script is kept for the align job."""
    quiet = settings.model_copy(update={"run_jobs": False})
    script = "Good evening. The council met on Tuesday.\n"
    with TestClient(create_app(quiet), client=("127.0.0.1", 50000)) as client:
        response = post_form(client, media_files["cbr.mp3"], title="Scripted", script=script)
        assert response.status_code == 303
        media_id = response.headers["location"].rsplit("/", 1)[-1]
        record = client.get(f"/api/media/{media_id}").json()
        assert record["captions"] == {"state": "pending", "reason": None}
    [kept] = [p for p in stored_files(settings.media_dir) if p.name == "script.txt"]
    assert kept.read_text(encoding="utf-8") == script and kept.parent.name == media_id


def test_form_script_error_is_shown_next_to_it(
    client: TestClient, settings: Settings, media_files: dict[str, Path]
) -> None:
    response = post_form(client, media_files["cbr.mp3"], script="Bell \x07 <b>rings</b>")
    assert response.status_code == 422
    html = response.text
    assert 'aria-invalid="true"' in html.split('<textarea id="amps-script"')[1].split(">")[0]
    assert '<p class="amps-error" id="amps-script-error">The script holds control' in html
    assert 'id="amps-file-error" hidden>' in html
    assert stored_files(settings.media_dir) == []
