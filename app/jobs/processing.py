"""The background work on a clip: check its file, make a web rendition when browsers need
one, render its poster, re-probe it; the record goes to `ready`, or `failed` with a reason.

Each job is safe to run twice (a retried job may): finished work is found and kept.
Transient trouble (time limits, storage, the database, ffmpeg missing) raises `TryAgain`;
the queue runs the job again later, and on the last attempt the clip fails with the reason.
"""

import logging
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.catalog.database import Catalog, UnknownMedia
from app.catalog.models import Media, Track, Version
from app.config import Settings
from app.jobs.ladder import store_ladder, wants_ladder
from app.jobs.webhooks import Webhooks
from app.media.captions import track_label
from app.media.posters import STILLS, PosterError, poster_names, stored_poster
from app.media.probe import ProbeError, ProbeTimeout, ToolMissing, probe_file, probe_url
from app.media.renditions import (
    Rendition,
    RenditionError,
    browsers_play,
    file_sha256,
    make_rendition,
    rendition_name,
)
from app.metrics import CLIPS_FAILED
from app.speech.models import ModelError
from app.speech.tracks import SpeechTimeout, aligned_track_isolated, automatic_track_isolated
from app.storage.base import (
    MissingKey,
    RemoteFile,
    Storage,
    StorageError,
    StorageFull,
    media_key,
)

log = logging.getLogger("amps")
COPY_CHUNK = 1024 * 1024
# "versions": web-playable copies of a clip's versions (app.library.Library.add_version).
# "automatic_if_none": the automatic captions queued for a new clip, skipped when it has a
# captions track or a script by the time it runs ("automatic" is asked for, and always runs).
TASKS = ("process", "reprobe", "align", "automatic", "automatic_if_none", "versions")
SPEECH_TASKS = ("align", "automatic", "automatic_if_none")
SCRIPT_NAME = "script.txt"  # a clip's script for alignment, stored beside its file
GONE = "The clip's file is not available any more: upload it again."
DAMAGED = "The stored file is damaged: it no longer matches what was uploaded. Upload it again."
TOO_SLOW = "Preparing this clip took longer than the time allowed, even after retries."
NO_CAPTIONS = "No captions could be made from this clip's sound."
NO_CAPTIONS_TROUBLE = "The server could not make captions for this clip, even after retries."
UNAVAILABLE = "The server could not prepare this clip (storage, database or ffmpeg trouble)."


def new_track(media_id: str, **fields: object) -> Track:
    """A track record with a fresh id, its WebVTT file keyed beside the clip's."""
    track_id = secrets.token_hex(8)
    key = media_key(media_id, f"track-{track_id}.vtt")
    return Track(id=track_id, media_id=media_id, storage_key=key, **fields)


def store_track(storage: Storage, catalog: Catalog, track: Track, vtt: str) -> Track:
    """Write the track's WebVTT and record it; the file goes again if the record cannot be
    made. The one way a track is stored: by the library (uploads) and by the caption jobs."""
    storage.put_bytes(track.storage_key, vtt.encode("utf-8"), "text/vtt; charset=utf-8")
    try:
        return catalog.add_track(track)
    except BaseException:
        storage.delete(track.storage_key)
        raise


def version_keys(version: Version) -> list[str]:
    """The files a version of a clip holds: its own and its web-playable copy."""
    return [version.storage_key, *([version.playable_key] if version.playable_key else [])]


class JobFailed(Exception):
    """The clip cannot be prepared, now or later; str() is the reason people are shown."""


class TryAgain(Exception):
    """Trouble that may pass; str() is the reason shown if no attempt is left."""


