"""The catalog's tables: one row per clip (`Media`) and per text track (`Track`)."""

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

MEDIA_KINDS = ("audio", "video")
STATUSES = ("processing", "ready", "failed")
TRACK_KINDS = ("captions", "subtitles", "descriptions", "chapters")
# Who made a track: a person's upload, the script aligned, the speech recognised, or edited.
TRACK_ORIGINS = ("uploaded", "aligned", "automatic", "edited")
MACHINE_ORIGINS = ("aligned", "automatic")
# The clip's machine-made captions: a job queued or running, or none made (with a reason).
CAPTIONS_STATES = ("pending", "none")
# Who may see a clip: anyone (listed), anyone with its URL (unlisted), or only the API token
# and signed URLs (private). A clip with `publish_at` past is public whatever it says.
VISIBILITIES = ("public", "unlisted", "private")
LISTED_COLUMNS = ("created_at", "id", "title_key", "visibility", "publish_at")

# Named constraints let later migrations alter them, SQLite batch mode included.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The job queue's own tables (procrastinate, PostgreSQL only) share the catalog's schema.
QUEUE_TABLE_PREFIX = "procrastinate_"


def is_catalog_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's include_object: the job queue's tables are not the catalog's to compare."""
    return not (reflected and name is not None and name.startswith(QUEUE_TABLE_PREFIX))


def utcnow() -> datetime:
    return datetime.now(UTC)


def fold_title(text: str) -> str:
    """A title as the search compares it: Unicode lower case, folded once when it is written
    (a database function per row made every search a slow scan)."""
    return text.lower()


def visibility_at(visibility: str, publish_at: datetime | None, now: datetime) -> str:
    """A clip's visibility at `now`: public once its `publish_at` has come (the one rule:
    the record, the list, the pages and the streams all ask it at read time)."""
    if publish_at is not None and publish_at <= now:
        return "public"
    return visibility


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Media(Base):
    """One clip: what the probe found, where its bytes live, what the editor wrote about it."""

    __tablename__ = "media"
    __table_args__ = (
        CheckConstraint(_one_of("kind", MEDIA_KINDS), name="kind"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        # Serves "newest first" pages (keyset: after a given created_at and id, which breaks
        # ties); with title_key in it, a title search scans this index alone, not the table.
        # Visibility in it too: the public list and its count still read the index alone.
        Index("ix_media_created_at_id_title_key_visibility", *LISTED_COLUMNS),
        Index("ix_media_status", "status"),
        CheckConstraint(_one_of("captions_state", CAPTIONS_STATES), name="captions_state"),
        CheckConstraint(_one_of("visibility", VISIBILITIES), name="visibility"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    title_key: Mapped[str] = mapped_column(Text, default="", server_default="")
    description: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(35))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="processing")
    status_reason: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float] = mapped_column(Float)
    mime_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    bitrate: Mapped[int | None] = mapped_column(BigInteger)
    codecs: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    storage_key: Mapped[str] = mapped_column(String(255))
    original_filename: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    # A web-playable copy (H.264/AAC MP4, or AAC M4A) when browsers cannot play the original.
    playable_key: Mapped[str | None] = mapped_column(String(255))
    playable_mime_type: Mapped[str | None] = mapped_column(String(255))
    playable_size: Mapped[int | None] = mapped_column(BigInteger)
    playable_sha256: Mapped[str | None] = mapped_column(String(64))
    # `pending` while an align/automatic job is queued or running; `none` with the reason when
    # the last one made no captions; NULL when no job ever ran.
    captions_state: Mapped[str | None] = mapped_column(String(16))
    captions_reason: Mapped[str | None] = mapped_column(Text)
    # The align/automatic jobs queued or running for the clip, one name per job: its captions
    # stay `pending` until the last one ends, and a restart on SQLite queues them again.
    captions_jobs: Mapped[list[str]] = mapped_column(JSON, default=list)
    visibility: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # then public: an embargo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tracks: Mapped[list["Track"]] = relationship(
        cascade="all, delete-orphan",
        order_by="(Track.created_at, Track.id)",
        lazy="selectin",
        passive_deletes=True,
    )
    versions: Mapped[list["Version"]] = relationship(
        cascade="all, delete-orphan",
        order_by="Version.role",
        lazy="selectin",
        passive_deletes=True,
    )
    renditions: Mapped[list["Rendition"]] = relationship(
        cascade="all, delete-orphan",
        order_by="Rendition.height.asc().nulls_last()",
        lazy="selectin",
        passive_deletes=True,
    )

    @validates("title")
    def _fold(self, key: str, title: str) -> str:
        self.title_key = fold_title(title)
        return title

    def visibility_at(self, now: datetime) -> str:
        return visibility_at(self.visibility, self.publish_at, now)

    def __repr__(self) -> str:
        return f"<Media {self.id} {self.kind} {self.status} {self.title!r}>"


