"""Visibility and signed URLs: public, unlisted and private clips through the app factory.

One app (API token and two signing keys) and a few clips for the whole module: each test that
changes a clip's visibility makes its own clip from the shared file, or puts it back.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from app.catalog.database import new_id
from app.cli import main as cli_main
from app.cli import ttl_seconds
from app.config import Settings
from app.main import create_app
from app.streams.signing import Signer
from tests.e2e.conftest import Server, free_port
from tests.nginx import ACCEL_PREFIX, Nginx, have_nginx
from tests.test_tus import TUS, metadata

TOKEN = "visibility-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_KEY, OLD_KEY, RETIRED_KEY = "n" * 32 + "ew", "o" * 32 + "ld", "r" * 32 + "etired"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nA private line.\n"
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        media_dir=tmp_path_factory.mktemp("visibility") / "media",
        max_upload_bytes=20 * 1024**2,
        api_token=TOKEN,
        signing_keys=f"{NEW_KEY},{OLD_KEY}",  # type: ignore[arg-type]
        automatic_captions=False,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    # A loopback client: being on this machine unlocks no private read.
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def upload(client: TestClient, path: Path, **fields: str) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post(
            "/api/media", files={"file": ("clip.mp4", handle)}, data=fields, headers=AUTH
        )
    assert response.status_code == 201, response.text
    media_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        record: dict[str, Any] = client.get(f"/api/media/{media_id}", headers=AUTH).json()
        if record["status"] != "processing" or time.monotonic() > deadline:
            assert record["status"] == "ready", record
            return record
        time.sleep(0.1)


def patch(client: TestClient, media_id: str, **changes: Any) -> dict[str, Any]:
    response = client.patch(f"/api/media/{media_id}", json=changes, headers=AUTH)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


@pytest.fixture(scope="module")
def clips(client: TestClient, media_files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """A private clip with a captions track, an unlisted one, a public one."""
    video = media_files["video.mp4"]
    private = upload(client, video, title="Embargoed budget", visibility="private")
    track = client.post(
        f"/api/media/{private['id']}/tracks",
        files={"file": ("en.vtt", VTT.encode(), "text/vtt")},
        data={"kind": "captions", "srclang": "en", "label": "English"},
        headers=AUTH,
    )
    assert track.status_code == 201, track.text
    return {
        "private": client.get(f"/api/media/{private['id']}", headers=AUTH).json(),
        "unlisted": upload(client, video, title="Unlisted rehearsal", visibility="unlisted"),
        "public": upload(client, video, title="Public weather"),
    }


def paths(record: dict[str, Any]) -> list[str]:
    """Every read of a clip: record, pages, stream, poster, playable copy, a track."""
    media_id = record["id"]
    track = record["tracks"][0]["id"] if record["tracks"] else "x"
    return [
        f"/api/media/{media_id}",
        f"/media/{media_id}",
        f"/embed/{media_id}",
        f"/media/{media_id}/stream",
        f"/media/{media_id}/poster",
        f"/media/{media_id}/playable",
        f"/media/{media_id}/tracks/{track}.vtt",
        f"/media/{media_id}/tracks/{track}/edit",
        f"/api/media/{media_id}/versions",
        f"/media/{media_id}/versions/described",
        f"/oembed?url=http%3A%2F%2Ftestserver%2Fmedia%2F{media_id}",
    ]


def answer(client: TestClient, method: str, path: str, media_id: str, **options: Any) -> tuple:
    """Status, headers (but the date) and body, with the clip's id written as ID."""
    response = client.request(method, path, **options)
    headers = sorted((k, v.replace(media_id, "ID")) for k, v in response.headers.items())
    headers = [(k, v) for k, v in headers if k != "date"]
    return response.status_code, headers, response.text.replace(media_id, "ID")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_private_clip_answers_as_an_unknown_id(
    client: TestClient, clips: dict[str, dict[str, Any]], method: str
) -> None:
    private, unknown = clips["private"], {"id": new_id(), "tracks": []}
    for mine, theirs in zip(paths(private), paths(unknown), strict=True):
        for headers in ({}, HTML):
            seen = answer(client, method, mine, private["id"], headers=headers)
            assert seen[0] in ((404,) if method == "GET" else (404, 405)), mine
            assert seen == answer(client, method, theirs, unknown["id"], headers=headers), mine
    # The no-media page, as for any missing clip.
    page = client.get(f"/embed/{private['id']}", headers=HTML)
    assert "No media source currently available" in page.text
    assert "Embargoed" not in page.text


