"""What a page needs to render a clip's player and transcript, gathered in one place."""

import json
import logging
import math
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

from app.api.urls import media_urls, rendition_url, track_url, version_url
from app.catalog.models import MACHINE_ORIGINS, Media, Track
from app.media.captions import CaptionError, cue_plain_text, parse_vtt
from app.media.durations import format_duration, iso_duration
from app.storage.base import MissingKey, Storage, StorageError
from app.web.i18n import Catalogue

log = logging.getLogger("amps")
TEXT_KINDS = ("captions", "subtitles")


@dataclass(frozen=True)
class Line:
    """One transcript or chapter line: when it starts, as text for eyes and machines."""

    start: float
    end: float
    text: str

    @property
    def time_text(self) -> str:
        return format_duration(self.start)

    @property
    def iso(self) -> str:
        return iso_duration(self.start)


@dataclass(frozen=True)
class TrackView:
    id: str
    kind: str
    srclang: str
    label: str
    url: str
    default: bool
    machine: bool = False  # aligned or recognised, not checked by a person


@dataclass(frozen=True)
class RenditionView:
    name: str  # "240p"..., "audio"
    height: int | None
    width: int | None
    url: str


@dataclass
class PlayerView:
    """Everything the player template reads; `state` is ready, processing, failed or missing."""

    t: Catalogue
    state: str
    media: Media | None = None
    tracks: list[TrackView] = field(default_factory=list)
    transcript: list[Line] = field(default_factory=list)
    transcript_lang: str | None = None
    transcript_machine: bool = False
    chapters: list[Line] = field(default_factory=list)
    start: float = 0.0
    autoplay: bool = False
    urls: dict[str, str] = field(default_factory=dict)
    has_file: bool = False
    versions: dict[str, str] = field(default_factory=dict)  # role -> URL (described, sign)
    described: bool = False  # start with the described version (`described=1`)

    @property
    def renditions(self) -> list[RenditionView]:
        """The ladder's files for the quality menu, lowest first (the audio alone last)."""
        if self.media is None or not self.playable:
            return []
        base = self.urls["watch"].rpartition("/media/")[0]
        return [
            RenditionView(r.name, r.height, r.width, rendition_url(base, self.media.id, r.name))
            for r in self.media.renditions
        ]

    @property
    def playable(self) -> bool:
        return self.state == "ready"

    @property
    def source_type(self) -> str:
        """The type of what the player's <source> points at (urls.playable)."""
        if self.media is None:
            return ""
        return self.media.playable_mime_type or self.media.mime_type

    def version_type(self, role: str) -> str:
        """The type of what a version's URL serves (its web copy when it has one)."""
        versions = self.media.versions if self.media else []
        version = next((v for v in versions if v.role == role), None)
        if version is None:
            return ""
        return version.playable_mime_type or version.mime_type

    @property
    def duration(self) -> float:
        return self.media.duration if self.media else 0.0

    @property
    def title(self) -> str:
        return self.media.title if self.media else self.t("no_media")

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration)

    @property
    def duration_iso(self) -> str:
        return iso_duration(self.duration)

    @property
    def seek_valuetext(self) -> str:
        spoken = self.t.spoken
        return self.t("time_of", elapsed=spoken(self.start), duration=spoken(self.duration))

    @property
    def machine_captions(self) -> bool:
        """Whether the captions menu offers a machine-made track."""
        return any(track.machine for track in self.tracks if track.kind in TEXT_KINDS)

    def has_kind(self, kind: str) -> bool:
        return any(track.kind == kind for track in self.tracks)

    def strings_json(self, keys: Collection[str] | None = None) -> str:
        """The catalogue for the player script, as JSON (the template escapes it for HTML);
        with `keys`, only those strings (the ones the player's code can ask for)."""
        strings = self.t.strings
        if keys is not None:
            strings = {key: text for key, text in strings.items() if key in keys}
        data: dict[str, object] = {"lang": self.t.code, "dir": self.t.dir}
        data |= {"joiner": self.t.joiner, "strings": strings, "units": self.t.units}
        return json.dumps(data, ensure_ascii=False)


