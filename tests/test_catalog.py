import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from starlette.testclient import TestClient

from app.catalog.database import ID_PATTERN, MIGRATIONS, Catalog, UnknownMedia, new_id
from app.catalog.models import Base, Media, Track, is_catalog_object
from app.config import Settings, normalize_database_url
from app.main import create_app
from tests import pg
from tests.conftest import stored_files, wait_processed

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def catalog_url(database_url: str | None, tmp_path: Path) -> str:
    """A fresh, empty catalog: a SQLite file, or a schema of its own in the local PostgreSQL."""
    return database_url or f"sqlite:///{tmp_path / 'amps.sqlite3'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    pg.require_server()
    with pg.fresh_schema() as schema:
        yield pg.url(schema)


def open_catalog(url: str) -> Iterator[Catalog]:
    catalog = Catalog(url)
    catalog.migrate()
    yield catalog
    catalog.dispose()


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    yield from open_catalog(catalog_url)


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Iterator[Catalog]:
    yield from open_catalog(f"sqlite:///{tmp_path / 'amps.sqlite3'}")


@pytest.fixture
def pg_catalog(pg_url: str) -> Iterator[Catalog]:
    yield from open_catalog(pg_url)


def make_media(**fields: object) -> Media:
    media_id = str(fields.pop("id", new_id()))
    values: dict[str, object] = {
        "id": media_id,
        "title": "A clip",
        "kind": "video",
        "status": "ready",
        "duration": 205.0,
        "mime_type": "video/mp4",
        "size": 1234,
        "width": 640,
        "height": 360,
        "codecs": ["h264", "aac"],
        "tags": {"artist": "Someone"},
        "storage_key": f"{media_id}/original.mp4",
        "sha256": "0" * 64,
    }
    values.update(fields)
    return Media(**values)


def make_track(media_id: str, **fields: object) -> Track:
    track_id = str(fields.pop("id", new_id()))
    values: dict[str, object] = {
        "id": track_id,
        "media_id": media_id,
        "kind": "captions",
        "srclang": "en",
        "label": "English",
        "storage_key": f"{media_id}/track-{track_id.lower()}.vtt",
    }
    values.update(fields)
    return Track(**values)


def add_titled(catalog: Catalog, *titles: str) -> list[Media]:
    """One clip per title, each a minute newer than the one before."""
    return [
        catalog.add(make_media(title=title, created_at=T0 + timedelta(minutes=i)))
        for i, title in enumerate(titles)
    ]


def titles(page: tuple[list[Media], int]) -> list[str]:
    return [media.title for media in page[0]]


def test_migrate_twice_is_fine(catalog: Catalog) -> None:
    catalog.migrate()
    assert catalog.list() == ([], 0)


def test_migration_matches_models(catalog: Catalog) -> None:
    with catalog.engine.connect() as connection:
        options = {"compare_type": True, "include_object": is_catalog_object}
        context = MigrationContext.configure(connection, opts=options)
        assert compare_metadata(context, Base.metadata) == []


