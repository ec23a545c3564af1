"""Repeat views of watch and embed pages: ETag, 304, and never a stale page after a change."""

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.catalog.database import Stamp
from app.config import Settings
from app.main import create_app
from app.streams.ranges import etag_listed
from app.web.page_cache import PageCache, PageStamp, StampReader
from tests.conftest import wait_processed

PAGES = ("/media/{id}", "/embed/{id}")


def upload(client: TestClient, path: Path, title: str = "Budget debate") -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post(
            "/api/media", files={"file": ("v.mp4", handle)}, data={"title": title}
        )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = wait_processed(client, response.json()["id"])
    assert record["status"] == "ready"
    return record


def add_captions(client: TestClient, media_id: str) -> dict[str, Any]:
    vtt = b"WEBVTT\n\n00:00.000 --> 00:05.000\nWelcome to the meeting\n"
    response = client.post(
        f"/api/media/{media_id}/tracks",
        files={"file": ("en.vtt", vtt)},
        data={"kind": "captions", "srclang": "en", "label": "English"},
    )
    assert response.status_code == 201, response.text
    track: dict[str, Any] = response.json()
    return track


@pytest.fixture
def clip(client: TestClient, media_files: dict[str, Path]) -> dict[str, Any]:
    return upload(client, media_files["video.mp4"])


@pytest.mark.parametrize("page", PAGES)
def test_repeat_view_with_the_etag_is_304(
    client: TestClient, clip: dict[str, Any], page: str
) -> None:
    url = page.format(id=clip["id"])
    first = client.get(url)
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "no-cache"
    assert "Accept-Language" in first.headers["vary"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    listed = client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url).content == first.content


@pytest.mark.parametrize("page", PAGES)
def test_edit_changes_the_etag_and_shows_at_once(
    client: TestClient, clip: dict[str, Any], page: str
) -> None:
    url = page.format(id=clip["id"])
    etag = client.get(url).headers["etag"]
    edited = client.patch(f"/api/media/{clip['id']}", json={"title": "Budget vote, final"})
    assert edited.status_code == 200
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["etag"] != etag
    assert "Budget vote, final" in response.text


@pytest.mark.parametrize("page", PAGES)
def test_track_added_or_deleted_changes_the_etag(
    client: TestClient, clip: dict[str, Any], page: str
) -> None:
    url = page.format(id=clip["id"])
    before = client.get(url).headers["etag"]
    track = add_captions(client, clip["id"])
    with_track = client.get(url, headers={"If-None-Match": before})
    assert with_track.status_code == 200 and with_track.headers["etag"] != before
    assert "Welcome to the meeting" in with_track.text
    removed = client.delete(f"/api/media/{clip['id']}/tracks/{track['id']}")
    assert removed.status_code == 204
    after = client.get(url, headers={"If-None-Match": with_track.headers["etag"]})
    assert after.status_code == 200 and "Welcome to the meeting" not in after.text
    assert after.headers["etag"] not in (before, with_track.headers["etag"])


@pytest.mark.parametrize("page", PAGES)
def test_deleted_clip_is_404_at_once_even_for_its_old_etag(
    client: TestClient, clip: dict[str, Any], page: str
) -> None:
    url = page.format(id=clip["id"])
    etag = client.get(url).headers["etag"]
    assert client.delete(f"/api/media/{clip['id']}").status_code == 204
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 404
    assert "etag" not in response.headers
    assert "No media source currently available" in response.text


def test_vanished_file_is_404_after_a_cached_view(
    client: TestClient, clip: dict[str, Any], settings: Settings
) -> None:
    url = f"/media/{clip['id']}"
    etag = client.get(url).headers["etag"]
    for path in settings.media_dir.rglob("original.*"):
        path.unlink()
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 404


@pytest.mark.parametrize("page", PAGES)
def test_etag_differs_by_language_and_query(
    client: TestClient, clip: dict[str, Any], page: str
) -> None:
    url = page.format(id=clip["id"])
    tags = {
        client.get(url).headers["etag"],
        client.get(url, params={"lang": "uk"}).headers["etag"],
        client.get(url, headers={"Accept-Language": "ar"}).headers["etag"],
        client.get(url, params={"start": "1:05"}).headers["etag"],
        client.get(url, params={"captions": "en"}).headers["etag"],
    }
    assert len(tags) == 5
    uk = client.get(url, params={"lang": "uk"})
    assert uk.headers["etag"] == client.get(url, params={"lang": "uk"}).headers["etag"]
    assert 'lang="uk"' in uk.text