class Track(Base):
    """A WebVTT text track of a clip: captions, subtitles, descriptions or chapters."""

    __tablename__ = "tracks"
    __table_args__ = (
        CheckConstraint(_one_of("kind", TRACK_KINDS), name="kind"),
        CheckConstraint(_one_of("origin", TRACK_ORIGINS), name="origin"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    media_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("media.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    srclang: Mapped[str] = mapped_column(String(35))
    label: Mapped[str] = mapped_column(Text)
    storage_key: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(16), default="uploaded", server_default="uploaded")
    # Whether a person checked the text: uploaded tracks are, machine-made ones are not.
    reviewed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # An edited machine-made track keeps the job's WebVTT (to restore it) and its origin.
    machine_key: Mapped[str | None] = mapped_column(String(255))
    machine_origin: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Track {self.id} {self.kind} {self.srclang} of {self.media_id}>"


# Versions of a clip: the programme with audio description mixed in, an interpreter's video.
VERSION_ROLES = ("described", "sign")


class Version(Base):
    """A second file of a clip (one per role), probed and stored as an upload is."""

    __tablename__ = "versions"
    __table_args__ = (CheckConstraint(_one_of("role", VERSION_ROLES), name="role"),)

    media_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("media.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    duration: Mapped[float] = mapped_column(Float)
    mime_type: Mapped[str] = mapped_column(String(255))
    codecs: Mapped[list[str]] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    # A web-playable copy when browsers cannot play the file, made by the clip's jobs.
    playable_key: Mapped[str | None] = mapped_column(String(255))
    playable_mime_type: Mapped[str | None] = mapped_column(String(255))
    playable_size: Mapped[int | None] = mapped_column(BigInteger)
    playable_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Version {self.role} of {self.media_id}>"


def rendition_file(name: str) -> str:
    """A ladder file's name in its URL: `720p.mp4`, `audio.m4a` (the audio alone)."""
    return "audio.m4a" if name == "audio" else f"{name}.mp4"


class Rendition(Base):
    """One file of a clip's rendition ladder (app.jobs.ladder): a video height in fragmented
    MP4 with one global index, or the audio alone ("listen only", height NULL)."""

    __tablename__ = "renditions"

    media_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("media.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # "240p", ..., "audio"
    height: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    bitrate: Mapped[int] = mapped_column(BigInteger)  # bits per second, as measured
    peak_bitrate: Mapped[int] = mapped_column(BigInteger)  # of its busiest segment (HLS BANDWIDTH)
    size: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(255))
    codecs: Mapped[str] = mapped_column(String(255))  # RFC 6381, for HLS CODECS=
    storage_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    # Its HLS media playlist (byte ranges from the file's index), stored beside it.
    playlist_key: Mapped[str] = mapped_column(String(255))
    duration: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def file(self) -> str:
        return rendition_file(self.name)

    def __repr__(self) -> str:
        return f"<Rendition {self.name} of {self.media_id}>"


UPLOAD_STATES = ("open", "done", "expired")


class ResumableUpload(Base):
    """A resumable (tus) upload: how far its bytes durably reached, what it becomes when whole.

    `offset` is written only after the bytes below it are synced, so it never runs ahead of
    them. A finished upload keeps pointing at its clip (`media_id`) and an expired one stays as
    a marker (410) until `expires_at` passes again; then the row goes."""

    __tablename__ = "resumable_uploads"
    __table_args__ = (
        CheckConstraint(_one_of("state", UPLOAD_STATES), name="state"),
        Index("ix_resumable_uploads_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="open")
    length: Mapped[int | None] = mapped_column(BigInteger)  # None until a deferred length is set
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_metadata: Mapped[str] = mapped_column(Text, default="")  # the Upload-Metadata header
    media_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<ResumableUpload {self.id} {self.state} {self.offset}/{self.length}>"


class UploadStart(Base):
    """An upload a client address started, kept while it counts against the upload rate.
    Written on PostgreSQL only, where replicas share the count (a SQLite server counts in
    memory)."""

    __tablename__ = "upload_starts"
    __table_args__ = (
        Index("ix_upload_starts_client_started_at", "client", "started_at"),
        Index("ix_upload_starts_started_at", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StorageReservation(Base):
    """Bytes a write in flight holds against the storage quota (PostgreSQL only).

    Stored clips count by their records' sizes; a write counts by its reservation until a
    record names its `storage_key`, or until `expires_at` (a replica that died mid-upload
    stops holding bytes then)."""

    __tablename__ = "storage_reservations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One attempt to deliver a webhook event to one endpoint, kept for the retention period.

    `message_id` is the Standard Webhooks `webhook-id`, the same on every attempt of an event
    (receivers use it to drop duplicates); `id` grows, so newest first is `id` descending."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_attempted_at", "attempted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    media_id: Mapped[str | None] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer (see error)
    error: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float] = mapped_column(Float)  # seconds
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Playlist(Base):
    """An ordered series of clips (a podcast season, a story in parts) played in one player."""

    __tablename__ = "playlists"
    __table_args__ = (Index("ix_playlists_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list["PlaylistItem"]] = relationship(
        cascade="all, delete-orphan",
        order_by="PlaylistItem.position",
        lazy="selectin",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Playlist {self.id} {self.title!r} {len(self.items)} clips>"


class PlaylistItem(Base):
    """A clip's place in a playlist. Deleting the clip deletes its places (the database's
    cascade), so it drops out of every playlist; positions may then have gaps."""

    __tablename__ = "playlist_items"

    playlist_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("media.id", ondelete="CASCADE"), index=True
    )

    media: Mapped[Media] = relationship(lazy="selectin")