class Processor:
    """Runs the jobs named in TASKS on clips of one catalog and storage (blocking calls)."""

    def __init__(self, settings: Settings, catalog: Catalog, storage: Storage) -> None:
        self.settings = settings
        self.catalog = catalog
        self.storage = storage
        self.webhooks = Webhooks(settings, catalog)

    def run(self, task: str, media_id: str, *, final: bool = True) -> None:
        """Run one job; TryAgain when it should run again (never when `final`)."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        media = self.catalog.get(media_id)
        if media is not None and task in SPEECH_TASKS:
            self._speech_track(media, task, final)  # never changes the clip's status
            return
        if media is not None and task == "versions":
            self._playable_versions(media, final)  # nor does this
            return
        if media is None or (task == "process" and media.status != "processing"):
            return  # deleted meanwhile, or already done by an earlier run
        try:
            work = self._process if task == "process" else self._reprobe
            self._transient_as_try_again(work, media)
        except JobFailed as exc:
            log.warning("%s of %s failed: %s", task, media_id, exc)
            self._fail(media_id, str(exc))
        except TryAgain as exc:
            if not final:
                raise
            log.warning("%s of %s failed at its last attempt: %s", task, media_id, exc)
            self._fail(media_id, str(exc))

    def pending(self) -> tuple[str, ...]:
        """Clips whose processing has not ended (a restart re-queues them)."""
        return self.catalog.ids_with_status("processing")

    def pending_captions(self) -> tuple[tuple[str, str], ...]:
        """(clip, job) for each caption job counted but not ended (a restart on SQLite, whose
        queue lives in memory, queues them again)."""
        return self.catalog.captions_jobs()

    @staticmethod
    def _transient_as_try_again(work: Callable[[Media], None], media: Media) -> None:
        try:
            work(media)
        except JobFailed:
            raise
        except ProbeTimeout as exc:
            raise TryAgain(TOO_SLOW) from exc
        except (StorageError, SQLAlchemyError, ToolMissing, OSError) as exc:
            log.warning("job on %s hit transient trouble: %r", media.id, exc)
            raise TryAgain(UNAVAILABLE) from exc
        except Exception as exc:  # a bug must not leave the clip processing for ever
            log.exception("job on %s failed unexpectedly", media.id)
            raise TryAgain(UNAVAILABLE) from exc

    def _process(self, media: Media) -> None:
        source = self._checked_source(media)
        fields: dict[str, object] = {}
        ladder = wants_ladder(media)
        if media.playable_key is None and not browsers_play(media.mime_type, media.codecs):
            # A clip with a ladder plays its top rendition where browsers need a copy.
            make = self._playable_ladder if ladder else self._store_rendition
            fields, ladder = make(media, source), False
        self._make_poster(media, source)
        self._finish(media, status="ready", status_reason=None, **fields)
        if ladder:  # the clip plays meanwhile: its renditions are made after it is ready
            self._ladder_after_ready(media, source)

    def _playable_ladder(self, media: Media, source: Path | str) -> dict[str, object]:
        timeout = self.settings.transcode_timeout
        try:
            made = store_ladder(self.catalog, self.storage, media, source, timeout)
        except RenditionError as exc:
            raise JobFailed(str(exc)) from exc
        except UnknownMedia:
            return {}  # deleted meanwhile: _finish finds it gone
        top = made[0]
        return {"playable_key": top.storage_key, "playable_mime_type": top.mime_type,
                "playable_size": top.size, "playable_sha256": top.sha256}  # fmt: skip

    def _ladder_after_ready(self, media: Media, source: Path | str) -> None:
        """A ladder is a nicety for a clip that plays as it is: without one it still plays."""
        timeout = self.settings.transcode_timeout
        try:
            store_ladder(self.catalog, self.storage, media, source, timeout)
        except UnknownMedia:
            return
        except (RenditionError, ProbeTimeout, StorageError, SQLAlchemyError, OSError) as exc:
            log.warning("no rendition ladder for %s: %s", media.id, exc)

    def _reprobe(self, media: Media) -> None:
        source = self._checked_source(media)
        timeout = self.settings.probe_timeout
        try:
            with self.storage.opened_key(media.storage_key) as stored:
                if isinstance(stored, RemoteFile):
                    result = probe_url(stored.url, stored.file, stored.size, timeout)
                else:
                    result = probe_file(stored, timeout)
        except MissingKey:
            raise JobFailed(GONE) from None
        except ProbeTimeout:
            raise
        except ProbeError as exc:
            raise JobFailed(str(exc)) from exc
        found: dict[str, object] = {
            "kind": result.kind, "duration": result.duration, "mime_type": result.mime_type,
            "width": result.width, "height": result.height, "bitrate": result.bitrate,
            "codecs": list(result.codecs), "tags": dict(result.tags),
        }  # fmt: skip
        media = self.catalog.record_processing(media.id, **found) or media
        if media.playable_key is None and not browsers_play(media.mime_type, media.codecs):
            found |= self._store_rendition(media, source)
        self._make_poster(media, source)
        self._finish(media, status="ready", status_reason=None, **found)

    def _checked_source(self, media: Media) -> Path | str:
        """Where ffmpeg reads the original: a file, unchanged since the upload (its SHA-256
        is checked), or an object store's URL (the store keeps its own checksums)."""
        try:
            source = self.storage.source(media.storage_key)
        except MissingKey:
            raise JobFailed(GONE) from None
        if isinstance(source, Path) and file_sha256(source) != media.sha256:
            raise JobFailed(DAMAGED)
        return source

    def _store_rendition(
        self, media: Media, source: Path | str, kind: str | None = None, name: str | None = None
    ) -> dict[str, object]:
        """ffmpeg writes a local temp file, which is then stored like an upload (under `name`
        beside the clip: a version's copy has its own)."""
        kind = kind or media.kind
        name = name or rendition_name(kind)
        key = media_key(media.id, name)
        with tempfile.TemporaryDirectory(prefix="amps-rendition-") as temp:
            target = Path(temp) / rendition_name(kind)
            try:
                made = make_rendition(source, kind, target, self.settings.transcode_timeout)
                self._check_rendition(made)
            except RenditionError as exc:
                raise JobFailed(str(exc)) from exc
            pending = self.storage.begin()
            try:
                with target.open("rb") as file:
                    while chunk := file.read(COPY_CHUNK):
                        pending.write(chunk)
                self.storage.commit(pending, key, made.mime_type)
            except BaseException:
                self.storage.discard(pending)
                raise
        return {
            "playable_key": key,
            "playable_mime_type": made.mime_type,
            "playable_size": pending.size,
            "playable_sha256": pending.digest,
        }

    def _playable_versions(self, media: Media, final: bool) -> None:
        """A web-playable copy of each version of the clip browsers cannot play as it is. A
        version that cannot be converted stays as it is (offered, but perhaps not playable)."""
        for version in media.versions:
            if version.playable_key or browsers_play(version.mime_type, version.codecs):
                continue
            try:
                source = self.storage.source(version.storage_key)
                name = version.storage_key.rpartition("/")[2].rpartition(".")[0] + "-web.mp4"
                made = self._store_rendition(media, source, version.kind, name)
            except MissingKey:
                continue  # replaced or deleted meanwhile
            except JobFailed as exc:
                log.warning("no web copy of the %s version of %s: %s", version.role, media.id, exc)
                continue
            except (ProbeTimeout, StorageError, SQLAlchemyError, ToolMissing, OSError) as exc:
                if not final:
                    raise TryAgain(str(exc)) from exc
                log.warning("no web copy of the %s version of %s: %r", version.role, media.id, exc)
                continue
            if self.catalog.record_version(media.id, version.role, **made) is None:
                self.storage.delete(str(made["playable_key"]))  # the version went meanwhile

    def _check_rendition(self, made: Rendition) -> None:
        """What ffmpeg wrote must itself probe as something browsers play."""
        try:
            result = probe_file(made.path, self.settings.probe_timeout, verify=False)
        except ProbeTimeout:
            raise
        except ProbeError as exc:
            raise RenditionError("The version made for web browsers could not be read.") from exc
        if not browsers_play(result.mime_type, result.codecs):
            raise RenditionError("The version made for web browsers cannot be played by them.")

    def _make_poster(self, media: Media, source: Path | str) -> None:
        """A poster is a nicety: when none can be made the clip is still ready. In the
        background it gets the transcode's time limit: a waveform decodes the whole clip
        (about 7 CPU seconds for 3 hours of 48 kHz audio), past the probe's 30 s on a busy
        machine, and a poster missing here is tried again on every page view."""
        try:
            for size in STILLS if media.kind == "video" else ["full"]:
                stored_poster(self.storage, media, source, self.settings.transcode_timeout, size)
        except (PosterError, StorageFull) as exc:  # a full quota is no reason to fail the clip
            log.warning("no poster for %s: %s", media.id, exc)

    def _fail(self, media_id: str, reason: str) -> None:
        if self.catalog.record_processing(media_id, status="failed", status_reason=reason):
            CLIPS_FAILED.inc()
            self.webhooks.emit("clip.failed", media_id, status="failed", reason=reason)

    def _finish(self, media: Media, **fields: object) -> None:
        done = self.catalog.record_processing(media.id, **fields)
        if done is not None:
            self.webhooks.emit("clip.ready", media.id, status=done.status, title=done.title)
        else:
            # Deleted while we worked: what we stored under its id goes too.
            keys = [media_key(media.id, name) for name in poster_names(media.kind)]
            if isinstance(fields.get("playable_key"), str):
                keys.append(str(fields["playable_key"]))
            for key in keys:
                try:
                    self.storage.delete(key)
                except StorageError:
                    log.warning("could not remove %s; the start-up sweep will", key)

    def _speech_track(self, media: Media, task: str, final: bool) -> None:
        """Make the clip's captions from its sound: its stored script aligned ("align"), or its
        speech recognised ("automatic"); the track replaces the one the same kind of job made
        before. Whatever happens the clip stays as it is: no track comes with a reason, kept in
        its `captions_reason`; time limits and storage trouble raise TryAgain until `final`."""
        if task == "automatic_if_none" and self._has_captions_or_script(media):
            self._captions_state(media, task, None, None)
            return
        try:
            source = self.storage.source(media.storage_key)
            language = media.language or "en"
            models, timeout = self.settings.speech_models, self.settings.align_timeout
            if task == "align":
                key = media_key(media.id, SCRIPT_NAME)
                script = self.storage.read_bytes(key).decode("utf-8")
                made = aligned_track_isolated(source, script, language, models, timeout)
            else:
                made = automatic_track_isolated(source, language, models, timeout)
            if made.vtt is None:
                log.info("no %s captions for %s: %s", task, media.id, made.reason)
                self._captions_state(media, task, "none", made.reason or NO_CAPTIONS)
                return
            origin = "aligned" if task == "align" else "automatic"
            self._store_made_track(media, language, made.vtt, origin)
            self._captions_state(media, task, None, None)
            log.info("%s captions for %s (%d script words not heard) in %.1f s",
                     origin, media.id, len(made.unplaced), made.seconds)  # fmt: skip
        except (MissingKey, UnknownMedia):
            self._captions_state(media, task, None, None)
            return  # the script or the clip was removed meanwhile
        except ModelError as exc:
            log.error("no %s captions for %s: %s", task, media.id, exc)
            self._captions_state(media, task, "none", str(exc))
        except (SpeechTimeout, StorageError, SQLAlchemyError, OSError) as exc:
            if not final:
                raise TryAgain(str(exc)) from exc
            log.warning("no %s captions for %s after retries: %s", task, media.id, exc)
            self._captions_state(media, task, "none", NO_CAPTIONS_TROUBLE)
        except Exception:  # a bug must not take the job runner down
            log.exception("%s captions of %s failed", task, media.id)
            self._captions_state(media, task, "none", NO_CAPTIONS_TROUBLE)

    def _has_captions_or_script(self, media: Media) -> bool:
        """A person's captions or a script arrived after the upload: no recognition needed."""
        if any(t.kind == "captions" for t in media.tracks) or "align" in media.captions_jobs:
            return True
        try:
            return self.storage.exists(media_key(media.id, SCRIPT_NAME))
        except StorageError:
            return False

    def _captions_state(
        self, media: Media, task: str, state: str | None, reason: str | None
    ) -> None:
        """What the clip's record says of its machine-made captions once the job ended."""
        try:
            self.catalog.end_captions_job(media.id, task, state, reason)
        except SQLAlchemyError:
            log.warning("could not record the captions state of %s", media.id)

    def _store_made_track(self, media: Media, language: str, vtt: str, origin: str) -> None:
        label = f"{track_label(language)} ({origin})"
        earlier = [t for t in media.tracks if t.kind == "captions" and t.origin == origin]
        track = new_track(
            media.id, kind="captions", srclang=language, label=label, origin=origin, reviewed=False
        )
        store_track(self.storage, self.catalog, track, vtt)
        self.webhooks.emit("captions.ready", media.id, track=track.id, srclang=language,
                           origin=origin)  # fmt: skip
        for old in earlier:
            if self.catalog.delete_track(media.id, old.id) is not None:
                self.storage.delete(old.storage_key)