def test_the_token_reads_a_private_clip(
    client: TestClient, clips: dict[str, dict[str, Any]]
) -> None:
    private = clips["private"]
    assert private["visibility"] == "private" and private["publish_at"] is None
    for path in paths(private):
        response = client.get(path, headers=AUTH)
        if path.endswith(("/playable", "/described")):  # it has none: the route says so
            assert response.status_code == 404 and "No clip" not in response.text
        else:
            assert response.status_code == 200, path
    assert client.get(f"/media/{private['id']}", headers=AUTH).headers["cache-control"] == (
        "private, no-store"
    )


def test_private_and_unlisted_clips_are_left_out_of_lists(
    client: TestClient, clips: dict[str, dict[str, Any]]
) -> None:
    listed = [item["id"] for item in client.get("/api/media").json()["items"]]
    assert listed == [clips["public"]["id"]]
    assert client.get("/api/media").json()["total"] == 1
    everything = client.get("/api/media", headers=AUTH).json()
    assert {item["id"] for item in everything["items"]} == {c["id"] for c in clips.values()}
    page = client.get("/").text
    assert clips["public"]["id"] in page
    assert clips["private"]["id"] not in page and clips["unlisted"]["id"] not in page


def test_an_unlisted_clip_is_reachable_by_its_url(
    client: TestClient, clips: dict[str, dict[str, Any]]
) -> None:
    unlisted = clips["unlisted"]
    for path in paths(unlisted):
        if path.endswith(("/playable", "/described")) or "/tracks/" in path:
            continue  # it has none of these
        assert client.get(path).status_code == 200, path
    assert client.get(f"/api/media/{unlisted['id']}").json()["visibility"] == "unlisted"


def test_visibility_and_publish_at_are_checked(
    client: TestClient, clips: dict[str, dict[str, Any]], media_files: dict[str, Path]
) -> None:
    media_id = clips["public"]["id"]
    for changes, field in [
        ({"visibility": "secret"}, "visibility"),
        ({"visibility": None}, "visibility"),
        ({"publish_at": "2026-12-24T06:00:00"}, "publish_at"),  # no time zone
        ({"publish_at": "tomorrow"}, "publish_at"),
    ]:
        response = client.patch(f"/api/media/{media_id}", json=changes, headers=AUTH)
        assert response.status_code == 422, changes
        assert field in response.text
    for fields in ({"visibility": "hidden"}, {"publish_at": "2026-12-24"}):
        with media_files["cbr.mp3"].open("rb") as handle:
            response = client.post(
                "/api/media", files={"file": ("a.mp3", handle)}, data=fields, headers=AUTH
            )
        assert response.status_code == 422, fields
        assert response.json()["field"] == next(iter(fields))
    assert client.get("/api/media", headers=AUTH).json()["total"] == 3  # nothing kept


def signed(client: TestClient, media_id: str, ttl: int = 600) -> dict[str, str]:
    response = client.post(f"/api/media/{media_id}/signed-url", json={"ttl": ttl}, headers=AUTH)
    assert response.status_code == 200, response.text
    urls: dict[str, str] = response.json()
    return urls


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_a_signed_page_signs_every_url_its_player_asks_for(
    client: TestClient, clips: dict[str, dict[str, Any]]
) -> None:
    private = clips["private"]
    urls = signed(client, private["id"])
    expires = datetime.fromisoformat(urls["expires_at"])
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=600)
    for name in ("watch", "embed"):
        page = client.get(local(urls[name]))
        assert page.status_code == 200 and "Embargoed budget" in page.text, name
        assert page.headers["cache-control"] == "private, no-store"
        assert "etag" not in page.headers
        found = [
            u.replace("&amp;", "&")
            for u in page.text.replace('"', " ").split()
            if u.startswith("http://testserver/media/")
        ]
        assert any("/stream" in u for u in found) and any(".vtt" in u for u in found)
        assert any("/poster" in u for u in found)
        for url in found:
            query = parse_qs(urlsplit(url).query)
            assert query["exp"] == [str(int(expires.timestamp()))], url
            response = client.get(local(url))
            assert response.status_code == 200, url
    stream = client.get(local(urls["stream"]), headers={"Range": "bytes=0-99"})
    assert stream.status_code == 206 and len(stream.content) == 100


