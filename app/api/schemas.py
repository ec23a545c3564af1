"""The API's JSON shapes, named by role (MediaPublic, MediaUpdate, ...)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Kind = Literal["audio", "video"]
Status = Literal["processing", "ready", "failed"]
TrackKind = Literal["captions", "subtitles", "descriptions", "chapters"]
TrackOrigin = Literal["uploaded", "aligned", "automatic", "edited"]
CaptionsState = Literal["pending", "done", "none"]
Visibility = Literal["public", "unlisted", "private"]
VISIBILITY_HELP = (
    "`public`: listed and open to anyone; `unlisted`: open to anyone with its URL, left out "
    "of the library page and of the list (unless the API token asks); `private`: only the API "
    "token and signed URLs (POST /api/media/{id}/signed-url) open it, and to anyone else it "
    "answers as an unknown id."
)
PUBLISH_AT_HELP = (
    "When the clip turns public (ISO 8601 with a time zone): an embargo. Until then its "
    "`visibility` holds; from then on it reads `public`. null: none."
)


class MediaUrls(BaseModel):
    stream: str = Field(description="The original, as uploaded (also for download).")
    playable: str = Field(
        description="What browsers should play: a web rendition (H.264/AAC) when they cannot "
        "play the original, else the stream."
    )
    download: str
    embed: str
    watch: str
    poster: str
    oembed: str
    api: str
    hls: str | None = Field(
        None,
        description="HLS master playlist over the clip's renditions (byte-range media "
        "playlists), when it has a rendition ladder.",
    )


class TrackPublic(BaseModel):
    id: str
    kind: TrackKind
    srclang: str
    label: str
    url: str
    origin: TrackOrigin = Field(
        description="Who made it: `uploaded` by a person, `aligned` (the clip's script timed to "
        "its speech), `automatic` (speech recognition), or `edited` after that."
    )
    reviewed: bool = Field(description="Whether a person checked the text (machine-made: no).")


class VersionPublic(BaseModel):
    role: Literal["described", "sign"] = Field(
        description="`described`: the clip with audio description mixed in; `sign`: a "
        "sign-language interpreter's video, shown beside the clip."
    )
    kind: Kind
    duration: float = Field(examples=[205.2])
    duration_text: str = Field(examples=["3:25"])
    mime_type: str = Field(examples=["video/mp4"], description="The type of what `url` serves.")
    size: int = Field(description="The uploaded file's size in bytes.")
    url: str = Field(description="The version as browsers play it (byte ranges as a stream).")


class RenditionPublic(BaseModel):
    name: str = Field(examples=["360p"], description="`240p`, `360p`, `720p`, or `audio`.")
    height: int | None = Field(None, examples=[360], description="None for the audio alone.")
    width: int | None = Field(None, examples=[640])
    bitrate: int = Field(examples=[512000], description="Bits per second, as measured.")
    size: int = Field(examples=[2122827])
    mime_type: str = Field(examples=["video/mp4"])
    url: str = Field(description="The file (fragmented MP4; byte ranges as a stream).")


class CaptionsStatus(BaseModel):
    state: CaptionsState = Field(
        description="`pending` while an align or automatic captions job is queued or running, "
        "`done` when the clip has a captions track, `none` otherwise."
    )
    reason: str | None = Field(
        None,
        description="Why there are no captions, in a sentence (when `state` is `none`).",
        examples=["No speech recognition model is installed for this clip's language (uk)."],
    )


class MediaPublic(BaseModel):
    id: str = Field(examples=["q3JkzX2b9vYw4Cq1mQeH0A"])
    title: str = Field(examples=["Council meeting, 3 March"])
    description: str = ""
    language: str | None = Field(None, examples=["en"])
    kind: Kind
    status: Status = Field(
        description="`processing` until the background jobs are done, then `ready`, or "
        "`failed` with `status_reason` saying why."
    )
    status_reason: str | None = None
    duration: float = Field(examples=[205.0])
    duration_text: str = Field(examples=["3:25"])
    mime_type: str = Field(examples=["video/mp4"])
    playable_mime_type: str = Field(
        examples=["video/mp4"], description="The type of what `urls.playable` serves."
    )
    size: int = Field(examples=[2477505])
    width: int | None = Field(None, examples=[1280])
    height: int | None = Field(None, examples=[720])
    bitrate: int | None = None
    codecs: list[str] = Field(examples=[["h264", "aac"]])
    tags: dict[str, str] = {}
    created_at: datetime
    updated_at: datetime
    tracks: list[TrackPublic]
    captions: CaptionsStatus
    visibility: Visibility = Field("public", description=VISIBILITY_HELP)
    publish_at: datetime | None = Field(None, description=PUBLISH_AT_HELP)
    versions: list[VersionPublic] = Field(
        [], description="A described version and a sign-language video, where it has them."
    )
    renditions: list[RenditionPublic] = Field(
        [],
        description="The rendition ladder (H.264/AAC at 240p/360p/720p, never above the "
        "original, and the audio alone), for videos over 360p and 30 s once it is made.",
    )
    urls: MediaUrls


class MediaPage(BaseModel):
    items: list[MediaPublic]
    total: int
    offset: int
    limit: int
    next: str | None = Field(None, description="URL of the next page, if there is one.")


class MediaUpdate(BaseModel):
    """The fields a PATCH may change; anything else is refused."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=300, examples=["A better title"])
    description: str | None = Field(None, max_length=20_000)
    language: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
    visibility: Visibility | None = Field(None, description=VISIBILITY_HELP)
    publish_at: AwareDatetime | None = Field(
        None, description=PUBLISH_AT_HELP, examples=["2026-12-24T06:00:00+01:00"]
    )

    @field_validator("title", "description", "visibility")
    @classmethod
    def not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may be changed but not removed")
        return value


