"""The catalog: clip and track records in SQLite or PostgreSQL, behind one small synchronous API."""

import base64
import contextlib
import fcntl
import re
import secrets
import sqlite3
import threading
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    tuple_,
    union,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, StaticPool
from sqlalchemy.sql.expression import ColumnElement

from app.catalog.models import (
    STATUSES,
    VISIBILITIES,
    Media,
    Rendition,
    ResumableUpload,
    StorageReservation,
    Track,
    UploadStart,
    Version,
    WebhookDelivery,
    fold_title,
    utcnow,
    visibility_at,
)
from app.config import normalize_database_url

ID_PATTERN = r"^[A-Za-z0-9_-]{16,32}$"
ID_RE = re.compile(ID_PATTERN)
EDITABLE_FIELDS = frozenset(
    {"title", "description", "language", "status", "status_reason", "visibility", "publish_at"}
)
# What the caption editor changes in a track's record.
TRACK_FIELDS = frozenset({"storage_key", "origin", "reviewed", "machine_key", "machine_origin"})
# What background jobs write: the status, a new probe's findings, the web rendition.
PROCESSED_FIELDS = frozenset(
    {"status", "status_reason", "kind", "duration", "mime_type", "width", "height", "bitrate",
     "codecs", "tags", "playable_key", "playable_mime_type", "playable_size", "playable_sha256",
     "captions_state", "captions_reason"}
)  # fmt: skip
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10
# One advisory lock per schema: catalogs in other schemas of the same database never wait.
MIGRATION_LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(hashtext('amps-migrate:' || coalesce(current_schema(), '')))"
)


# Shared limits (PostgreSQL): a client's upload starts are counted under a lock of that
# client, the quota's reservations under one lock of the schema; both on the database's clock.
RATE_LOCK_SQL = text(
    "SELECT pg_advisory_xact_lock(hashtext('amps-rate:' || coalesce(current_schema(), '') "
    "|| ':' || :client))"
)
QUOTA_LOCK_SQL = text(
    "SELECT pg_advisory_xact_lock(hashtext('amps-quota:' || coalesce(current_schema(), '')))"
)
STALE_STARTS = 500  # upload starts past the window forgotten per counted upload, at most
# Bytes in use: every clip's file and web copy, its versions and its ladder as recorded,
# plus the other writes' live reservations whose key no record names yet (a recorded key
# counts by its record).
STORED_BYTES = select(
    select(
        func.coalesce(func.sum(Media.size + func.coalesce(Media.playable_size, 0)), 0)
    ).scalar_subquery()
    + select(
        func.coalesce(func.sum(Version.size + func.coalesce(Version.playable_size, 0)), 0)
    ).scalar_subquery()
    + select(func.coalesce(func.sum(Rendition.size), 0)).scalar_subquery()
)


# Built once: every page view runs it, and building the IN clause costs more than running it.
STAMPS = select(
    Media.id, Media.updated_at, Media.status, Media.storage_key, Media.visibility, Media.publish_at
).where(Media.id.in_(bindparam("ids", expanding=True)))


@dataclass(frozen=True)
class PageCursor:
    """Where the next page of `Catalog.list` starts: after this clip, `position` clips in.
    Its token is opaque to clients (URL-safe base64); ValueError for one we never gave."""

    created_at: datetime
    id: str
    position: int

    @classmethod
    def after(cls, media: Media, position: int) -> "PageCursor":
        return cls(media.created_at, media.id, position)

    def token(self) -> str:
        text = f"{self.position} {self.created_at.isoformat()} {self.id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> "PageCursor":
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            position, moment, media_id = text.split(" ")
            created_at = datetime.fromisoformat(moment)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a page cursor: {token!r}") from exc
        if not position.isdigit() or created_at.tzinfo is None or not ID_RE.fullmatch(media_id):
            raise ValueError(f"not a page cursor: {token!r}")
        return cls(created_at, media_id, int(position))


class Busy(Exception):
    """A quick read could not answer without waiting: ask again from a worker thread."""


class UnknownMedia(LookupError):
    """A track was added to a clip that is not (or no longer) in the catalog."""


