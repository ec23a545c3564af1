"""The one place that owns a clip's life: upload -> probe -> store -> record, and deletion."""

import logging
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TypeVar

import anyio.to_thread

from app.catalog.database import Catalog, UnknownMedia, new_id
from app.catalog.models import MACHINE_ORIGINS, VISIBILITIES, Media, Track, Version
from app.config import Settings
from app.errors import Problem
from app.jobs.ladder import ladder_keys
from app.jobs.processing import SCRIPT_NAME, Processor, new_track, store_track, version_keys
from app.jobs.queue import JobQueue, make_queue
from app.media.durations import format_duration
from app.media.posters import poster_names, stored_poster
from app.media.probe import ProbeError, ProbeResult, probe_file, probe_url
from app.media.quick_probe import quick_probe
from app.media.renditions import browsers_play
from app.metrics import UPLOAD_BYTES, timed_probe
from app.speech.models import no_recogniser, recogniser_installed
from app.speech.script import ScriptError, decode_script
from app.storage.base import (
    MissingKey,
    Pending,
    RemoteFile,
    Storage,
    StorageError,
    StorageFull,
    media_key,
)
from app.storage.local import LocalStorage, SharedQuota

log = logging.getLogger("amps")


T = TypeVar("T")
R = TypeVar("R")
IMPORT_WORKERS = 8  # files copied, probed and stored at once (ffprobe runs are processes)
IMPORT_BATCH = 200  # records per catalog transaction
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
MAX_LANGUAGE = 35  # BCP 47's longest tags, and the catalog column's width
COPY_CHUNK = 1024 * 1024
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # not \t \n \r
SCRIPT_NOT_KEPT = "The script sent with the upload could not be stored: send it again."
STORAGE_FULL = "The server's storage is full, so nothing was kept. Try again later."
NOT_QUEUED = "The server could not queue the captions job: ask for the captions again."
VERSION_NAMES = {"described": "described version", "sign": "sign-language video"}


def version_fits(role: str, media: Media, result: ProbeResult) -> None:
    """422 unless a probed file can stand in for (described) or beside (sign) the clip: the
    right kind, and as long as the clip within 2% or 2 s (whichever allows more)."""
    name = VERSION_NAMES[role]
    if role == "sign" and result.kind != "video":
        raise Problem(422, "A sign-language video must be a video, not audio alone.", field="file")
    if role == "described" and result.kind != media.kind:
        raise Problem(
            422, f"The clip is {media.kind}, so its described version must be {media.kind} too.",
            field="file",
        )  # fmt: skip
    if abs(result.duration - media.duration) > max(0.02 * media.duration, 2.0):
        raise Problem(
            422,
            f"The {name} lasts {format_duration(result.duration)} but the clip lasts "
            f"{format_duration(media.duration)}: a version must last as long as its clip "
            "(within 2% or 2 seconds).",
            field="file",
        )


@dataclass
class ReceivedUpload:
    """A request body written to storage, with the upload's file name and form fields."""

    pending: Pending
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


def title_from(result: ProbeResult, filename: str | None) -> str:
    """The clip's title when the uploader gave none: its tag, else its file name."""
    tagged = result.tags.get("title", "").strip()
    if tagged:
        return tagged[:MAX_TITLE]
    if filename:
        stem = PurePath(filename.replace("\\", "/")).stem
        cleaned = " ".join(re.sub(r"[\x00-\x1f\x7f_]+", " ", stem).split())
        if cleaned:
            return cleaned[:MAX_TITLE]
    return "Untitled clip"


def stored_filename(filename: str | None) -> str | None:
    """The upload's own name, kept for the record: its last part, without control characters."""
    name = PurePath((filename or "").replace("\\", "/")).name
    return CONTROL.sub("", name.replace("\t", " "))[:255] or None


def checked_title(value: str) -> str:
    """The title on one line (runs of white space made one space); 422 when unfit."""
    title = " ".join(value.split())
    if len(title) > MAX_TITLE:
        raise Problem(422, f"The title is longer than {MAX_TITLE} characters.", field="title")
    _refuse_controls(title, "title")
    return title