MAX_PLAYLIST_CLIPS = 500
ClipIds = list[Annotated[str, Field(max_length=64)]]


class PlaylistUrls(BaseModel):
    watch: str
    embed: str
    oembed: str
    api: str


class PlaylistItemPublic(BaseModel):
    """A clip in a playlist, as much of it as a list of the clips shows."""

    index: int = Field(description="Its place in the playlist, from 0.")
    id: str
    title: str
    kind: Kind
    status: Status
    duration: float
    duration_text: str = Field(examples=["0:42"])
    urls: MediaUrls


class PlaylistPublic(BaseModel):
    id: str = Field(examples=["Zb4k1QeT0yPq7wHc3mX9vA"])
    title: str = Field(examples=["Our town, season 1"])
    description: str = ""
    duration: float = Field(description="All its clips together, in seconds.")
    duration_text: str = Field(examples=["12:40"])
    media_ids: list[str] = Field(description="The clips in order (a clip may come twice).")
    items: list[PlaylistItemPublic]
    created_at: datetime
    updated_at: datetime
    urls: PlaylistUrls


class PlaylistPage(BaseModel):
    items: list[PlaylistPublic]
    total: int
    offset: int
    limit: int
    next: str | None = Field(None, description="URL of the next page, if there is one.")


class PlaylistCreate(BaseModel):
    """A new playlist: every clip id must be one in the library (422 names any that is not).
    A clip deleted from the library later drops out of the playlist."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300, examples=["Our town, season 1"])
    description: str = Field("", max_length=20_000)
    media_ids: ClipIds = Field(
        default_factory=list, max_length=MAX_PLAYLIST_CLIPS, description="The clips, in order."
    )


class PlaylistUpdate(BaseModel):
    """The fields a PATCH may change; `media_ids` replaces the clips and their order."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=300)
    description: str | None = Field(None, max_length=20_000)
    media_ids: ClipIds | None = Field(None, max_length=MAX_PLAYLIST_CLIPS)

    @field_validator("title", "description", "media_ids")
    @classmethod
    def not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be changed but not removed")
        return value


class SignedUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl: int = Field(
        3600, ge=10, le=30 * 24 * 3600, description="Seconds the URLs stay valid (10 s to 30 days)."
    )


class SignedUrls(BaseModel):
    """URLs that open a clip, private or not, until `expires_at`. The watch and embed pages
    carry the signature on to the player's requests (stream, poster, tracks)."""

    watch: str
    embed: str
    stream: str = Field(description="The stream alone (not the pages).")
    expires_at: datetime


class ProblemDetail(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None


class Health(BaseModel):
    status: Literal["ok", "failing"]
    checks: dict[str, bool]


class WebhookAttempt(BaseModel):
    """One attempt to deliver a webhook event to one configured endpoint."""

    id: int
    message_id: str = Field(description="The `webhook-id` sent: the same on every attempt.")
    event: Literal["clip.ready", "clip.failed", "clip.deleted", "captions.ready"]
    media_id: str | None
    endpoint: str
    attempt: int = Field(description="1 for the first attempt, 2 for the first retry, ...")
    status_code: int | None = Field(description="The endpoint's answer; null when none came.")
    error: str | None = Field(description="Why no answer came (time-out, refused connection).")
    duration: float = Field(description="Seconds the attempt took.")
    attempted_at: datetime


class WebhookAttemptPage(BaseModel):
    items: list[WebhookAttempt]
    next: str | None = Field(None, description="URL of the next (older) page, if there is one.")
