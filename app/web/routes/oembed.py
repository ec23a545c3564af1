"""oEmbed 1.0 provider for our own watch and embed URLs (https://oembed.com)."""

import re
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse

from app.api.access import grant, url_signer
from app.api.problems import documented
from app.api.urls import base_url, media_urls
from app.catalog.models import utcnow
from app.deps import CatalogDep, SettingsDep
from app.errors import Problem
from app.web.embedding import frame_size, iframe, thumbnail_size
from app.web.routes.playlists import playlist_oembed

router = APIRouter(tags=["embedding"])
OUR_PATH = re.compile(r"^/(?:media|embed)/(?P<id>[A-Za-z0-9_-]{16,32})/?$")
PLAYLIST_PATH = re.compile(r"^/(?:playlists|embed/playlist)/(?P<id>[A-Za-z0-9_-]{16,32})/?$")
Size = Annotated[int | None, Query(ge=1, le=10_000)]


def clip_id(url: str, base: str) -> str:
    """The clip id in one of our watch or embed URLs; a 404 problem for anything else."""
    ours, given = urlsplit(base), urlsplit(url.strip())
    same_site = (given.scheme, given.netloc.lower()) == (ours.scheme, ours.netloc.lower())
    match = OUR_PATH.match(given.path) if same_site else None
    if match is None:
        raise Problem(404, "This URL is not a clip on this server, so it cannot be embedded.")
    return match["id"]


def playlist_of(url: str, base: str) -> str | None:
    """The playlist id in one of our playlist watch or embed URLs, else None."""
    ours, given = urlsplit(base), urlsplit(url.strip())
    if (given.scheme, given.netloc.lower()) != (ours.scheme, ours.netloc.lower()):
        return None
    match = PLAYLIST_PATH.match(given.path)
    return match["id"] if match else None


@router.get(
    "/oembed",
    responses=documented(404, 422, 501),
    summary="oEmbed 1.0 for a watch or embed URL (of a clip or a playlist)",
)
async def oembed(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    url: Annotated[str, Query(max_length=2000, examples=["http://127.0.0.1:8000/media/ID"])],
    format: Annotated[str, Query(max_length=10)] = "json",
    maxwidth: Size = None,
    maxheight: Size = None,
) -> JSONResponse:
    if format != "json":
        raise Problem(501, "Only format=json is provided; XML is not implemented.")
    base = base_url(request, settings.public_url)
    playlist_id = playlist_of(url, base)
    if playlist_id is not None:
        answer = await anyio.to_thread.run_sync(
            playlist_oembed, catalog, playlist_id, base, maxwidth, maxheight
        )
        return JSONResponse(answer, headers={"Access-Control-Allow-Origin": "*"})
    media = await anyio.to_thread.run_sync(catalog.get, clip_id(url, base))
    # A private clip: the token, or the signature of a signed watch or embed URL given.
    given = urlsplit(url.strip())
    signed = dict(parse_qsl(given.query))
    allowed = None
    if media is not None:
        allowed = grant(request, media.id, media.visibility_at(utcnow()), given.path, signed)
    if media is None or allowed is None:
        raise Problem(404, "No clip has this id. Check the URL.")
    sign = url_signer(request, media.id, allowed) or (lambda url: url)
    width, height = frame_size(media, maxwidth, maxheight)
    thumb_width, thumb_height = thumbnail_size(media)
    urls = media_urls(base, media.id)
    body: dict[str, Any] = {
        "type": "video" if media.kind == "video" else "rich",
        "version": "1.0",
        "title": media.title,
        "provider_name": "amps",
        "provider_url": base + "/",
        "html": iframe(sign(urls.embed), media.title, width, height),
        "width": width,
        "height": height,
        "thumbnail_url": sign(urls.poster),
        "thumbnail_width": thumb_width,
        "thumbnail_height": thumb_height,
    }
    return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})
