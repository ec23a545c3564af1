"""Text tracks through the API: upload (VTT or SRT), serve, list, refuse, delete."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.api.urls import media_urls
from app.catalog.database import new_id
from app.catalog.models import Media
from app.config import Settings
from app.main import create_app
from app.media.captions import MAX_BYTES
from app.storage.base import media_key
from tests.conftest import stored_files

PROBLEM = "application/problem+json"
VTT = b"WEBVTT\n\n00:01.000 --> 00:04.000\nHello there.\n\n00:05.000 --> 00:07.500\nGoodbye.\n"
SRT = b"1\r\n00:00:01,000 --> 00:00:04,000\r\nHello there.\r\n\r\n"
BAD = b"WEBVTT\n\n00:01.000 --> 00:04.000\nFine.\n\n00:05.000 -> 00:07.500\nBroken.\n"


def add_clip(app: FastAPI) -> dict[str, Any]:
    """A clip's record straight into the catalog: tracks need one, not the upload path."""
    media_id = new_id()
    app.state.catalog.add(
        Media(
            id=media_id,
            title="A clip",
            kind="video",
            status="ready",
            duration=205.0,
            mime_type="video/webm",
            size=1,
            storage_key=media_key(media_id, "original.webm"),
            sha256="0" * 64,
        )
    )
    return {"id": media_id, "urls": media_urls("http://testserver", media_id).model_dump()}


@pytest.fixture
def clip(client: TestClient) -> dict[str, Any]:
    return add_clip(client.app)  # type: ignore[arg-type]


def add_track(client: TestClient, media_id: str, data: bytes, name: str = "t.vtt", **fields: str):  # type: ignore[no-untyped-def]
    fields.setdefault("srclang", "en")
    return client.post(
        f"/api/media/{media_id}/tracks", files={"file": (name, data, "text/vtt")}, data=fields
    )


def tracks_of(client: TestClient, media_id: str) -> list[dict[str, Any]]:
    tracks: list[dict[str, Any]] = client.get(f"/api/media/{media_id}").json()["tracks"]
    return tracks


def assert_no_track_stored(client: TestClient, settings: Settings, media_id: str) -> None:
    assert tracks_of(client, media_id) == []
    assert not [p for p in stored_files(settings.media_dir) if p.name.startswith("track-")]


def test_upload_vtt_created(client: TestClient, clip: dict[str, Any]) -> None:
    response = add_track(client, clip["id"], VTT, kind="subtitles", label="English (UK)")
    assert response.status_code == 201, response.text
    track = response.json()
    assert (track["kind"], track["srclang"], track["label"]) == ("subtitles", "en", "English (UK)")
    assert track["url"] == f"{clip['urls']['watch']}/tracks/{track['id']}.vtt"
    assert response.headers["location"] == track["url"]


