"""The rendition ladder job: a video's 240p/360p/720p renditions and its audio alone
(app.media.ladder), each with its HLS media playlist (app.media.sidx), stored beside the clip
and recorded in one step; what a run stored is removed again when it cannot be recorded."""

import logging
import tempfile
from pathlib import Path

from app.catalog.database import Catalog
from app.catalog.models import Media, Rendition, rendition_file
from app.media.hls import PLAYLIST_TYPE, media_playlist
from app.media.ladder import (
    LadderFile,
    file_name,
    make_ladder,
    playlist_name,
    rungs_for,
)
from app.media.renditions import RenditionError
from app.media.sidx import NoIndex, read_index
from app.storage.base import Storage, StorageError, media_key

log = logging.getLogger("amps")
COPY_CHUNK = 1024 * 1024


def wants_ladder(media: Media) -> bool:
    return bool(rungs_for(media.kind, media.width, media.height, media.duration))


def store_ladder(
    catalog: Catalog, storage: Storage, media: Media, source: Path | str, timeout: float
) -> list[Rendition]:
    """Make, store and record the clip's ladder (blocking); the records, highest first.
    RenditionError when ffmpeg cannot make it, ProbeTimeout past `timeout`."""
    rungs = rungs_for(media.kind, media.width, media.height, media.duration)
    stored: list[str] = []
    with tempfile.TemporaryDirectory(prefix="amps-ladder-") as temp:
        files = make_ladder(source, rungs, Path(temp), timeout)
        try:
            records = [_store(storage, media.id, made, stored) for made in files]
            old = catalog.put_renditions(media.id, records)
        except NoIndex as exc:
            _remove(storage, stored)
            raise RenditionError("A rendition ffmpeg made has no index to play it from.") from exc
        except BaseException:
            _remove(storage, stored)
            raise
    _remove(storage, list(old))
    log.info("ladder of %s: %s", media.id, ", ".join(r.name for r in records))
    return sorted(records, key=lambda r: r.height or 0, reverse=True)


def _store(storage: Storage, media_id: str, made: LadderFile, stored: list[str]) -> Rendition:
    index = read_index(made.path)
    playlist = media_playlist(index, f"../renditions/{rendition_file(made.name)}")
    key = media_key(media_id, file_name(made.name))
    pending = storage.begin()
    try:
        with made.path.open("rb") as file:
            while chunk := file.read(COPY_CHUNK):
                pending.write(chunk)
        storage.commit(pending, key, made.mime_type)
    except BaseException:
        storage.discard(pending)
        raise
    stored.append(key)
    playlist_key = media_key(media_id, playlist_name(made.name))
    storage.put_bytes(playlist_key, playlist.encode(), PLAYLIST_TYPE)
    stored.append(playlist_key)
    return Rendition(
        media_id=media_id, name=made.name, height=made.height, width=made.width,
        bitrate=made.bitrate, peak_bitrate=index.peak_bitrate, size=pending.size,
        mime_type=made.mime_type, codecs=made.codecs, storage_key=key, sha256=pending.digest,
        playlist_key=playlist_key, duration=index.duration,
    )  # fmt: skip


def ladder_keys(media: Media) -> list[str]:
    """Every stored key of the clip's ladder (to remove with the clip)."""
    return [key for r in media.renditions for key in (r.storage_key, r.playlist_key)]


def _remove(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            log.warning("could not remove %s; the start-up sweep will", key)