def test_public_url_and_embed_origins_change_the_etag(
    settings: Settings, media_files: dict[str, Path]
) -> None:
    tags = []
    clip_id = None
    for overrides in (
        {},
        {"public_url": "https://media.example"},
        {"embed_origins": "https://a.example"},
    ):
        app = create_app(settings.model_copy(update=overrides))
        with TestClient(app, client=("127.0.0.1", 50000)) as client:
            if clip_id is None:
                clip_id = upload(client, media_files["video.mp4"])["id"]
            response = client.get(f"/embed/{clip_id}")
            tags.append(response.headers["etag"])
    assert len(set(tags)) == 3


@pytest.fixture
def two_replicas(
    tmp_path: Path, database_url: str | None
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps (as two processes would be) over one database and one media folder."""
    settings = Settings(media_dir=tmp_path / "media", database_url=database_url, probe_timeout=20)
    with (
        TestClient(create_app(settings), client=("127.0.0.1", 50000)) as first,
        TestClient(create_app(settings), client=("127.0.0.1", 50000)) as second,
    ):
        yield first, second


@pytest.mark.parametrize("page", PAGES)
def test_edit_through_one_replica_shows_at_once_on_the_other(
    two_replicas: tuple[TestClient, TestClient], media_files: dict[str, Path], page: str
) -> None:
    first, second = two_replicas
    clip = upload(first, media_files["video.mp4"])
    url = page.format(id=clip["id"])
    cached = second.get(url)
    assert cached.status_code == 200 and second.get(url).content == cached.content
    assert first.patch(f"/api/media/{clip['id']}", json={"title": "Renamed"}).status_code == 200
    fresh = second.get(url, headers={"If-None-Match": cached.headers["etag"]})
    assert fresh.status_code == 200 and "Renamed" in fresh.text
    assert first.delete(f"/api/media/{clip['id']}").status_code == 204
    assert second.get(url).status_code == 404


def test_stamp_reader_answers_many_waiting_requests_with_one_lookup() -> None:
    calls: list[list[str]] = []
    stamp = PageStamp(Stamp(datetime(2026, 1, 1, tzinfo=UTC), "ready", "ab/x"), True)

    def lookup(ids: list[str]) -> dict[str, PageStamp]:
        calls.append(ids)
        return {i: stamp for i in ids if i.startswith("known")}

    async def many() -> list[PageStamp | None]:
        reader = StampReader(lookup)
        ids = [f"known{i % 7}" for i in range(40)] + ["gone"]
        return await asyncio.gather(*(reader.current(i) for i in ids))

    results = asyncio.run(many())
    assert results[:40] == [stamp] * 40 and results[40] is None
    assert len(calls) <= 2 and sorted(set(sum(calls, []))) == sorted(
        {*(f"known{i}" for i in range(7)), "gone"}
    )


def test_stamp_reader_runs_lookups_side_by_side() -> None:
    """A slow catalog or object store does not hold later requests behind one query."""
    both_running = threading.Barrier(2, timeout=10)

    def lookup(ids: list[str]) -> dict[str, PageStamp]:
        both_running.wait()  # BrokenBarrierError unless a second lookup starts meanwhile
        return {}

    async def two() -> list[PageStamp | None]:
        reader = StampReader(lookup)
        first = asyncio.ensure_future(reader.current("a"))
        await asyncio.sleep(0.1)  # the first lookup is running by now
        found = await asyncio.gather(first, reader.current("b"))
        reader.close()
        return found

    assert asyncio.run(two()) == [None, None]


def test_stamp_reader_passes_a_failed_lookup_to_every_waiting_request() -> None:
    def lookup(ids: list[str]) -> dict[str, PageStamp]:
        raise OSError("database gone")

    async def both() -> list[object]:
        reader = StampReader(lookup)
        return await asyncio.gather(
            reader.current("a"), reader.current("b"), return_exceptions=True
        )

    assert [type(r) for r in asyncio.run(both())] == [OSError, OSError]


def test_page_cache_forgets_the_least_recently_used_page() -> None:
    cache = PageCache("v1", size=2)
    cache.put("a", b"A")
    cache.put("b", b"B")
    assert cache.get("a") == b"A"
    cache.put("c", b"C")
    assert cache.get("b") is None and cache.get("a") == b"A" and cache.get("c") == b"C"


def test_if_none_match_star_and_lists() -> None:
    assert etag_listed("*", "x", weak_ok=True)
    assert etag_listed('"a", W/"x"', "x", weak_ok=True)
    assert not etag_listed('"xy"', "x", weak_ok=True)
    assert not etag_listed("", "x", weak_ok=True)
