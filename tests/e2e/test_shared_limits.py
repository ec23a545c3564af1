"""Limits two replicas share: two `amps serve` over one PostgreSQL schema and one library
folder count one client's uploads and the library's bytes together, so the pair allows
what one server would (each counted alone before, and so allowed twice as much)."""

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from app.catalog.database import Catalog
from app.catalog.models import Rendition, Version
from app.storage.base import StorageFull
from app.storage.local import SharedQuota
from tests import pg
from tests.conftest import s3_environment
from tests.e2e.conftest import Server, free_port
from tests.e2e.test_jobs import clean_env
from tests.test_catalog import make_media


@contextlib.contextmanager
def replicas(tmp_path: Path, **settings: str) -> Iterator[tuple[Server, Server]]:
    pg.require_server()
    with pg.fresh_schema() as schema:
        env = clean_env(database_url=pg.url(schema), run_jobs="0", **settings)
        media = tmp_path / "media"
        servers = [Server(media_dir=media, port=free_port(), env=env) for _ in range(2)]
        try:
            for server in servers:
                server.start()
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()


def post_clip(server: Server, path: Path) -> httpx.Response:
    with path.open("rb") as body:
        return httpx.post(f"{server.url}/api/media", files={"file": (path.name, body)}, timeout=60)


def test_upload_rate_is_counted_across_replicas(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    clip = media_files["audio.m4a"]
    with replicas(tmp_path, uploads_per_minute="3") as (first, second):
        for server in (first, second, first):
            response = post_clip(server, clip)
            assert response.status_code == 201, response.text
        for server in (second, first):
            refused = post_clip(server, clip)
            assert refused.status_code == 429, refused.text
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            assert "at most 3 a minute" in refused.json()["detail"]
        total = httpx.get(f"{first.url}/api/media").json()["total"]
    assert total == 3


@pytest.mark.parametrize("store", ["disk", "s3"])
def test_storage_quota_is_counted_across_replicas(
    tmp_path: Path, media_files: dict[str, Path], request: pytest.FixtureRequest, store: str
) -> None:
    clip = media_files["audio.m4a"]
    quota = int(clip.stat().st_size * 2.5)  # two clips fit, a third does not
    settings = {"storage_quota_bytes": str(quota), "uploads_per_minute": "0"}
    if store == "s3":
        s3 = s3_environment(request.getfixturevalue("seaweedfs"))
        settings |= {k.removeprefix("AMPS_").lower(): v for k, v in s3.items()}
    with replicas(tmp_path, **settings) as (first, second):
        kept = post_clip(first, clip)
        assert kept.status_code == 201, kept.text
        assert post_clip(second, clip).status_code == 201
        for server in (first, second):
            refused = post_clip(server, clip)
            assert refused.status_code == 507, refused.text
        # A clip deleted through one replica makes room on the other.
        assert httpx.delete(f"{second.url}/api/media/{kept.json()['id']}").status_code == 204
        assert post_clip(first, clip).status_code == 201
        assert httpx.get(f"{second.url}/api/media").json()["total"] == 2
    if store == "disk":
        leftovers = list((tmp_path / "media" / ".tmp").glob("*.part"))
        assert leftovers == []  # the refused uploads kept nothing


@pytest.fixture
def pg_catalog() -> Iterator[Catalog]:
    pg.require_server()
    with pg.fresh_schema() as schema:
        catalog = Catalog(pg.url(schema))
        catalog.migrate()
        yield catalog
        catalog.dispose()


def test_a_dead_writers_reservation_stops_counting_when_it_expires(pg_catalog: Catalog) -> None:
    quota = SharedQuota(1000, pg_catalog, ttl=1.0)
    dead = quota.account()
    dead.claim(900)  # its replica dies here: it never settles or cancels
    with pytest.raises(StorageFull):
        quota.account().claim(200)
    time.sleep(1.2)
    quota.account().claim(200)


def test_a_stored_write_counts_until_its_record_names_it(pg_catalog: Catalog) -> None:
    quota = SharedQuota(1000, pg_catalog)
    stored = quota.account()
    stored.claim(600)
    stored.settle("k" * 22 + "/original.mp4")  # stored; its record is not written yet
    with pytest.raises(StorageFull):
        quota.account().claim(500)
    cancelled = quota.account()
    cancelled.claim(400)
    cancelled.cancel(400)
    quota.account().claim(400)


def test_versions_and_the_ladder_count_as_stored(pg_catalog: Catalog) -> None:
    """A clip's described version and its renditions take room as its file does: recorded,
    they count by their records after their writes' reservations are gone."""
    media = pg_catalog.add(make_media(size=100))
    version = Version(media_id=media.id, role="described", kind="video", duration=205.0,
                      mime_type="video/mp4", size=300, storage_key=f"{media.id}/described.mp4",
                      sha256="0" * 64)  # fmt: skip
    assert pg_catalog.put_version(version) is None
    rendition = Rendition(media_id=media.id, name="240p", height=240, width=426, bitrate=1,
                          peak_bitrate=1, size=400, mime_type="video/mp4", codecs="avc1",
                          storage_key=f"{media.id}/rendition-240p.mp4", sha256="0" * 64,
                          playlist_key=f"{media.id}/rendition-240p.m3u8",
                          duration=205.0)  # fmt: skip
    pg_catalog.put_renditions(media.id, [rendition])
    quota = SharedQuota(1000, pg_catalog)
    with pytest.raises(StorageFull):  # 100 + 300 + 400 stored: 250 more does not fit
        quota.account().claim(250)
    quota.account().claim(200)