def test_the_signed_url_route_checks_its_input(
    client: TestClient, clips: dict[str, dict[str, Any]]
) -> None:
    route = f"/api/media/{clips['private']['id']}/signed-url"
    for body in ({"ttl": 0}, {"ttl": 31 * 86400}, {"ttl": "soon"}, {"ttl": 60, "path": "/"}):
        assert client.post(route, json=body, headers=AUTH).status_code == 422, body
    assert client.post(route, json={"ttl": 60}).status_code == 401
    assert client.post(f"/api/media/{new_id()}/signed-url", headers=AUTH).status_code == 404
    default = client.post(route, headers=AUTH).json()  # no body: an hour
    left = datetime.fromisoformat(default["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)


def test_signed_url_needs_signing_keys(
    settings: Settings, tmp_path: Path, media_files: dict[str, Path]
) -> None:
    unsigned = Settings(media_dir=tmp_path / "media", api_token=TOKEN, automatic_captions=False)
    with TestClient(create_app(unsigned)) as plain:
        # An unknown clip is 404 first, as on every route of a clip.
        unknown = plain.post(f"/api/media/{new_id()}/signed-url", headers=AUTH)
        assert unknown.status_code == 404
        media_id = upload(plain, media_files["audio.m4a"])["id"]
        response = plain.post(f"/api/media/{media_id}/signed-url", headers=AUTH)
    assert response.status_code == 409
    assert "AMPS_SIGNING_KEYS" in response.json()["detail"]


def with_signature(path: str, signer: Signer, media_id: str, expires: int, scope: str) -> str:
    return f"{path}?exp={expires}&sig={signer.signature(media_id, expires, scope)}"


def test_bad_signatures_are_refused(client: TestClient, clips: dict[str, dict[str, Any]]) -> None:
    media_id, later = clips["private"]["id"], int(time.time()) + 600
    stream, watch = f"/media/{media_id}/stream", f"/media/{media_id}"
    ok = with_signature(stream, Signer([NEW_KEY]), media_id, later, stream)
    assert client.get(ok).status_code == 200
    # The second key still verifies (rotated in before the old one goes).
    assert client.get(with_signature(stream, Signer([OLD_KEY]), media_id, later, stream)).is_success
    refused = {
        "expired": with_signature(
            stream, Signer([NEW_KEY]), media_id, int(time.time()) - 1, stream
        ),
        "tampered": ok[:-3] + ("AAA" if not ok.endswith("AAA") else "BBB"),
        "longer life": ok.replace(f"exp={later}", f"exp={later + 1}"),
        "another clip": with_signature(
            stream, Signer([NEW_KEY]), clips["public"]["id"], later, stream
        ),
        "another path": with_signature(
            stream, Signer([NEW_KEY]), media_id, later, f"/media/{media_id}/poster"
        ),
        "embed's on the stream": with_signature(
            stream, Signer([NEW_KEY]), media_id, later, f"/embed/{media_id}"
        ),
        "a rotated-out key": with_signature(stream, Signer([RETIRED_KEY]), media_id, later, stream),
        "no signature": f"{stream}?exp={later}",
        "garbage": f"{stream}?exp=x&sig=%00",
    }
    unknown = client.get(f"/media/{new_id()}/stream")
    for what, url in refused.items():
        response = client.get(url)
        assert response.status_code == 404, what
        assert response.json() == unknown.json(), what
    # A watch page signature opens the stream below it, not the embed page beside it.
    page = with_signature(watch, Signer([NEW_KEY]), media_id, later, watch)
    assert client.get(page.replace(watch, stream, 1)).status_code == 200
    embed = page.replace(watch, f"/embed/{media_id}", 1)
    assert client.get(embed).status_code == 404


def test_a_page_signature_opens_the_record_for_its_script(
    client: TestClient, clips: dict[str, dict[str, Any]]
) -> None:
    """static/player/processing.js asks for the record with its page's signature."""
    media_id, later = clips["private"]["id"], int(time.time()) + 600
    record = f"/api/media/{media_id}"
    for page in (f"/media/{media_id}", f"/embed/{media_id}"):
        signed_record = with_signature(record, Signer([NEW_KEY]), media_id, later, page)
        assert client.get(signed_record).json()["visibility"] == "private"
    stream = f"/media/{media_id}/stream"
    assert client.get(with_signature(record, Signer([NEW_KEY]), media_id, later, stream)).is_error
    assert client.get(with_signature(record, Signer([NEW_KEY]), media_id, later, record)).is_error


def test_oembed_of_a_signed_url(client: TestClient, clips: dict[str, dict[str, Any]]) -> None:
    urls = signed(client, clips["private"]["id"])
    response = client.get("/oembed", params={"url": urls["watch"]})
    assert response.status_code == 200
    embed = response.json()["html"].split('src="')[1].split('"')[0].replace("&amp;", "&")
    assert "sig=" in embed and client.get(local(embed)).status_code == 200
    tampered = urls["watch"].replace("exp=", "exp=1")
    assert client.get("/oembed", params={"url": tampered}).status_code == 404


def test_turning_private_takes_effect_at_once_on_the_fast_path(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    record = upload(client, media_files["cbr.mp3"], title="Soon private")
    media_id, stream = record["id"], f"/media/{record['id']}/stream"
    page = client.get(f"/media/{media_id}")
    assert client.get(stream).status_code == 200  # kept open by the fast path now
    urls = signed(client, media_id)  # signed while public: harmless, and works after
    patch(client, media_id, visibility="private")
    assert client.get(stream).status_code == 404
    assert client.get(stream, headers={"Range": "bytes=0-9"}).status_code == 404
    # The page cached while public is not served, nor a 304 for its ETag.
    again = client.get(f"/media/{media_id}", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 404
    assert client.get(local(urls["stream"])).status_code == 200
    # Back to public: the same signed URL is still fine (nothing to protect any more).
    patch(client, media_id, visibility="public")
    assert client.get(local(urls["watch"])).status_code == 200
    assert client.get(stream).status_code == 200


def test_publish_at_makes_a_private_clip_public(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    record = upload(
        client, media_files["audio.m4a"], visibility="private", publish_at=tomorrow.isoformat()
    )
    media_id, stream = record["id"], f"/media/{record['id']}/stream"
    assert record["visibility"] == "private"
    assert datetime.fromisoformat(record["publish_at"]) == tomorrow
    assert client.get(stream).status_code == 404
    # An embargo that has passed: public at once.
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert patch(client, media_id, publish_at=past)["visibility"] == "public"
    assert client.get(stream).status_code == 200
    assert client.get(f"/media/{media_id}").status_code == 200
    assert media_id in [item["id"] for item in client.get("/api/media").json()["items"]]
    # One that passes while the stream's file is kept open: public from that moment.
    soon = datetime.now(UTC) + timedelta(seconds=1)
    assert patch(client, media_id, publish_at=soon.isoformat())["visibility"] == "private"
    assert client.get(stream).status_code == 404
    assert client.get(f"/media/{media_id}").status_code == 404
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    assert client.get(stream).status_code == 200
    assert client.get(f"/media/{media_id}").status_code == 200
    assert client.get(f"/api/media/{media_id}").json()["visibility"] == "public"


def test_amps_sign_prints_signed_urls(
    client: TestClient, settings: Settings, clips: dict[str, dict[str, Any]]
) -> None:
    env = {"AMPS_MEDIA_DIR": str(settings.media_dir), "AMPS_SIGNING_KEYS": NEW_KEY}
    env["AMPS_PUBLIC_URL"] = "http://testserver"
    media_id = clips["private"]["id"]
    command = [sys.executable, "-m", "app.cli", "sign", media_id, "--ttl", "2m"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    urls = json.loads(done.stdout)
    left = datetime.fromisoformat(urls["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=100) < left <= timedelta(minutes=2)
    for name in ("watch", "embed", "stream"):
        assert client.get(local(urls[name])).status_code == 200, name


def test_amps_sign_refuses(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process (the subprocess run above shows the command itself works)."""
    monkeypatch.setenv("AMPS_MEDIA_DIR", str(settings.media_dir))
    assert cli_main(["sign", new_id()]) == 2  # no keys
    assert "AMPS_SIGNING_KEYS" in capsys.readouterr().err
    monkeypatch.setenv("AMPS_SIGNING_KEYS", NEW_KEY)
    assert cli_main(["sign", new_id()]) == 1
    assert "no clip" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["sign", new_id(), "--ttl", "forever"])
    assert "--ttl" in capsys.readouterr().err


def test_amps_sign_reads_ttl_with_units() -> None:
    assert [ttl_seconds(text) for text in ("90", "90s", "15m", "1h", "7d")] == [
        90,
        90,
        900,
        3600,
        7 * 86400,
    ]
    for text in ("", "forever", "1w", "5", "31d", "-1h"):
        with pytest.raises(argparse.ArgumentTypeError):
            ttl_seconds(text)


def test_behind_nginx_a_private_clip_is_handed_off_only_when_signed(
    client: TestClient,
    settings: Settings,
    clips: dict[str, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A real nginx (docs/nginx.conf) in front of `amps serve` with X-Accel-Redirect: amps
    judges the request before nginx sends a byte, and the files are not reachable past it."""
    assert have_nginx(), "nginx is needed: run `make install`"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env |= {"AMPS_ACCEL_REDIRECT": ACCEL_PREFIX, "AMPS_SIGNING_KEYS": f"{NEW_KEY},{OLD_KEY}"}
    env |= {"AMPS_API_TOKEN": TOKEN, "AMPS_RUN_JOBS": "false"}  # this module's app runs them
    server = Server(media_dir=settings.media_dir, port=free_port(), env=env)
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), free_port(), 0, settings.media_dir)
    private, public = clips["private"]["id"], clips["public"]["id"]
    [stored] = [p for p in settings.media_dir.rglob("original.mp4") if private in p.parts]
    data, relative = stored.read_bytes(), stored.relative_to(settings.media_dir).as_posix()
    try:
        server.start()
        proxy.upstream_port = server.port
        proxy.start()
        with httpx.Client(base_url=proxy.url, timeout=30) as http:
            for headers in ({}, {"Range": "bytes=0-99"}):
                unsigned = http.get(f"/media/{private}/stream", headers=headers)
                assert unsigned.status_code == 404 and unsigned.content != data[:100]
                assert "x-accel-redirect" not in unsigned.headers
            assert http.head(f"/media/{private}/stream").status_code == 404
            urls = signed(client, private)
            whole = http.get(local(urls["stream"]))
            assert whole.status_code == 200 and whole.content == data
            ranged = http.get(local(urls["stream"]), headers={"Range": "bytes=0-99"})
            assert ranged.status_code == 206 and ranged.content == data[:100]
            assert http.get(f"/media/{private}/stream", headers=AUTH).content == data
            # nginx's internal location answers no client.
            assert http.get(f"{ACCEL_PREFIX}{relative}").status_code == 404
            assert http.get(f"/media/{public}/stream").status_code == 200  # handed to nginx
    finally:
        proxy.stop()
        server.stop()


def test_a_resumable_upload_sets_visibility_from_its_metadata(
    client: TestClient, media_files: dict[str, Path]
) -> None:
    data = media_files["audio.ogg"].read_bytes()
    fields = {"filename": "a.ogg", "visibility": "unlisted", "publish_at": "2030-01-01T00:00Z"}
    bad = {**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(visibility="secret")}
    refused = client.post("/api/uploads", headers={**bad, **AUTH})
    assert refused.status_code == 422 and refused.json()["field"] == "visibility"
    headers = {**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(**fields)}
    created = client.post("/api/uploads", headers={**headers, **AUTH})
    assert created.status_code == 201, created.text
    url = created.headers["location"].removeprefix("http://testserver")
    done = client.patch(
        url,
        content=data,
        headers={**TUS, **AUTH, "Content-Type": "application/offset+octet-stream",
                 "Upload-Offset": "0"},
    )  # fmt: skip
    assert done.status_code == 204, done.text
    record = client.get(f"/api/media/{done.headers['amps-media-id']}", headers=AUTH).json()
    assert record["visibility"] == "unlisted"
    assert record["publish_at"] == "2030-01-01T00:00:00Z"
    assert record["id"] not in [i["id"] for i in client.get("/api/media").json()["items"]]
    assert client.get(f"/media/{record['id']}/stream").status_code == 200  # by its URL