def test_two_processes_migrate_a_fresh_database_at_once(catalog_url: str) -> None:
    url = catalog_url
    # Each process imports and connects first, then all start migrating at the same moment.
    code = (
        "import sys; from app.catalog.database import Catalog; catalog = Catalog(sys.argv[1]);"
        " catalog.ping(); print('ready', flush=True); sys.stdin.readline(); catalog.migrate()"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
    errors = [process.communicate(timeout=60)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    catalog = Catalog(url)
    try:
        with catalog.engine.connect() as connection:
            version = connection.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    finally:
        catalog.dispose()


def test_sqlite_uses_wal_and_foreign_keys(sqlite_catalog: Catalog) -> None:
    with sqlite_catalog.engine.connect() as connection:
        assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
        assert connection.scalar(text("PRAGMA foreign_keys")) == 1


def test_new_ids_are_url_safe_and_unique() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(ID_PATTERN, media_id) for media_id in ids)
    assert all(len(media_id) == 22 for media_id in ids)


def test_new_ids_never_look_like_a_command_line_option() -> None:
    # One in 64 random ids would start with "-"; 10,000 draws miss that with odds of 1e-68.
    assert not [media_id for media_id in (new_id() for _ in range(10_000)) if media_id[0] == "-"]


def test_id_pattern_refuses_paths() -> None:
    for bad in ["../../etc/passwd", "a" * 15, "a" * 33, "abc%2e%2e" + "a" * 10, "a" * 20 + "/"]:
        assert re.fullmatch(ID_PATTERN, bad) is None


def test_add_then_get(catalog: Catalog) -> None:
    media = catalog.add(make_media(title="Interview"))
    found = catalog.get(media.id)
    assert found is not None
    assert (found.title, found.kind, found.codecs, found.tags) == (
        "Interview",
        "video",
        ["h264", "aac"],
        {"artist": "Someone"},
    )


def test_add_fills_defaults(catalog: Catalog) -> None:
    media_id = new_id()
    media = catalog.add(
        Media(
            id=media_id,
            title="Bare",
            kind="audio",
            duration=1.0,
            mime_type="audio/mpeg",
            size=1,
            storage_key=f"{media_id}/original.mp3",
            sha256="0" * 64,
        )
    )
    assert media.description == ""
    assert media.status == "processing"
    assert (media.codecs, media.tags, media.tracks) == ([], {}, [])


def test_get_unknown_is_none(catalog: Catalog) -> None:
    assert catalog.get(new_id()) is None


def test_get_loads_tracks_for_use_after_the_session(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    track = catalog.add_track(make_track(media.id))
    found = catalog.get(media.id)
    assert found is not None
    assert [t.id for t in found.tracks] == [track.id]


def test_tracks_in_order_of_creation(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    later = catalog.add_track(make_track(media.id, created_at=T0 + timedelta(hours=1)))
    earlier = catalog.add_track(make_track(media.id, created_at=T0))
    found = catalog.get(media.id)
    assert found is not None
    assert [t.id for t in found.tracks] == [earlier.id, later.id]


def test_datetimes_come_back_timezone_aware_utc(catalog: Catalog) -> None:
    paris = datetime(2025, 6, 1, 14, 0, tzinfo=UTC).astimezone()
    media = catalog.add(make_media(created_at=paris))
    catalog.add_track(make_track(media.id))
    found = catalog.get(media.id)
    assert found is not None
    for moment in (found.created_at, found.updated_at, found.tracks[0].created_at):
        assert moment.utcoffset() == timedelta(0)
    assert found.created_at == paris


def test_naive_datetimes_are_refused(catalog: Catalog) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        catalog.add(make_media(created_at=datetime(2025, 1, 1)))


def test_list_newest_first(catalog: Catalog) -> None:
    add_titled(catalog, "first", "second", "third")
    assert titles(catalog.list()) == ["third", "second", "first"]


def test_list_pages_with_total(catalog: Catalog) -> None:
    add_titled(catalog, *(f"clip {i}" for i in range(25)))
    page, total = catalog.list(offset=20, limit=10)
    assert total == 25
    assert [m.title for m in page] == [f"clip {i}" for i in range(4, -1, -1)]


def test_list_past_the_end_is_empty_with_total(catalog: Catalog) -> None:
    add_titled(catalog, "only")
    assert catalog.list(offset=5) == ([], 1)


def test_list_same_timestamp_pages_without_overlap(catalog: Catalog) -> None:
    for i in range(10):
        catalog.add(make_media(title=str(i), created_at=T0))
    seen = titles(catalog.list(limit=5)) + titles(catalog.list(offset=5, limit=5))
    assert sorted(seen) == [str(i) for i in range(10)]


def test_list_refuses_negative_offset(catalog: Catalog) -> None:
    with pytest.raises(ValueError):
        catalog.list(offset=-1)


def test_list_query_is_a_case_insensitive_substring(catalog: Catalog) -> None:
    add_titled(catalog, "Morning News", "Evening news", "Weather")
    assert titles(catalog.list(query="NEWS")) == ["Evening news", "Morning News"]
    assert catalog.list(query="NEWS")[1] == 2


def test_list_query_folds_non_ascii_case(catalog: Catalog) -> None:
    add_titled(catalog, "Élan vital", "ÜBER ALLES", "plain")
    assert titles(catalog.list(query="élan")) == ["Élan vital"]
    assert titles(catalog.list(query="über")) == ["ÜBER ALLES"]


def test_list_query_percent_is_literal(catalog: Catalog) -> None:
    add_titled(catalog, "100% pure", "1000 pure")
    assert titles(catalog.list(query="100%")) == ["100% pure"]
    assert titles(catalog.list(query="%")) == ["100% pure"]


def test_list_query_underscore_is_literal(catalog: Catalog) -> None:
    add_titled(catalog, "snake_case", "snakeXcase")
    assert titles(catalog.list(query="e_c")) == ["snake_case"]


def test_list_query_backslash_is_literal(catalog: Catalog) -> None:
    add_titled(catalog, r"C:\clips", "C:clips")
    assert titles(catalog.list(query="\\")) == [r"C:\clips"]


def test_list_status_filter(catalog: Catalog) -> None:
    catalog.add(make_media(title="done", status="ready", created_at=T0))
    catalog.add(make_media(title="busy", status="processing", created_at=T0))
    assert titles(catalog.list(status="processing")) == ["busy"]
    assert catalog.list(status="failed") == ([], 0)


PAGE_QUERY = "SELECT id FROM media ORDER BY created_at DESC, id DESC LIMIT 20 OFFSET 40"


def test_list_pages_use_the_created_at_index(sqlite_catalog: Catalog) -> None:
    statement = PAGE_QUERY
    with sqlite_catalog.engine.connect() as connection:
        plan = " ".join(
            str(row) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {statement}"))
        )
    assert "ix_media_created_at_id" in plan
    assert "TEMP B-TREE" not in plan


def test_update_changes_editable_fields(catalog: Catalog) -> None:
    media = catalog.add(make_media(title="Old"))
    updated = catalog.update(media.id, title="New", description="Longer", language="fr")
    assert updated is not None
    assert (updated.title, updated.description, updated.language) == ("New", "Longer", "fr")
    found = catalog.get(media.id)
    assert found is not None and found.title == "New"


def test_update_bumps_updated_at(catalog: Catalog) -> None:
    media = catalog.add(make_media(updated_at=T0))
    updated = catalog.update(media.id, status="failed", status_reason="Probe failed.")
    assert updated is not None
    assert updated.updated_at > T0
    assert updated.created_at == media.created_at


def test_update_refuses_other_fields(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    with pytest.raises(TypeError, match="storage_key"):
        catalog.update(media.id, storage_key="../../etc/passwd")


def test_update_refuses_unknown_status(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    with pytest.raises(ValueError, match="status"):
        catalog.update(media.id, status="done")


def test_update_unknown_is_none(catalog: Catalog) -> None:
    assert catalog.update(new_id(), title="x") is None


def test_delete_returns_record_with_tracks(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    track = catalog.add_track(make_track(media.id))
    deleted = catalog.delete(media.id)
    assert deleted is not None
    assert (deleted.storage_key, [t.storage_key for t in deleted.tracks]) == (
        media.storage_key,
        [track.storage_key],
    )
    assert catalog.get(media.id) is None


def test_delete_cascades_to_tracks(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    catalog.add_track(make_track(media.id))
    catalog.delete(media.id)
    with catalog.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM tracks")) == 0


def test_delete_unknown_is_none(catalog: Catalog) -> None:
    assert catalog.delete(new_id()) is None


def test_add_track_to_unknown_media_raises(catalog: Catalog) -> None:
    with pytest.raises(UnknownMedia):
        catalog.add_track(make_track(new_id()))


def test_delete_track(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    track = catalog.add_track(make_track(media.id))
    deleted = catalog.delete_track(media.id, track.id)
    assert deleted is not None and deleted.storage_key == track.storage_key
    found = catalog.get(media.id)
    assert found is not None and found.tracks == []


def test_delete_track_of_another_media_is_none(catalog: Catalog) -> None:
    media, other = catalog.add(make_media()), catalog.add(make_media())
    track = catalog.add_track(make_track(media.id))
    assert catalog.delete_track(other.id, track.id) is None
    assert catalog.get(media.id).tracks != []  # type: ignore[union-attr]


def test_storage_keys_of_media_and_tracks(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    track = catalog.add_track(make_track(media.id))
    other = catalog.add(make_media())
    assert catalog.storage_keys() == {media.storage_key, track.storage_key, other.storage_key}


def test_concurrent_writers_wait_for_each_other(catalog: Catalog) -> None:
    media = catalog.add(make_media())
    errors: list[Exception] = []

    def edit(n: int) -> None:
        try:
            for i in range(20):
                catalog.update(media.id, title=f"{n}-{i}")
                catalog.add_track(make_track(media.id))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(catalog.get(media.id).tracks) == 120  # type: ignore[union-attr]


def test_ping(catalog: Catalog) -> None:
    assert catalog.ping() is True


def test_ping_false_when_database_unreachable(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'missing-dir' / 'amps.sqlite3'}")
    try:
        assert catalog.ping() is False
    finally:
        catalog.dispose()


# PostgreSQL only: what the shared tests above cannot see.


def test_postgres_urls_get_the_psycopg_driver() -> None:
    for scheme in ("postgresql", "postgres"):
        assert normalize_database_url(f"{scheme}://u@db:5432/amps") == (
            "postgresql+psycopg://u@db:5432/amps"
        )
    for kept in ("postgresql+psycopg://u@db/amps", "sqlite:///x.sqlite3", "postgresql+pg8000://db"):
        assert normalize_database_url(kept) == kept
    settings = Settings(database_url="postgres://u@db/amps")
    assert settings.catalog_url == "postgresql+psycopg://u@db/amps"


def test_postgres_catalog_is_in_its_own_schema(pg_catalog: Catalog) -> None:
    assert pg_catalog.url.drivername == "postgresql+psycopg"
    schema = pg_catalog.url.query["options"]
    with pg_catalog.engine.connect() as connection:
        assert f"-csearch_path={connection.scalar(text('SELECT current_schema()'))}" == schema
        version = connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_postgres_columns_are_timestamptz_and_json(pg_catalog: Catalog) -> None:
    query = text(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'media'"
        " AND column_name IN ('created_at', 'codecs', 'tags')"
    )
    with pg_catalog.engine.connect() as connection:
        types = {name: data_type for name, data_type in connection.execute(query)}
    assert types == {
        "created_at": "timestamp with time zone",
        "codecs": "json",
        "tags": "json",
    }


def test_postgres_datetimes_are_utc_whatever_the_session_zone(pg_url: str) -> None:
    url = pg_url + "%20-ctimezone%3DAsia/Kolkata"
    for catalog in open_catalog(url):
        media = catalog.add(make_media(created_at=T0))
        found = catalog.get(media.id)
        assert found is not None
        assert found.created_at == T0 and found.created_at.utcoffset() == timedelta(0)
        with catalog.engine.connect() as connection:
            assert connection.scalar(text("SHOW timezone")) == "Asia/Kolkata"


def test_postgres_list_pages_use_the_created_at_index(pg_catalog: Catalog) -> None:
    with pg_catalog.engine.connect() as connection:
        # Planning on an empty table: make sure a full scan or a bitmap scan is never "cheaper".
        connection.execute(text("SET enable_seqscan = off"))
        connection.execute(text("SET enable_bitmapscan = off"))
        plan = " ".join(row[0] for row in connection.execute(text(f"EXPLAIN {PAGE_QUERY}")))
    assert "ix_media_created_at_id" in plan
    assert "Sort" not in plan


def test_postgres_ping_false_when_server_unreachable() -> None:
    catalog = Catalog("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")
    try:
        assert catalog.ping() is False
    finally:
        catalog.dispose()


def test_api_end_to_end_over_postgres(
    pg_url: str, tmp_path: Path, media_files: dict[str, Path]
) -> None:
    settings = Settings(media_dir=tmp_path / "media", database_url=pg_url, probe_timeout=20)
    with TestClient(create_app(settings), client=("127.0.0.1", 1)) as client:
        assert client.get("/healthz").status_code == 200
        with media_files["video.mp4"].open("rb") as handle:
            response = client.post(
                "/api/media",
                files={"file": ("clip.mp4", handle)},
                data={"title": "Über 100% news_clip"},
            )
        assert response.status_code == 201, response.text
        record = response.json()
        media_id = record["id"]
        assert (record["kind"], record["status"], record["codecs"]) == (
            "video",
            "processing",
            ["h264", "aac"],
        )
        # Its job ran on the queue in PostgreSQL, by the worker inside this server.
        assert wait_processed(client, media_id)["status"] == "ready"
        assert record["created_at"].endswith(("Z", "+00:00"))

        listed = client.get("/api/media", params={"q": "ÜBER 100%"}).json()
        assert (listed["total"], [m["id"] for m in listed["items"]]) == (1, [media_id])
        assert client.get("/api/media", params={"q": "news%clip"}).json()["total"] == 0

        patched = client.patch(f"/api/media/{media_id}", json={"title": "Renamed"})
        assert patched.status_code == 200
        assert client.get(f"/api/media/{media_id}").json()["title"] == "Renamed"
        stream = client.get(f"/media/{media_id}/stream", headers={"Range": "bytes=0-99"})
        assert stream.status_code == 206 and len(stream.content) == 100

        assert client.delete(f"/api/media/{media_id}").status_code == 204
        assert client.get(f"/api/media/{media_id}").status_code == 404
        assert client.get("/api/media").json()["total"] == 0
    assert stored_files(settings.media_dir) == []
    assert not (settings.media_dir / "amps.sqlite3").exists()