def test_uploaded_vtt_served_at_its_url(client: TestClient, clip: dict[str, Any]) -> None:
    track = add_track(client, clip["id"], VTT).json()
    served = client.get(track["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "text/vtt; charset=utf-8"
    assert served.text == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nHello there.\n\n"
        "00:00:05.000 --> 00:00:07.500\nGoodbye.\n"
    )


def test_uploaded_track_listed_with_clip(client: TestClient, clip: dict[str, Any]) -> None:
    track = add_track(client, clip["id"], VTT, kind="captions").json()
    assert tracks_of(client, clip["id"]) == [track]


def test_label_defaults_to_language_name(client: TestClient, clip: dict[str, Any]) -> None:
    assert add_track(client, clip["id"], VTT, srclang="es-MX").json()["label"] == "Español"


def test_kind_defaults_to_captions(client: TestClient, clip: dict[str, Any]) -> None:
    assert add_track(client, clip["id"], VTT).json()["kind"] == "captions"


def test_srt_served_as_vtt(client: TestClient, clip: dict[str, Any]) -> None:
    track = add_track(client, clip["id"], SRT, "old.srt").json()
    assert (
        client.get(track["url"]).text == "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nHello there.\n"
    )


def test_script_in_cue_stored_escaped(client: TestClient, clip: dict[str, Any]) -> None:
    srt = b"1\n00:00:01,000 --> 00:00:02,000\n<script>alert(1)</script>\n"
    track = add_track(client, clip["id"], srt, "x.srt").json()
    served = client.get(track["url"]).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in served
    assert "<script>" not in served


def test_bad_file_422_names_the_line(
    client: TestClient, settings: Settings, clip: dict[str, Any]
) -> None:
    response = add_track(client, clip["id"], BAD)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["field"] == "file"
    assert problem["detail"].startswith("Line 6: the cue timing `00:05.000 -> 00:07.500`")


def test_bad_file_stores_nothing(
    client: TestClient, settings: Settings, clip: dict[str, Any]
) -> None:
    add_track(client, clip["id"], BAD)
    assert_no_track_stored(client, settings, clip["id"])


def test_binary_file_refused(client: TestClient, settings: Settings, clip: dict[str, Any]) -> None:
    response = add_track(client, clip["id"], bytes(range(256)), "clip.vtt")
    assert (response.status_code, response.json()["field"]) == (422, "file")
    assert_no_track_stored(client, settings, clip["id"])


def test_file_past_2_mib_413(client: TestClient, settings: Settings, clip: dict[str, Any]) -> None:
    response = add_track(client, clip["id"], VTT + b"x" * MAX_BYTES)
    assert response.status_code == 413
    assert response.json()["field"] == "file"
    assert_no_track_stored(client, settings, clip["id"])


def test_body_past_limit_without_length_413(client: TestClient, clip: dict[str, Any]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=file; filename=t.vtt\r\n\r\n"
        for _ in range(3):
            yield b"x" * MAX_BYTES

    response = client.post(
        f"/api/media/{clip['id']}/tracks",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert (response.status_code, response.json()["field"]) == (413, "file")


def test_broken_multipart_400(client: TestClient, clip: dict[str, Any]) -> None:
    response = client.post(
        f"/api/media/{clip['id']}/tracks",
        content=b"--b\r\nnot a header\r\n\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_file_field_missing_422(client: TestClient, clip: dict[str, Any]) -> None:
    response = client.post(
        f"/api/media/{clip['id']}/tracks",
        files={"other": ("t.vtt", VTT)},
        data={"srclang": "en"},
    )
    assert (response.status_code, response.json()["field"]) == (422, "file")


def test_not_multipart_415(client: TestClient, clip: dict[str, Any]) -> None:
    response = client.post(f"/api/media/{clip['id']}/tracks", json={"srclang": "en"})
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM


def test_bad_kind_422(client: TestClient, settings: Settings, clip: dict[str, Any]) -> None:
    response = add_track(client, clip["id"], VTT, kind="karaoke")
    assert (response.status_code, response.json()["field"]) == (422, "kind")
    assert_no_track_stored(client, settings, clip["id"])


@pytest.mark.parametrize("srclang", ["", "english!", "e", "en-" + "x" * 9, "en-" + "-ab" * 20])
def test_bad_srclang_422(client: TestClient, clip: dict[str, Any], srclang: str) -> None:
    response = add_track(client, clip["id"], VTT, srclang=srclang)
    assert (response.status_code, response.json()["field"]) == (422, "srclang")


def test_long_label_422(client: TestClient, clip: dict[str, Any]) -> None:
    response = add_track(client, clip["id"], VTT, label="x" * 101)
    assert (response.status_code, response.json()["field"]) == (422, "label")


def test_unknown_clip_404(client: TestClient) -> None:
    response = add_track(client, "A" * 22, VTT)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_no_token_401(settings: Settings) -> None:
    settings.api_token = "secret"
    with TestClient(create_app(settings)) as stranger:
        media_id = add_clip(stranger.app)["id"]  # type: ignore[arg-type]
        response = add_track(stranger, media_id, VTT)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert tracks_of(stranger, media_id) == []


def test_not_loopback_without_token_403(settings: Settings, clip: dict[str, Any]) -> None:
    with TestClient(create_app(settings), client=("203.0.113.9", 4000)) as remote:
        assert add_track(remote, clip["id"], VTT).status_code == 403


def test_delete_track(client: TestClient, settings: Settings, clip: dict[str, Any]) -> None:
    track = add_track(client, clip["id"], VTT).json()
    response = client.delete(f"/api/media/{clip['id']}/tracks/{track['id']}")
    assert response.status_code == 204
    assert client.get(track["url"]).status_code == 404
    assert_no_track_stored(client, settings, clip["id"])


def test_delete_unknown_track_404(client: TestClient, clip: dict[str, Any]) -> None:
    response = client.delete(f"/api/media/{clip['id']}/tracks/0123456789abcdef")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_delete_track_of_another_clip_404(client: TestClient, clip: dict[str, Any]) -> None:
    track = add_track(client, clip["id"], VTT).json()
    other = add_clip(client.app)  # type: ignore[arg-type]
    response = client.delete(f"/api/media/{other['id']}/tracks/{track['id']}")
    assert response.status_code == 404
    assert client.get(track["url"]).status_code == 200


def test_delete_track_needs_token(settings: Settings) -> None:
    settings.api_token = "secret"
    with TestClient(create_app(settings), headers={"Authorization": "Bearer secret"}) as owner:
        media_id = add_clip(owner.app)["id"]  # type: ignore[arg-type]
        track = add_track(owner, media_id, VTT).json()
    with TestClient(create_app(settings)) as stranger:
        assert stranger.delete(f"/api/media/{media_id}/tracks/{track['id']}").status_code == 401
        assert stranger.get(track["url"]).status_code == 200


def test_openapi_documents_track_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    upload = paths["/api/media/{media_id}/tracks"]["post"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(schema["properties"]) == {"file", "kind", "srclang", "label"}
    assert {"201", "404", "413", "422"} <= set(upload["responses"])
    assert "404" in paths["/api/media/{media_id}/tracks/{track_id}"]["delete"]["responses"]