@dataclass(frozen=True)
class Stamp:
    """What changes whenever anything in a clip's record or its tracks does."""

    updated_at: datetime
    status: str
    storage_key: str
    visibility: str = "public"
    publish_at: datetime | None = None

    @classmethod
    def of(cls, media: Media) -> "Stamp":
        return cls(
            media.updated_at, media.status, media.storage_key, media.visibility, media.publish_at
        )

    def key(self) -> tuple[str, ...]:
        published = self.publish_at.isoformat() if self.publish_at else ""
        return (self.updated_at.isoformat(), self.status, self.storage_key, self.visibility,
                published)  # fmt: skip

    def visibility_at(self, now: datetime) -> str:
        return visibility_at(self.visibility, self.publish_at, now)


def new_id() -> str:
    """An unguessable, URL-safe id: 22 characters of [A-Za-z0-9_-], never starting with "-"
    (a command line would take `amps reprobe -x…` for an option)."""
    while True:
        media_id = secrets.token_urlsafe(16)
        if not media_id.startswith("-"):
            return media_id


def escape_like(value: str) -> str:
    """Make user input match literally inside a LIKE pattern escaped with a backslash."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _on_sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # Take BEGIN out of the driver's hands (see _on_sqlite_begin), then set up the file for
    # several processes: readers never block the writer in WAL, writers wait for each other.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable against crashes in WAL; power loss may lose the last commits only.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Any) -> None:
    # Writers take the write lock up front: a deferred transaction that reads and then writes
    # fails at once with "database is locked" when another process wrote meanwhile.
    if connection.get_execution_options().get("amps_write"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        # A server that is down fails ping() and requests in seconds, not at the OS's TCP timeout.
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    in_memory = url.database in (None, "", ":memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        poolclass=StaticPool if in_memory else None,
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


class Catalog:
    """Every clip and track record. Synchronous; each call uses its own short session."""

    def __init__(self, url: str) -> None:
        self.url = make_url(normalize_database_url(url))
        self.engine = _make_engine(self.url)
        self._write_engine = self.engine.execution_options(amps_write=True)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        database = self.url.database
        on_file = self.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
        self._quick = _QuickReads(str(database)) if on_file else None
        self._upload_locks: set[str] = set()
        self._upload_locks_guard = threading.Lock()
        self._locks_engine: Engine | None = None
        self._locks_file: Any = None

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to run from several processes at once."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        config.set_main_option("path_separator", "os")
        with self._migration_lock(), self._write_engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Held until the end of the transaction the migration runs in.
                connection.execute(text(MIGRATION_LOCK_SQL))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """On a SQLite file, a lock file next to it: the second process waits, then finds head."""
        database = self.url.database
        if self.url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
            yield
            return
        lock_path = Path(f"{database}.migrate-lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, media: Media) -> Media:
        with self._write() as session, session.begin():
            session.add(media)
            session.flush()
            session.refresh(media)
        return media

    def add_all(self, records: list[Media]) -> list[Media]:
        """Record many clips in one transaction (amps import): all of them or none."""
        with self._write() as session, session.begin():
            session.add_all(records)
        return records

    def get(self, media_id: str) -> Media | None:
        with self._read() as session:
            return session.get(Media, media_id)

    @property
    def reads_quickly(self) -> bool:
        """Whether quick_stamp can answer (a SQLite file: a point read from its page cache)."""
        return self._quick is not None

    def quick_stamp(self, media_id: str) -> Stamp | None:
        """The stamp of one clip read at once, for the event loop: a primary-key read of a
        local SQLite file costs ~10 µs, less than the hop to a thread. Never waits on a lock:
        Busy when the database is busy (or anything else goes wrong), to ask from a thread."""
        if self._quick is None:
            raise Busy("quick reads are for a SQLite file")
        return self._quick.stamp(media_id)

    def stamps(self, media_ids: Collection[str]) -> dict[str, Stamp]:
        """The current stamp of each clip that exists, in one query (absent ids are left out)."""
        with self.engine.connect() as connection:
            rows = connection.execute(STAMPS, {"ids": list(media_ids)}).all()
        return {
            row.id: Stamp(row.updated_at, row.status, row.storage_key, row.visibility,
                          row.publish_at)
            for row in rows
        }  # fmt: skip

    def list(
        self,
        *,
        offset: int = 0,
        limit: int = 20,
        query: str | None = None,
        status: str | None = None,
        after: "PageCursor | None" = None,
        listed_at: datetime | None = None,
    ) -> tuple[list[Media], int]:
        """A page of clips, newest first, and how many match in all. `after` starts the page
        just past a clip of the page before (keyset: as fast deep in the list as at its top).
        `listed_at`: only the clips public at that moment (models.visibility_at)."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        conditions: list[ColumnElement[bool]] = []
        if query:
            pattern = f"%{escape_like(fold_title(query))}%"
            conditions.append(Media.title_key.like(pattern, escape="\\"))
        if status is not None:
            conditions.append(Media.status == status)
        if listed_at is not None:
            conditions.append((Media.visibility == "public") | (Media.publish_at <= listed_at))
        page = select(Media).where(*conditions)
        if after is not None:
            page = page.where(tuple_(Media.created_at, Media.id) < (after.created_at, after.id))
        else:
            page = page.offset(offset)
        page = page.order_by(Media.created_at.desc(), Media.id.desc()).limit(limit)
        count = select(func.count()).select_from(Media).where(*conditions)
        with self._read() as session, session.begin():
            items = list(session.scalars(page))
            total = session.scalar(count) or 0
        return items, total

    def update(self, media_id: str, **fields: object) -> Media | None:
        """Change the editable fields of a clip; None when there is no such clip."""
        return self._change(media_id, EDITABLE_FIELDS, fields)

    def record_processing(self, media_id: str, **fields: object) -> Media | None:
        """Keep what a background job found or made; None when the clip is gone meanwhile."""
        return self._change(media_id, PROCESSED_FIELDS, fields)

    def start_captions_job(self, media_id: str, task: str) -> Media | None:
        """Count a queued align/automatic job: the clip's captions are pending until it ends."""
        with self._write() as session, session.begin():
            media = session.get(Media, media_id, with_for_update=True)
            if media is None:
                return None
            media.captions_jobs = [*media.captions_jobs, task]
            media.captions_state, media.captions_reason = "pending", None
            media.updated_at = utcnow()
        return media

    def end_captions_job(
        self, media_id: str, task: str, state: str | None, reason: str | None
    ) -> Media | None:
        """One of the clip's caption jobs ended with `state` and `reason`; the captions stay
        pending while another is queued or running (the later one has the last word)."""
        with self._write() as session, session.begin():
            media = session.get(Media, media_id, with_for_update=True)
            if media is None:
                return None
            left = list(media.captions_jobs)
            if task in left:
                left.remove(task)
            media.captions_jobs = left
            media.captions_state = "pending" if left else state
            media.captions_reason = None if left else reason
            media.updated_at = utcnow()
        return media

    def captions_jobs(self) -> tuple[tuple[str, str], ...]:
        """(clip, job) for every caption job counted as queued or running, oldest clip first."""
        query = (
            select(Media.id, Media.captions_jobs)
            .where(Media.captions_state == "pending")
            .order_by(Media.created_at)
        )
        with self._read() as session:
            rows = session.execute(query)
            return tuple((media_id, task) for media_id, tasks in rows for task in tasks)

    def ids_with_status(self, status: str) -> tuple[str, ...]:
        """Every clip in this status, oldest first (start-up re-queues the `processing` ones)."""
        query = select(Media.id).where(Media.status == status).order_by(Media.created_at)
        with self._read() as session:
            return tuple(session.scalars(query))

    def _change(
        self, media_id: str, allowed: frozenset[str], fields: dict[str, object]
    ) -> Media | None:
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}")
        if "visibility" in fields and fields["visibility"] not in VISIBILITIES:
            raise ValueError(f"unknown visibility {fields['visibility']!r}")
        with self._write() as session, session.begin():
            media = session.get(Media, media_id)
            if media is None:
                return None
            for name, value in fields.items():
                setattr(media, name, value)
            media.updated_at = utcnow()
        return media

    def delete(self, media_id: str) -> Media | None:
        """Remove a clip and its tracks; returns the record so the caller can remove its files."""
        with self._write() as session, session.begin():
            media = session.get(Media, media_id)
            if media is not None:
                session.delete(media)
        return media

    def add_track(self, track: Track) -> Track:
        with self._write() as session, session.begin():
            media = session.get(Media, track.media_id)
            if media is None:
                raise UnknownMedia(track.media_id)
            media.updated_at = utcnow()  # the record (and every page of it) shows its tracks
            session.add(track)
            session.flush()
            session.refresh(track)
        return track

    def change_track(self, media_id: str, track_id: str, **fields: object) -> Track | None:
        """Change a track's record (TRACK_FIELDS); None when the clip has no such track."""
        unknown = set(fields) - TRACK_FIELDS
        if unknown:
            raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
        with self._write() as session, session.begin():
            track = session.get(Track, track_id)
            if track is None or track.media_id != media_id:
                return None
            for name, value in fields.items():
                setattr(track, name, value)
            media = session.get(Media, media_id)
            if media is not None:
                media.updated_at = utcnow()  # the pages showing the track change with it
        return track

    def delete_track(self, media_id: str, track_id: str) -> Track | None:
        with self._write() as session, session.begin():
            track = session.get(Track, track_id)
            if track is None or track.media_id != media_id:
                return None
            session.delete(track)
            media = session.get(Media, media_id)
            if media is not None:
                media.updated_at = utcnow()
        return track

    def put_version(self, version: Version) -> Version | None:
        """Record the clip's version of this role, in place of the one it had; returns that
        one (its files are the caller's to remove). UnknownMedia when the clip is gone."""
        with self._write() as session, session.begin():
            media = session.get(Media, version.media_id)
            if media is None:
                raise UnknownMedia(version.media_id)
            earlier = session.get(Version, (version.media_id, version.role))
            if earlier is not None:
                session.delete(earlier)
                session.flush()
            media.updated_at = utcnow()  # pages and records show their versions
            session.add(version)
            session.flush()
            session.refresh(version)
        return earlier

    def delete_version(self, media_id: str, role: str) -> Version | None:
        with self._write() as session, session.begin():
            version = session.get(Version, (media_id, role))
            if version is None:
                return None
            session.delete(version)
            media = session.get(Media, media_id)
            if media is not None:
                media.updated_at = utcnow()
        return version

    def put_renditions(self, media_id: str, renditions: Sequence[Rendition]) -> tuple[str, ...]:
        """Record the clip's rendition ladder in place of the one it had; returns the storage
        keys no longer referred to (the caller's to remove). UnknownMedia when it is gone."""
        with self._write() as session, session.begin():
            media = session.get(Media, media_id)
            if media is None:
                raise UnknownMedia(media_id)
            kept = {r.storage_key for r in renditions}
            old = tuple(r.storage_key for r in media.renditions if r.storage_key not in kept)
            for earlier in list(media.renditions):
                session.delete(earlier)
            session.flush()
            session.add_all(renditions)
            media.updated_at = utcnow()  # records and pages list the renditions
        return old

    def record_version(self, media_id: str, role: str, **fields: object) -> Version | None:
        """Keep the web-playable copy a job made of a version; None when it is gone."""
        with self._write() as session, session.begin():
            version = session.get(Version, (media_id, role))
            if version is None:
                return None
            for name, value in fields.items():
                setattr(version, name, value)
            media = session.get(Media, media_id)
            if media is not None:
                media.updated_at = utcnow()
        return version

    @property
    def shared(self) -> bool:
        """Whether replicas share this catalog (PostgreSQL), and so its limits."""
        return self.url.get_backend_name() == "postgresql"

    def count_upload(self, client: str, per_minute: int, window: float) -> float | None:
        """Count an upload start of `client` (PostgreSQL) unless it has started `per_minute`
        in the last `window` seconds: None when counted, else the seconds until one would be."""
        with self._write_engine.begin() as connection:
            connection.execute(RATE_LOCK_SQL, {"client": client})
            now = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
            since = now - timedelta(seconds=window)
            recent = select(UploadStart.started_at).where(
                UploadStart.client == client, UploadStart.started_at > since
            )
            starts = sorted(connection.scalars(recent))
            if len(starts) >= per_minute:
                # Allowed again once enough of them have left the window.
                leaving = starts[len(starts) - per_minute]
                return float((leaving - now).total_seconds()) + window
            connection.execute(
                insert(UploadStart).values(id=new_id(), client=client, started_at=now)
            )
            # Starts of any client past the window, a few at a time; rows another replica
            # is deleting are skipped, never waited for.
            stale = (
                select(UploadStart.id)
                .where(UploadStart.started_at <= since)
                .limit(STALE_STARTS)
                .with_for_update(skip_locked=True)
            )
            connection.execute(delete(UploadStart).where(UploadStart.id.in_(stale)))
        return None

    def reserve(
        self, reservation: str, least: int, most: int, limit: int, ttl: float
    ) -> tuple[int, int]:
        """Hold at least `least` bytes for one write (up to `most`, and no more than half the
        room left past `least`) within `limit` with the stored clips and the other writes'
        reservations, for `ttl` seconds. Returns (bytes held, bytes in use by the rest);
        when `least` does not fit, (0, in use) and nothing changes."""
        with self._write_engine.begin() as connection:
            connection.execute(QUOTA_LOCK_SQL)
            now = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
            connection.execute(
                delete(StorageReservation).where(
                    (StorageReservation.expires_at <= now)
                    | StorageReservation.storage_key.in_(select(Media.storage_key))
                    | StorageReservation.storage_key.in_(select(Media.playable_key))
                    | StorageReservation.storage_key.in_(select(Version.storage_key))
                    | StorageReservation.storage_key.in_(select(Version.playable_key))
                    | StorageReservation.storage_key.in_(select(Rendition.storage_key))
                )
            )
            others = select(func.coalesce(func.sum(StorageReservation.size), 0)).where(
                StorageReservation.id != reservation
            )
            stored = connection.execute(STORED_BYTES).scalar_one()
            in_use = int(stored) + int(connection.execute(others).scalar_one())
            free = limit - in_use - least
            if free < 0:
                return 0, in_use
            # Room for more than this write needs now, but at most half of what is left:
            # a write in flight never takes all the room another would need.
            held = least + min(most - least, free // 2)
            values = {"size": held, "expires_at": now + timedelta(seconds=ttl)}
            updated = connection.execute(
                update(StorageReservation)
                .where(StorageReservation.id == reservation)
                .values(**values)
            )
            if updated.rowcount == 0:
                connection.execute(insert(StorageReservation).values(id=reservation, **values))
        return held, in_use

    def settle_reservation(self, reservation: str, key: str, size: int, ttl: float) -> None:
        """The write is stored under `key`: its `size` counts until a record names the key
        (then the record's size does), or for `ttl` seconds at most."""
        with self._write_engine.begin() as connection:
            expires = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
            connection.execute(
                update(StorageReservation)
                .where(StorageReservation.id == reservation)
                .values(storage_key=key, size=size, expires_at=expires + timedelta(seconds=ttl))
            )

    def drop_reservation(self, reservation: str) -> None:
        """The write was discarded: it holds nothing any more."""
        with self._write_engine.begin() as connection:
            connection.execute(
                delete(StorageReservation).where(StorageReservation.id == reservation)
            )

    def storage_keys(self) -> set[str]:
        """Every storage key the catalog refers to, for the storage sweep."""
        keys: Any = union(  # of str and str | None columns, which mypy cannot join
            select(Media.storage_key),
            select(Track.storage_key),
            select(Track.machine_key).where(Track.machine_key.is_not(None)),
            select(Version.storage_key),
            select(Rendition.storage_key),
            select(Rendition.playlist_key),
        )
        with self._read() as session:
            return set(session.scalars(keys))

    # Resumable (tus) uploads: their state; the bytes are the storage's.

    def add_resumable(self, upload: ResumableUpload) -> ResumableUpload:
        with self._write() as session, session.begin():
            session.add(upload)
        return upload

    def get_resumable(self, upload_id: str) -> ResumableUpload | None:
        with self._read() as session:
            return session.get(ResumableUpload, upload_id)

    def change_resumable(self, upload_id: str, **fields: object) -> ResumableUpload | None:
        """Set fields of an upload (offset, length, state, media_id, expires_at); None if gone."""
        with self._write() as session, session.begin():
            upload = session.get(ResumableUpload, upload_id)
            if upload is None:
                return None
            for name, value in fields.items():
                setattr(upload, name, value)
        return upload

    def delete_resumable(self, upload_id: str) -> bool:
        with self._write() as session, session.begin():
            upload = session.get(ResumableUpload, upload_id)
            if upload is not None:
                session.delete(upload)
        return upload is not None

    def expired_resumables(self, now: datetime, limit: int = 1000) -> tuple[ResumableUpload, ...]:
        """Uploads whose expiry has passed, oldest first."""
        query = (
            select(ResumableUpload)
            .where(ResumableUpload.expires_at < now)
            .order_by(ResumableUpload.expires_at)
            .limit(limit)
        )
        with self._read() as session:
            return tuple(session.scalars(query))

    def resumable_ids(self) -> set[str]:
        with self._read() as session:
            return set(session.scalars(select(ResumableUpload.id)))

    # Webhook delivery attempts, newest first; the old ones go as new ones come.

    def add_delivery(self, attempt: WebhookDelivery, keep_for: float) -> WebhookDelivery:
        """Record one attempt and drop those older than `keep_for` seconds."""
        with self._write() as session, session.begin():
            session.add(attempt)
            cutoff = utcnow() - timedelta(seconds=keep_for)
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.attempted_at < cutoff))
        return attempt

    def deliveries(self, limit: int, before: int | None = None) -> tuple[WebhookDelivery, ...]:
        """Attempts newest first; `before`: only those recorded before the one with that id."""
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if before is not None:
            query = query.where(WebhookDelivery.id < before)
        with self._read() as session:
            return tuple(session.scalars(query))

    @contextlib.contextmanager
    def resumable_lock(self, upload_id: str) -> Iterator[bool]:
        """Hold the upload for one writer (a PATCH, a termination, the sweep): yields False at
        once when another request, process or replica holds it. Released when the holder's
        process dies (SIGKILL included): the next request takes it over."""
        with self._upload_locks_guard:
            if upload_id in self._upload_locks:
                yield False
                return
            self._upload_locks.add(upload_id)
        try:
            with self._shared_lock(upload_id) as held:
                yield held
        finally:
            with self._upload_locks_guard:
                self._upload_locks.discard(upload_id)

    @contextlib.contextmanager
    def _shared_lock(self, upload_id: str) -> Iterator[bool]:
        """The lock between processes. PostgreSQL: a session advisory lock on a connection of
        its own, so the offset can be committed while it is held (a row lock would hold every
        offset update back until the PATCH ends) and the server drops it with the connection.
        A SQLite file: a byte-range lock in a file beside it (the kernel drops it with the
        process)."""
        if self.url.get_backend_name() == "postgresql":
            engine = self._lock_engine()
            with engine.connect() as connection:
                key = {"key": f"amps-upload:{upload_id}"}
                held = bool(
                    connection.scalar(text("SELECT pg_try_advisory_lock(hashtext(:key))"), key)
                )
                connection.commit()  # not idle in a transaction while the PATCH runs
                try:
                    yield held
                finally:
                    if held:
                        connection.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), key)
                        connection.commit()
            return
        lock_file = self._lock_file()
        if lock_file is None:  # an in-memory database lives in this process only
            yield True
            return
        position = zlib.crc32(upload_id.encode()) & 0x7FFFFFFF
        try:
            fcntl.lockf(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, position)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.lockf(lock_file, fcntl.LOCK_UN, 1, position)

    def _lock_engine(self) -> Engine:
        with self._upload_locks_guard:
            if self._locks_engine is None:
                self._locks_engine = create_engine(
                    self.url,
                    poolclass=NullPool,
                    connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
                )
            return self._locks_engine

    def _lock_file(self) -> Any:
        database = self.url.database
        if database in (None, "", ":memory:"):
            return None
        with self._upload_locks_guard:
            if self._locks_file is None:
                self._locks_file = Path(f"{database}.upload-locks").open("a+b")  # noqa: SIM115
            return self._locks_file

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            return False
        return True

    def dispose(self) -> None:
        if self._quick is not None:
            self._quick.close()
        if self._locks_engine is not None:
            self._locks_engine.dispose()
        if self._locks_file is not None:
            self._locks_file.close()
        self.engine.dispose()


def _utc(text: str) -> datetime:
    """As models.UTCDateTime reads it: SQLAlchemy's SQLite text form, naive UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class _QuickReads:
    """Read-only connections to a SQLite file, one per thread, that never wait on a lock."""

    SQL = "SELECT updated_at, status, storage_key, visibility, publish_at FROM media WHERE id = ?"

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            uri = f"file:{quote(self.path)}?mode=ro"
            connection = sqlite3.connect(
                uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA query_only = ON")
            self._local.connection = connection
            with self._lock:
                self._opened.append(connection)
        return connection

    def stamp(self, media_id: str) -> Stamp | None:
        try:
            rows = self._connection().execute(self.SQL, (media_id,)).fetchall()
        except sqlite3.Error as exc:  # busy, locked, not migrated yet: the thread path knows
            raise Busy(str(exc)) from exc
        if not rows:
            return None
        updated_at, status, storage_key, visibility, publish_at = rows[0]
        return Stamp(_utc(updated_at), status, storage_key, visibility,
                     _utc(publish_at) if publish_at else None)  # fmt: skip

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
