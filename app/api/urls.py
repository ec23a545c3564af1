"""Absolute URLs of a clip, from AMPS_PUBLIC_URL or the request, and its public record."""

from urllib.parse import quote

from starlette.requests import Request

from app.api.schemas import (
    CaptionsStatus,
    MediaPublic,
    MediaUrls,
    RenditionPublic,
    TrackPublic,
    VersionPublic,
)
from app.catalog.models import Media, Version, rendition_file, utcnow
from app.media.durations import format_duration

# Building request.base_url costs more than a cached page view: remembered per the parts of
# the request it is made from (bounded: Host is whatever the client sends).
_BASES: dict[tuple[object, ...], str] = {}
MAX_BASES = 256


def base_url(request: Request, public_url: str | None) -> str:
    """Where this service is reached, without a trailing slash."""
    if public_url:
        return public_url.rstrip("/")
    scope = request.scope
    root = scope.get("app_root_path", scope.get("root_path", ""))
    server = scope.get("server")
    key = (scope.get("scheme"), request.headers.get("host"), server and tuple(server), root)
    base = _BASES.get(key)
    if base is None:
        if len(_BASES) >= MAX_BASES:
            _BASES.clear()
        base = _BASES[key] = str(request.base_url).rstrip("/")
    return base


def media_urls(
    base: str, media_id: str, *, rendition: bool = False, ladder: bool = False
) -> MediaUrls:
    """`playable` is what a browser should play: the web rendition when the clip has one;
    `hls` the master playlist of its ladder, when it has one."""
    watch = f"{base}/media/{media_id}"
    return MediaUrls(
        hls=f"{watch}/hls/master.m3u8" if ladder else None,
        stream=f"{watch}/stream",
        playable=f"{watch}/playable" if rendition else f"{watch}/stream",
        download=f"{watch}/stream?download=1",
        embed=f"{base}/embed/{media_id}",
        watch=watch,
        poster=f"{watch}/poster",
        oembed=f"{base}/oembed?url={quote(watch, safe='')}&format=json",
        api=f"{base}/api/media/{media_id}",
    )


def small_poster(poster: str) -> str:
    """The small still of a poster URL (signed or not: the signature does not cover `size`)."""
    return f"{poster}{'&' if '?' in poster else '?'}size=small"


def track_url(base: str, media_id: str, track_id: str) -> str:
    return f"{base}/media/{media_id}/tracks/{track_id}.vtt"


def version_url(base: str, media_id: str, role: str) -> str:
    return f"{base}/media/{media_id}/versions/{role}"


def version_public(version: Version, base: str) -> VersionPublic:
    return VersionPublic(
        role=version.role,
        kind=version.kind,
        duration=version.duration,
        duration_text=format_duration(version.duration),
        mime_type=version.playable_mime_type or version.mime_type,
        size=version.size,
        url=version_url(base, version.media_id, version.role),
    )


NO_CAPTIONS = "This clip has no captions track."


def captions_status(media: Media) -> CaptionsStatus:
    """`pending` while a captions job is queued or running, then `done` when the clip has a
    captions track, else `none` with the reason the last job gave (or that there is none)."""
    if media.captions_state == "pending":
        return CaptionsStatus(state="pending")
    if any(t.kind == "captions" for t in media.tracks):
        return CaptionsStatus(state="done")
    return CaptionsStatus(state="none", reason=media.captions_reason or NO_CAPTIONS)


def rendition_url(base: str, media_id: str, name: str) -> str:
    return f"{base}/media/{media_id}/renditions/{rendition_file(name)}"


def renditions_public(media: Media, base: str) -> list[RenditionPublic]:
    return [
        RenditionPublic(
            name=r.name, height=r.height, width=r.width, bitrate=r.bitrate, size=r.size,
            mime_type=r.mime_type, url=rendition_url(base, media.id, r.name),
        )
        for r in media.renditions
    ]  # fmt: skip


def public_record(media: Media, base: str) -> MediaPublic:
    urls = media_urls(
        base, media.id, rendition=media.playable_key is not None, ladder=bool(media.renditions)
    )
    tracks = [
        TrackPublic(
            id=t.id,
            kind=t.kind,
            srclang=t.srclang,
            label=t.label,
            url=track_url(base, media.id, t.id),
            origin=t.origin,
            reviewed=t.reviewed,
        )
        for t in media.tracks
    ]
    return MediaPublic(
        id=media.id,
        title=media.title,
        description=media.description,
        language=media.language,
        kind=media.kind,
        status=media.status,
        status_reason=media.status_reason,
        duration=media.duration,
        duration_text=format_duration(media.duration),
        mime_type=media.mime_type,
        playable_mime_type=media.playable_mime_type or media.mime_type,
        size=media.size,
        width=media.width,
        height=media.height,
        bitrate=media.bitrate,
        codecs=list(media.codecs),
        tags=dict(media.tags),
        created_at=media.created_at,
        updated_at=media.updated_at,
        tracks=tracks,
        captions=captions_status(media),
        visibility=media.visibility_at(utcnow()),
        publish_at=media.publish_at,
        versions=[version_public(v, base) for v in media.versions],
        renditions=renditions_public(media, base),
        urls=urls,
    )
