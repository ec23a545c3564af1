"""The clip list in pages: `next` links (keyset cursors) walk every clip once, newest first."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from starlette.testclient import TestClient

from app.catalog.database import MIGRATIONS, Catalog, PageCursor, new_id
from app.catalog.models import Media
from app.config import Settings
from app.main import create_app

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
COUNT = 157


def clip(index: int, created_at: datetime) -> Media:
    media_id = new_id()
    return Media(
        id=media_id, title=f"{'Weekly' if index % 2 else 'Daily'} report {index}",
        description="", kind="audio", status="ready", duration=60.0, mime_type="audio/mpeg",
        size=1000, codecs=["mp3"], tags={}, storage_key=f"{media_id}/original.mp3",
        sha256="0" * 64, created_at=created_at, updated_at=created_at,
    )  # fmt: skip


@pytest.fixture
def many(tmp_path: Path, database_url: str | None) -> Iterator[tuple[TestClient, list[Media]]]:
    """COUNT clips, ten at a time sharing one created_at (ties the id must break)."""
    settings = Settings(media_dir=tmp_path / "media", database_url=database_url)
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        catalog: Catalog = client.app.state.catalog  # type: ignore[attr-defined]
        records = [clip(i, T0 + timedelta(minutes=i // 10)) for i in range(COUNT)]
        catalog.add_all(records)
        newest_first = sorted(records, key=lambda m: (m.created_at, m.id), reverse=True)
        yield client, newest_first


def walk_api(client: TestClient, url: str) -> tuple[list[str], list[int]]:
    ids: list[str] = []
    offsets: list[int] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["offset"] == len(ids)
        offsets.append(page["offset"])
        ids += [item["id"] for item in page["items"]]
        next_url = page["next"]
        assert next_url is None or "offset=" not in next_url
    return ids, offsets


def test_next_links_walk_every_clip_once_in_order(many: tuple[TestClient, list[Media]]) -> None:
    client, newest_first = many
    ids, offsets = walk_api(client, "/api/media?limit=7")
    assert ids == [m.id for m in newest_first]
    assert offsets == list(range(0, COUNT, 7))


def test_next_links_of_a_search_walk_every_match_once(
    many: tuple[TestClient, list[Media]],
) -> None:
    client, newest_first = many
    ids, _ = walk_api(client, "/api/media?limit=9&q=weekly")
    assert ids == [m.id for m in newest_first if m.title.startswith("Weekly")]
    assert client.get("/api/media?limit=9&q=weekly").json()["total"] == COUNT // 2


def test_a_clip_added_while_paging_shifts_nothing(many: tuple[TestClient, list[Media]]) -> None:
    client, newest_first = many
    first = client.get("/api/media?limit=20").json()
    catalog: Catalog = client.app.state.catalog  # type: ignore[attr-defined]
    catalog.add(clip(999, T0 + timedelta(days=1)))
    second = client.get(first["next"]).json()
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert seen == [m.id for m in newest_first[:40]]


def test_library_page_next_links_show_every_clip_once(
    many: tuple[TestClient, list[Media]],
) -> None:
    client, newest_first = many
    ids: list[str] = []
    url: str | None = "/"
    pages = 0
    while url is not None:
        html = client.get(url).text
        pages += 1
        ids += re.findall(r'<a href="[^"]*/media/([A-Za-z0-9_-]{22})"', html)
        found = re.search(r'<a href="([^"]+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
        if pages > 1:
            assert re.search(r'rel="prev"', html)
    assert list(dict.fromkeys(ids)) == [m.id for m in newest_first]
    assert pages == -(-COUNT // 24)


@pytest.mark.parametrize("token", ["nonsense", "MTAgbm90LWEtZGF0ZSBhYmM", "%00", "A" * 150])
def test_a_cursor_we_never_gave_is_422(many: tuple[TestClient, list[Media]], token: str) -> None:
    client, _ = many
    api = client.get("/api/media", params={"cursor": token})
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/problem+json"
    assert client.get("/", params={"cursor": token}).status_code == 422


def test_cursor_token_round_trips() -> None:
    cursor = PageCursor(T0, new_id(), 48)
    assert PageCursor.parse(cursor.token()) == cursor


def test_migration_fills_the_title_key_of_existing_clips(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'amps.sqlite3'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    with catalog.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        media = sa.table("media", *(sa.column(name) for name in COLUMNS_0001))
        row = dict(zip(COLUMNS_0001, ["x" * 22, "ÉLAN Vital", "", "audio", "ready", 1.0,
                                      "audio/mpeg", 1, "[]", "{}", "x/a.mp3", "0" * 64,
                                      "2025-01-01 00:00:00.000000", "2025-01-01 00:00:00.000000"],
                       strict=True))  # fmt: skip
        connection.execute(media.insert().values(**row))
    catalog.migrate()
    assert [m.title for m in catalog.list(query="élan")[0]] == ["ÉLAN Vital"]
    catalog.dispose()


COLUMNS_0001 = (
    "id", "title", "description", "kind", "status", "duration", "mime_type", "size", "codecs",
    "tags", "storage_key", "sha256", "created_at", "updated_at",
)  # fmt: skip