def parse_start(value: str | None, duration: float) -> float:
    """`start=`/`t=` in seconds (`65`, `65.5`) or clock form (`1:05`); bad values mean 0."""
    if not value:
        return 0.0
    try:
        seconds = 0.0
        for part in value.strip().split(":")[-3:]:
            seconds = seconds * 60 + float(part)
    except ValueError:
        return 0.0
    if not math.isfinite(seconds) or seconds < 0:
        return 0.0
    return min(seconds, max(duration - 1, 0.0))


@lru_cache(maxsize=256)
def _read_cues(storage: Hashable, key: str) -> tuple[Line, ...]:
    """Parsed once per track: tracks never change under their key (it holds a random id)."""
    try:
        cues = parse_vtt(cast(Storage, storage).read_bytes(key).decode("utf-8"))
    except MissingKey:
        return ()
    except (UnicodeDecodeError, CaptionError) as exc:
        log.warning("cannot read track %s: %s", key, exc)
        return ()
    return tuple(Line(c.start, c.end, cue_plain_text(c)) for c in cues)


def read_lines(storage: Storage, track: Track) -> tuple[Line, ...]:
    try:
        return _read_cues(cast(Hashable, storage), track.storage_key)
    except (OSError, StorageError) as exc:  # not cached: the store may be back next time
        log.warning("cannot read track %s: %s", track.storage_key, exc)
        return ()


def machine_made(track: Track) -> bool:
    return track.origin in MACHINE_ORIGINS


def people_first(tracks: list[Track]) -> list[Track]:
    """The tracks with uploaded and edited ones before machine-made ones (else in order): a
    person's track is the default, the captions button's first choice and the transcript."""
    return sorted(tracks, key=machine_made)


def pick_caption_track(
    tracks: list[Track], wanted: str | None, fallback: str | None
) -> Track | None:
    text = [t for t in people_first(tracks) if t.kind in TEXT_KINDS]
    for lang in (wanted, fallback):
        for track in text:
            if lang and track.srclang.split("-")[0].lower() == lang.split("-")[0].lower():
                return track
    return text[0] if text else None


def build_view(
    media: Media | None,
    t: Catalogue,
    storage: Storage,
    base: str,
    *,
    start: str | None = None,
    autoplay: bool = False,
    captions: str | None = None,
    described: bool = False,
) -> PlayerView:
    """Gather the view for a clip; `media=None` is the unknown-id page."""
    if media is None:
        return PlayerView(t=t, state="missing")
    has_file = storage.exists(media.storage_key)
    state = media.status if media.status != "ready" or has_file else "missing"
    ladder = bool(media.renditions)
    urls = media_urls(
        base, media.id, rendition=media.playable_key is not None, ladder=ladder
    ).model_dump()
    ordered = people_first(list(media.tracks))
    shown = pick_caption_track(ordered, captions, None) if captions else None
    transcript_track = shown or pick_caption_track(ordered, media.language, t.code)
    tracks = [
        TrackView(tr.id, tr.kind, tr.srclang, tr.label, track_url(base, media.id, tr.id),
                  default=shown is not None and tr.id == shown.id, machine=machine_made(tr))
        for tr in ordered
    ]  # fmt: skip
    chapters = next((tr for tr in media.tracks if tr.kind == "chapters"), None)
    return PlayerView(
        t=t,
        state=state,
        media=media,
        tracks=tracks,
        transcript=list(read_lines(storage, transcript_track)) if transcript_track else [],
        transcript_lang=transcript_track.srclang if transcript_track else None,
        transcript_machine=transcript_track is not None and machine_made(transcript_track),
        chapters=list(read_lines(storage, chapters)) if chapters else [],
        start=parse_start(start, media.duration),
        autoplay=autoplay,
        urls=urls,
        has_file=has_file,
        versions={v.role: version_url(base, media.id, v.role) for v in media.versions},
        described=described and any(v.role == "described" for v in media.versions),
    )