def checked_description(value: str) -> str:
    description = value.strip()
    if len(description) > MAX_DESCRIPTION:
        raise Problem(422, "The description is longer than 20,000 characters.", field="description")
    _refuse_controls(description, "description")
    return description


def checked_language(value: str) -> str | None:
    language = value.strip() or None
    if language is not None and (
        len(language) > MAX_LANGUAGE or not LANGUAGE_TAG.fullmatch(language)
    ):
        raise Problem(422, "The language must be a tag like `en` or `pt-BR`.", field="language")
    return language


def checked_script(value: str) -> str | None:
    """An upload's optional script (blank: none); 422 when it is too big or not text."""
    if not value.strip():
        return None
    try:
        return decode_script(value.encode("utf-8", "surrogatepass"))
    except ScriptError as exc:
        raise Problem(422, str(exc), field="script") from exc


def _refuse_controls(text: str, name: str) -> None:
    # NUL and other control characters break databases (PostgreSQL refuses NUL) and
    # terminals; unpaired surrogates cannot be stored as UTF-8 at all.
    if CONTROL.search(text):
        raise Problem(422, f"The {name} holds control characters; send plain text.", field=name)


def search_words(query: str) -> str:
    """A search box's text without control characters (PostgreSQL cannot compare NUL)."""
    return " ".join(CONTROL.sub(" ", query).split())


def check_search(query: str | None) -> str | None:
    """The API's `q`, refused with 422 when it holds control characters."""
    if query is None:
        return None
    _refuse_controls(query, "q")
    return query


def check_fields(fields: dict[str, str]) -> dict[str, str | None]:
    """Validate the optional text fields of an upload, naming the field at fault."""
    return {
        "title": checked_title(fields.get("title", "")) or None,
        "description": checked_description(fields.get("description", "")),
        "language": checked_language(fields.get("language", "")),
        "script": checked_script(fields.get("script", "")),
        "visibility": checked_visibility(fields.get("visibility", "")),
        "publish_at": checked_publish_at(fields.get("publish_at", "")),
    }


def checked_visibility(value: str) -> str:
    """An upload's `visibility` (blank: public); 422 naming the field when unknown."""
    visibility = value.strip() or "public"
    if visibility not in VISIBILITIES:
        choices = ", ".join(VISIBILITIES)
        raise Problem(422, f"The visibility must be one of {choices}.", field="visibility")
    return visibility


def checked_publish_at(value: str) -> str | None:
    """An upload's `publish_at` as ISO 8601 in UTC (blank: none); 422 unless it is a date and
    time with a time zone."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Problem(
            422,
            "publish_at must be a date and time with a time zone, e.g. 2026-12-24T06:00:00Z.",
            field="publish_at",
        )
    return moment.astimezone(UTC).isoformat()


def check_changes(changes: dict[str, str | None]) -> dict[str, str | None]:
    """The fields of an edit (PATCH), checked as an upload's are; a title may not be blank."""
    checked = dict(changes)
    if "title" in changes:
        checked["title"] = checked_title(changes["title"] or "")
        if not checked["title"]:
            raise Problem(422, "The title may be changed but not left empty.", field="title")
    if "description" in changes:
        checked["description"] = checked_description(changes["description"] or "")
    if "language" in changes:
        checked["language"] = checked_language(changes["language"] or "")
    return checked


def open_storage(settings: Settings, catalog: Catalog | None = None) -> Storage:
    """The storage the settings name: an S3 bucket (AMPS_STORAGE_URL) or the media dir.
    Its quota is counted in `catalog` when replicas share it (PostgreSQL), else here."""
    quota = None
    if settings.storage_quota_bytes is not None and catalog is not None and catalog.shared:
        quota = SharedQuota(settings.storage_quota_bytes, catalog)
    if settings.storage_url:
        from app.storage.s3 import S3Storage

        return S3Storage(settings, quota=quota)
    return LocalStorage(settings.media_dir, quota_bytes=settings.storage_quota_bytes, quota=quota)


