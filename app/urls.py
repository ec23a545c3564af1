"""Absolute URLs of a clip, from AMPS_PUBLIC_URL or the request, and its public record."""

from urllib.parse import quote

from starlette.requests import Request

from app.durations import format_duration
from app.models import Media
from app.schemas import MediaPublic, MediaUrls, TrackPublic


def base_url(request: Request, public_url: str | None) -> str:
    """Where this service is reached, without a trailing slash."""
    return (public_url or str(request.base_url)).rstrip("/")


def media_urls(base: str, media_id: str) -> MediaUrls:
    watch = f"{base}/media/{media_id}"
    return MediaUrls(
        stream=f"{watch}/stream",
        download=f"{watch}/stream?download=1",
        embed=f"{base}/embed/{media_id}",
        watch=watch,
        poster=f"{watch}/poster",
        oembed=f"{base}/oembed?url={quote(watch, safe='')}&format=json",
        api=f"{base}/api/media/{media_id}",
    )


def track_url(base: str, media_id: str, track_id: str) -> str:
    return f"{base}/media/{media_id}/tracks/{track_id}.vtt"


def public_record(media: Media, base: str) -> MediaPublic:
    urls = media_urls(base, media.id)
    tracks = [
        TrackPublic(
            id=t.id,
            kind=t.kind,
            srclang=t.srclang,
            label=t.label,
            url=track_url(base, media.id, t.id),
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
        size=media.size,
        width=media.width,
        height=media.height,
        bitrate=media.bitrate,
        codecs=list(media.codecs),
        tags=dict(media.tags),
        created_at=media.created_at,
        updated_at=media.updated_at,
        tracks=tracks,
        urls=urls,
    )
