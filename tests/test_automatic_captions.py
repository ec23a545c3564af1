"""Automatic captions for new clips (AMPS_AUTOMATIC_CAPTIONS): a clip uploaded with no script
gets recognised captions queued after its own job, where a model for its language is installed;
without one its record says why at once. And a clip's captions stay pending until the last of
its caption jobs ends. Real espeak-ng speech, real Whisper tiny.en and pocketsphinx.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app.catalog.database import Catalog
from tests.conftest import wait_processed
from tests.media import ffmpeg
from tests.speech import NEWS, Spoken, check_cue_rules, espeak_version, synthesize
from tests.test_speech import captions_settled, upload_tone

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from app.config import Settings

pytestmark = pytest.mark.skipif(
    espeak_version() is None, reason="espeak-ng is not installed (make install installs it)"
)


@pytest.fixture(scope="module")
def news_m4a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("news")
    spoken: Spoken = synthesize(NEWS, folder / "news.wav")
    clip = folder / "news.m4a"
    ffmpeg("-i", str(spoken.path), "-c:a", "aac", "-b:a", "48k", str(clip))
    return clip


def app_client(settings: "Settings", **changes: Any) -> "TestClient":
    from starlette.testclient import TestClient

    from app.main import create_app

    on = settings.model_copy(update={"automatic_captions": True, **changes})
    return TestClient(create_app(on), client=("127.0.0.1", 50000))


@pytest.fixture
def auto_client(settings: "Settings") -> Iterator["TestClient"]:
    """The app with automatic captions on (the test suite turns them off elsewhere)."""
    with app_client(settings) as client:
        yield client


def upload_news(client: "TestClient", clip: Path, **data: str) -> dict[str, Any]:
    with clip.open("rb") as file:
        answer = client.post(
            "/api/media", files={"file": ("news.m4a", file, "audio/mp4")},
            data={"title": "Council budget", "language": "en", **data},
        )  # fmt: skip
    assert answer.status_code == 201, answer.text
    record: dict[str, Any] = answer.json()
    return record


def test_speech_gets_automatic_captions_with_no_request(
    auto_client: "TestClient", news_m4a: Path
) -> None:
    uploaded = upload_news(auto_client, news_m4a)
    assert uploaded["captions"] == {"state": "pending", "reason": None}
    # The clip is ready on its own job's time: recognition runs after it.
    assert wait_processed(auto_client, uploaded["id"])["status"] == "ready"
    record = captions_settled(auto_client, uploaded["id"])
    assert record["captions"] == {"state": "done", "reason": None}
    (track,) = record["tracks"]
    assert track["label"] == "English (automatic)" and track["origin"] == "automatic"
    cues = check_cue_rules(auto_client.get(track["url"]).text)
    heard = " ".join(cue.text for cue in cues).lower()
    assert "council" in heard and "budget" in heard


def test_a_tone_gets_none_with_its_reason(auto_client: "TestClient", tmp_path: Path) -> None:
    media_id = upload_tone(auto_client, tmp_path, "en")
    record = captions_settled(auto_client, media_id)
    assert record["status"] == "ready" and record["tracks"] == []
    assert record["captions"]["state"] == "none"
    assert "No speech" in record["captions"]["reason"]


def test_no_model_for_the_language_is_said_at_once(
    auto_client: "TestClient", tmp_path: Path
) -> None:
    media_id = upload_tone(auto_client, tmp_path, "uk")
    record = auto_client.get(f"/api/media/{media_id}").json()
    assert record["status"] == "ready" and record["tracks"] == []
    assert record["captions"] == {
        "state": "none",
        "reason": "No speech recognition model is installed for this clip's language (uk).",
    }
    assert auto_client.app.state.catalog.get(media_id).captions_jobs == []  # type: ignore[attr-defined]


def test_a_clip_with_a_script_gets_no_automatic_job(
    auto_client: "TestClient", news_m4a: Path
) -> None:
    uploaded = upload_news(auto_client, news_m4a, script=NEWS)
    catalog: Catalog = auto_client.app.state.catalog  # type: ignore[attr-defined]
    assert catalog.get(uploaded["id"]).captions_jobs in (["align"], [])  # type: ignore[union-attr]
    record = captions_settled(auto_client, uploaded["id"])
    assert [t["origin"] for t in record["tracks"]] == ["aligned"]


def test_a_captions_track_before_the_job_runs_means_no_recognition(
    settings: "Settings", news_m4a: Path
) -> None:
    """The job is queued but no job runs (AMPS_RUN_JOBS off); a person's track arrives; the
    next start queues the job again from the record, and it finds nothing to do."""
    from tests.test_tracks import VTT, add_track

    with app_client(settings, run_jobs=False) as client:
        uploaded = upload_news(client, news_m4a)
        assert client.get(f"/api/media/{uploaded['id']}").json()["captions"]["state"] == "pending"
        assert add_track(client, uploaded["id"], VTT).status_code == 201
    with app_client(settings) as client:
        record = captions_settled(client, uploaded["id"])
        assert record["captions"] == {"state": "done", "reason": None}
        assert [t["origin"] for t in record["tracks"]] == ["uploaded"]
        catalog: Catalog = client.app.state.catalog  # type: ignore[attr-defined]
        assert catalog.get(uploaded["id"]).captions_jobs == []  # type: ignore[union-attr]


def test_captions_stay_pending_until_the_last_job_ends(auto_client: "TestClient") -> None:
    from tests.test_tracks import add_clip

    catalog: Catalog = auto_client.app.state.catalog  # type: ignore[attr-defined]
    media_id = add_clip(auto_client.app)["id"]  # type: ignore[arg-type]
    catalog.start_captions_job(media_id, "align")
    catalog.start_captions_job(media_id, "automatic")
    catalog.end_captions_job(media_id, "automatic", "none", "No speech was found.")
    assert auto_client.get(f"/api/media/{media_id}").json()["captions"]["state"] == "pending"
    catalog.end_captions_job(media_id, "align", "none", "No speech was found in the sound.")
    record = auto_client.get(f"/api/media/{media_id}").json()
    assert record["captions"] == {"state": "none", "reason": "No speech was found in the sound."}