class Library:
    def __init__(
        self, settings: Settings, catalog: Catalog, storage: Storage, jobs: JobQueue | None = None
    ) -> None:
        """`jobs` defaults to running each job in the caller, as the CLI does on SQLite."""
        self.settings = settings
        self.catalog = catalog
        self.storage = storage
        self.jobs = jobs or make_queue(settings, Processor(settings, catalog, storage), inline=True)

    def start(self) -> None:
        """Bring the catalog schema up to date and clear leftovers of interrupted writes:
        dead uploads' temp files now, files no record names in a background thread (that
        walks or lists the whole library, which may take minutes: the server is ready and
        answering meanwhile)."""
        self.catalog.migrate()
        self._sweep(self.storage.sweep_temp)
        self.sweeper = threading.Thread(
            target=self._sweep, args=(self._sweep_all,), name="amps-sweep", daemon=True
        )
        self.sweeper.start()

    def _sweep_all(self) -> list[str]:
        return self.storage.sweep(self.catalog.storage_keys())

    @staticmethod
    def _sweep(sweep: Callable[[], list[str]]) -> None:
        try:
            removed = sweep()
        except StorageError as exc:  # an object store that is down: /healthz says so
            log.warning("no sweep of leftovers this time: %s", exc)
            return
        except Exception:  # never a crash: the next start sweeps again
            log.warning("the sweep of leftovers stopped", exc_info=True)
            return
        if removed:
            log.info("removed %d leftover file(s) from interrupted writes", len(removed))

    async def add_upload(self, received: ReceivedUpload) -> Media:
        return await anyio.to_thread.run_sync(
            self._add, received.pending, received.filename, received.fields
        )

    def add_file(self, path: Path, *, automatic_captions: bool = True, **fields: str) -> Media:
        """Copy an existing file into the library (amps demo); `automatic_captions` False
        when the caller brings captions of its own."""
        return self._add(self._copy(path), path.name, fields, automatic_captions)

    def import_files(
        self, paths: Iterable[Path], workers: int = IMPORT_WORKERS
    ) -> Iterator[tuple[Path, Media | Problem]]:
        """Add many files (amps import): each copied, probed and stored by a pool of threads
        (mutagen alone where quick_probe is sure, else ffprobe: processes in parallel), the
        records written in batches. Yields each file with its record or why it was refused."""
        stored: list[tuple[Path, Media]] = []
        with ThreadPoolExecutor(workers, thread_name_prefix="amps-import") as pool:
            for path, outcome in _in_order(pool, self._import_one, paths, 4 * workers):
                if isinstance(outcome, Problem):
                    yield path, outcome
                    continue
                stored.append((path, outcome))
                if len(stored) >= IMPORT_BATCH:
                    yield from self._record_all(stored)
                    stored = []
            yield from self._record_all(stored)

    def _import_one(self, path: Path) -> Media | Problem:
        try:
            return self._store(self._copy(path), path.name, {}, quick=True)
        except Problem as exc:
            return exc
        except OSError as exc:  # unreadable source: that file is skipped, not the import
            return Problem(422, f"The file cannot be read: {exc.strerror or exc}.", field="file")

    def _record_all(self, stored: list[tuple[Path, Media]]) -> Iterator[tuple[Path, Media]]:
        # An imported file browsers play needs no job: it was checked as it was copied, and
        # its poster is made on first view. Running the poster job here (one ffmpeg per
        # file) made an import of 1,000 audio files ~40x slower.
        for _, media in stored:
            if browsers_play(media.mime_type, media.codecs):
                media.status = "ready"
        try:
            self.catalog.add_all([media for _, media in stored])
        except BaseException:
            self._remove([media.storage_key for _, media in stored])
            raise
        for _, media in stored:
            if media.status == "processing":
                self._queue("process", media.id)
        for _, media in stored:
            self._queue_first_captions(media)
        yield from stored

    def _copy(self, path: Path) -> Pending:
        pending = self.storage.begin()
        try:
            with path.open("rb") as source:
                while chunk := source.read(COPY_CHUNK):
                    pending.write(chunk)
        except BaseException:
            self.storage.discard(pending)
            raise
        return pending

    def _add(
        self,
        pending: Pending,
        filename: str | None,
        fields: dict[str, str],
        automatic_captions: bool = True,
    ) -> Media:
        media = self._store(pending, filename, fields, quick=False)
        try:
            media = self.catalog.add(media)
        except BaseException:
            self.storage.delete(media.storage_key)
            raise
        UPLOAD_BYTES.observe(media.size)
        self._queue("process", media.id)
        script = checked_script(fields.get("script", ""))  # checked by _store: no 422 now
        if script is not None:
            self._keep_script(media.id, script)
        elif automatic_captions:
            self._queue_first_captions(media)
        return self.catalog.get(media.id) or media  # its captions may be pending now

    def _queue_first_captions(self, media: Media) -> None:
        """A new clip's automatic captions (AMPS_AUTOMATIC_CAPTIONS), queued after its own job;
        with no model for its language the record says so at once (the clip is not failed)."""
        if not self.settings.automatic_captions:
            return
        language = media.language or "en"  # as the caption jobs read it
        if recogniser_installed(language, self.settings.speech_models):
            self._queue_captions("automatic_if_none", media.id)
            return
        fields = {"captions_state": "none", "captions_reason": no_recogniser(language)}
        self.catalog.record_processing(media.id, **fields)

    def _keep_script(self, media_id: str, script: str) -> None:
        """An uploaded clip's script kept and its alignment queued (after the clip's own
        job); storage trouble costs the captions, never the clip."""
        try:
            self.set_script(media_id, script)
        except (Problem, StorageError) as exc:
            log.warning("could not keep the script of %s: %s", media_id, exc)
            fields = {"captions_state": "none", "captions_reason": SCRIPT_NOT_KEPT}
            self.catalog.record_processing(media_id, **fields)

    def _store(
        self, pending: Pending, filename: str | None, fields: dict[str, str], *, quick: bool
    ) -> Media:
        """Probe the pending file and store it under its clip's key; the record is the caller's."""
        try:
            checked = check_fields(fields)
        except BaseException:
            self.storage.discard(pending)
            raise
        media = self._record(self._probed(pending, quick), pending, filename, checked)
        self._commit(pending, media.storage_key, media.mime_type)
        return media

    def _probed(
        self,
        pending: Pending,
        quick: bool = False,
        check: Callable[[ProbeResult], None] | None = None,
    ) -> ProbeResult:
        """The pending file probed (and `check`ed); refused (415/422) or failing, it is gone."""
        try:
            pending.flush()
            result = self._probe(pending, quick)
            if check is not None:
                check(result)
        except ProbeError as exc:
            self.storage.discard(pending)
            raise Problem(exc.status, str(exc), field="file") from exc
        except BaseException:
            self.storage.discard(pending)
            raise
        return result

    def _commit(self, pending: Pending, key: str, mime_type: str) -> None:
        """The pending file stored whole under `key` (507 past the quota); else it is gone."""
        try:
            self.storage.commit(pending, key, mime_type)
        except StorageFull as exc:
            self.storage.discard(pending)
            raise Problem(507, STORAGE_FULL, field="file") from exc
        except BaseException:
            self.storage.discard(pending)
            raise

    def _probe(self, pending: Pending, quick: bool = False) -> ProbeResult:
        """What the file is, read where it was stored: a temp file or a temp object. `quick`
        (imports only) lets mutagen decide alone where app.quick_probe is sure."""
        timeout = self.settings.probe_timeout
        with self.storage.opened(pending) as stored, timed_probe():
            if isinstance(stored, RemoteFile):
                return probe_url(stored.url, stored.file, stored.size, timeout)
            return (quick and quick_probe(stored)) or probe_file(stored, timeout)

    def reprobe(self, media_id: str) -> bool:
        """Queue a re-probe of the clip's stored file; False when there is no such clip."""
        if self.catalog.get(media_id) is None:
            return False
        self._queue("reprobe", media_id)
        return True

    def _queue(self, task: str, media_id: str) -> bool:
        try:
            self.jobs.defer(task, media_id)
        except Exception:
            # The record says `processing`: the next start of a server or worker queues it.
            log.exception("could not queue %s of %s", task, media_id)
            return False
        return True

    def _queue_captions(self, task: str, media_id: str) -> None:
        """Queue an align/automatic job; the clip's captions are pending until it ends."""
        self.catalog.start_captions_job(media_id, task)
        if not self._queue(task, media_id):
            self.catalog.end_captions_job(media_id, task, "none", NOT_QUEUED)

    @staticmethod
    def _record(
        result: ProbeResult,
        pending: Pending,
        filename: str | None,
        fields: dict[str, str | None],
    ) -> Media:
        media_id = new_id()
        published = fields["publish_at"]
        return Media(
            id=media_id,
            title=fields["title"] or title_from(result, filename),
            description=fields["description"] or "",
            language=fields["language"],
            visibility=fields["visibility"],
            publish_at=datetime.fromisoformat(published) if published else None,
            kind=result.kind,
            status="processing",
            duration=result.duration,
            mime_type=result.mime_type,
            size=pending.size,
            width=result.width,
            height=result.height,
            bitrate=result.bitrate,
            codecs=list(result.codecs),
            tags=dict(result.tags),
            storage_key=media_key(media_id, "original" + result.extension),
            original_filename=stored_filename(filename),
            sha256=pending.digest,
        )

    def add_track(self, media_id: str, kind: str, srclang: str, label: str, vtt: str) -> Track:
        """Store a WebVTT track and record it (the text is checked by the caller)."""
        track = new_track(media_id, kind=kind, srclang=srclang, label=label)
        try:
            return store_track(self.storage, self.catalog, track, vtt)
        except StorageFull as exc:
            raise Problem(507, STORAGE_FULL, field="file") from exc

    def set_script(self, media_id: str, script: str) -> bool:
        """Keep the clip's script (checked text) and queue its alignment; False: no such clip."""
        if self.catalog.get(media_id) is None:
            return False
        key = media_key(media_id, SCRIPT_NAME)
        try:
            self.storage.put_bytes(key, script.encode("utf-8"), "text/plain; charset=utf-8")
        except StorageFull as exc:
            raise Problem(507, STORAGE_FULL) from exc
        self._queue_captions("align", media_id)
        return True

    def recognise_speech(self, media_id: str) -> bool:
        """Queue automatic captions of the clip's speech; False when there is no such clip."""
        if self.catalog.get(media_id) is None:
            return False
        self._queue_captions("automatic", media_id)
        return True

    def delete(self, media_id: str) -> bool:
        """Forget the clip, then remove its files (a failed removal is swept later)."""
        media = self.catalog.delete(media_id)
        if media is None:
            return False
        keys = [media.storage_key, *(media_key(media.id, n) for n in poster_names(media.kind))]
        keys.append(media_key(media.id, SCRIPT_NAME))  # if it has one
        if media.playable_key:
            keys.append(media.playable_key)
        keys += [key for version in media.versions for key in version_keys(version)]
        keys += [key for key in ladder_keys(media) if key != media.playable_key]
        self._remove([*keys, *(k for t in media.tracks for k in track_keys(t))])
        self.jobs.processor.webhooks.emit("clip.deleted", media.id, status="deleted")
        return True

    async def add_version(self, media: Media, role: str, received: ReceivedUpload) -> Version:
        return await anyio.to_thread.run_sync(self._add_version, media, role, received.pending)

    def _add_version(self, media: Media, role: str, pending: Pending) -> Version:
        """Probe, check and store a version of the clip, replacing the one of that role (its
        files go once the new one is recorded); nothing is kept when it is refused."""
        result = self._probed(pending, check=lambda probed: version_fits(role, media, probed))
        name = f"version-{role}-{secrets.token_hex(4)}{result.extension}"
        version = Version(
            media_id=media.id, role=role, kind=result.kind, duration=result.duration,
            mime_type=result.mime_type, codecs=list(result.codecs), size=pending.size,
            width=result.width, height=result.height, sha256=pending.digest,
            storage_key=media_key(media.id, name),
        )  # fmt: skip
        self._commit(pending, version.storage_key, version.mime_type)
        try:
            earlier = self.catalog.put_version(version)
        except UnknownMedia:
            self._remove([version.storage_key])
            raise Problem(404, "The clip was deleted while its version arrived.") from None
        except BaseException:
            self._remove([version.storage_key])
            raise
        if earlier is not None:
            self._remove(version_keys(earlier))
        if not browsers_play(version.mime_type, version.codecs):
            self._queue("versions", media.id)
        return version

    def delete_version(self, media_id: str, role: str) -> bool:
        version = self.catalog.delete_version(media_id, role)
        if version is None:
            return False
        self._remove(version_keys(version))
        return True

    def delete_track(self, media_id: str, track_id: str) -> bool:
        track = self.catalog.delete_track(media_id, track_id)
        if track is None:
            return False
        self._remove(track_keys(track))
        return True

    def save_edited_track(
        self, media_id: str, track_id: str, vtt: str, *, reviewed: bool
    ) -> Track | None:
        """A person's WebVTT for the track (checked by app.media.cue_edits), under a new key
        (pages cache a track's cues by key); the track becomes `edited`. The first edit of a
        machine-made track keeps the job's file to restore. None: no such track any more."""
        track = self._track(media_id, track_id)
        if track is None:
            return None
        key = media_key(media_id, f"track-{track.id}-{secrets.token_hex(4)}.vtt")
        try:
            self.storage.put_bytes(key, vtt.encode("utf-8"), "text/vtt; charset=utf-8")
        except StorageFull as exc:
            raise Problem(507, STORAGE_FULL) from exc
        fields: dict[str, object] = {"storage_key": key, "origin": "edited", "reviewed": reviewed}
        keep = track.origin in MACHINE_ORIGINS and track.machine_key is None
        if keep:
            fields |= {"machine_key": track.storage_key, "machine_origin": track.origin}
        changed = self.catalog.change_track(media_id, track.id, **fields)
        if changed is None:  # removed meanwhile
            self._remove([key])
        elif not keep:
            self._remove([track.storage_key])
        return changed

    def restore_machine_track(self, media_id: str, track_id: str) -> Track | None:
        """Bring back an edited track's machine-made text and origin (unreviewed); the edited
        file goes. None: no such track, or it has nothing machine-made to restore."""
        track = self._track(media_id, track_id)
        if track is None or track.machine_key is None or track.machine_origin is None:
            return None
        changed = self.catalog.change_track(
            media_id, track.id, storage_key=track.machine_key, origin=track.machine_origin,
            reviewed=False, machine_key=None, machine_origin=None,
        )  # fmt: skip
        if changed is not None:
            self._remove([track.storage_key])
        return changed

    def _track(self, media_id: str, track_id: str) -> Track | None:
        media = self.catalog.get(media_id)
        return next((t for t in media.tracks if t.id == track_id), None) if media else None

    def _remove(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.storage.delete(key)
            except (OSError, StorageError):
                log.warning("could not remove %s; the start-up sweep will", key)

    def poster_key(self, media: Media, size: str = "full") -> str:
        """The clip's poster, made from its file on first use; PosterError when it cannot be."""
        source, timeout = self.file_of(media), self.settings.probe_timeout
        return stored_poster(self.storage, media, source, timeout, size)

    def file_of(self, media: Media) -> Path | str | None:
        """Where ffmpeg reads the clip (a path, or a presigned URL); None when it is gone."""
        try:
            return self.storage.source(media.storage_key)
        except MissingKey:
            return None

    def playable_source(self, media: Media) -> Path | str | None:
        """Where the clip's web rendition is read; None when it has none (or it is gone)."""
        if media.playable_key is None:
            return None
        try:
            return self.storage.source(media.playable_key)
        except MissingKey:
            return None


def track_keys(track: Track) -> list[str]:
    """A track's stored files: its WebVTT, and the machine-made one an edit keeps."""
    return [track.storage_key, *([track.machine_key] if track.machine_key else [])]


def _in_order(
    pool: ThreadPoolExecutor, work: Callable[[T], R], items: Iterable[T], ahead: int
) -> Iterator[tuple[T, R]]:
    """pool.map that keeps at most `ahead` items in flight (a huge folder is never all queued)."""
    window: deque[tuple[T, Future[R]]] = deque()
    for item in items:
        window.append((item, pool.submit(work, item)))
        if len(window) >= ahead:
            first, future = window.popleft()
            yield first, future.result()
    while window:
        first, future = window.popleft()
        yield first, future.result()
