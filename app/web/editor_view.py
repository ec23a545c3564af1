"""What the caption editor page shows: a track's cues as form rows, the problems found in
what was posted (translated, by field), and how this visitor may save."""

import logging
from dataclasses import dataclass, field

from app.api.urls import media_urls, track_url
from app.catalog.models import MACHINE_ORIGINS, Media, Track
from app.media.captions import CaptionError, cue_editable_text, parse_vtt
from app.media.cue_edits import CueProblem, CueRow
from app.media.durations import format_cue_time, format_duration
from app.storage.base import MissingKey, Storage, StorageError
from app.web.i18n import Catalogue

log = logging.getLogger("amps")
SCRIPT_STRINGS = (
    "editor_said_start", "editor_said_end", "editor_said_split", "editor_said_merge",
    "editor_said_found", "editor_said_replaced", "editor_said_undone", "editor_said_no_undo",
    "editor_said_playing", "editor_said_no_media", "editor_said_need_times", "editor_cue",
    "editor_preview",
)  # fmt: skip
FIELD_LABELS = {"start": "editor_start", "end": "editor_end", "text": "editor_text"}


@dataclass
class EditorPage:
    """Everything editor.html reads. `writer`: how a save is authorised here: `token` (the
    form asks for it), `loopback` (this machine may save) or `refused` (no token is set and
    this is not the server's machine)."""

    t: Catalogue
    media: Media | None = None
    track: Track | None = None
    rows: list[CueRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    summary: list[tuple[str, str]] = field(default_factory=list)
    reviewed: bool = False
    message: str = ""
    writer: str = "loopback"
    unreadable: bool = False  # the stored track could not be read: the form starts empty

    @property
    def title(self) -> str:
        if self.track is None:
            return self.t("editor_no_track")
        return self.t("editor_title", label=self.track.label)

    @property
    def can_restore(self) -> bool:
        return self.track is not None and self.track.machine_key is not None

    @property
    def machine(self) -> bool:
        return self.track is not None and self.track.origin in MACHINE_ORIGINS

    @property
    def origin_note(self) -> str:
        return self.t(f"editor_origin_{self.track.origin}") if self.track else ""

    @property
    def duration_text(self) -> str:
        return format_cue_time(self.media.duration) if self.media else ""

    @property
    def duration_clock(self) -> str:
        return format_duration(self.media.duration) if self.media else ""

    @property
    def urls(self) -> dict[str, str]:
        if self.media is None:
            return {}
        urls = media_urls("", self.media.id, rendition=self.media.playable_key is not None)
        found = urls.model_dump()
        base = f"/media/{self.media.id}"
        if self.track is not None:
            found["track"] = track_url("", self.media.id, self.track.id)
            found["edit"] = f"{base}/tracks/{self.track.id}/edit"
            found["restore"] = f"{base}/tracks/{self.track.id}/restore"
        found["watch"] = base
        return found

    def lang_query(self) -> str:
        return f"?lang={self.t.code}"

    def script_strings(self) -> dict[str, object]:
        """What static/editor.js says, in the page's language."""
        return {"lang": self.t.code, "strings": {key: self.t(key) for key in SCRIPT_STRINGS}}


def stored_rows(storage: Storage, track: Track) -> list[CueRow] | None:
    """The track's cues as form rows; None when its file cannot be read."""
    try:
        text = storage.read_bytes(track.storage_key).decode("utf-8")
        cues = parse_vtt(text)
    except (MissingKey, UnicodeDecodeError, CaptionError, OSError, StorageError) as exc:
        log.warning("cannot read track %s for the editor: %s", track.storage_key, exc)
        return None
    return [
        CueRow(format_cue_time(c.start), format_cue_time(c.end), cue_editable_text(c), c.settings)
        for c in cues
    ]


Summary = list[tuple[str, str]]  # (field id, message) in the order of the form


def explain(problems: list[CueProblem], t: Catalogue) -> tuple[dict[str, str], Summary]:
    """Each problem's message by field id (shown beside the field), and the summary's lines
    (field id, "Cue 3, end: ...") in the order of the form."""
    errors: dict[str, str] = {}
    summary: Summary = []
    for problem in problems:
        message = t(problem.key, **problem.values)
        errors[problem.field_id] = message
        if problem.index is None:
            summary.append((problem.field_id, message))
            continue
        where = t("editor_summary_field", n=problem.index + 1, field=t(FIELD_LABELS[problem.field]))
        summary.append((problem.field_id, f"{where}: {message}"))
    return errors, summary
