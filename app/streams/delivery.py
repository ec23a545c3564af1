"""One call for a route to serve a stored key, whichever storage holds it."""

import math

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from app.catalog.models import Media, Rendition
from app.storage.base import MissingKey, Storage
from app.storage.s3 import S3Storage
from app.streams.objects import object_response
from app.streams.ranges import Validators, stream_file


def record_validators(media: Media) -> Validators:
    """A clip's validators from its record: no trip to the store to judge a condition."""
    return Validators(media.sha256, math.floor(media.created_at.timestamp()), media.size)


def rendition_validators(rendition: Rendition) -> Validators:
    """A ladder file's validators from its record (the fast path judges by the same)."""
    made = math.floor(rendition.created_at.timestamp())
    return Validators(rendition.sha256, made, rendition.size)


def find_rendition(media: Media, file: str) -> Rendition | None:
    """The ladder file named in a URL (`720p.mp4`, `audio.m4a`)."""
    return next((r for r in media.renditions if r.file == file), None)


async def stored_response(
    request: Request,
    storage: Storage,
    key: str,
    *,
    media_type: str,
    media: Media | None = None,
    download_name: str | None = None,
    redirect: bool = False,
    validators: Validators | None = None,
) -> Response | None:
    """GET/HEAD of `key` (ranges, conditions, CORS); None when a local file is gone.

    `media`: the key is that clip's file, judged by its record's validators (or by
    `validators`, for another file of the clip). `redirect`: an object store answers GET with
    a redirect to a presigned URL.
    """
    if validators is None and media is not None:
        validators = record_validators(media)
    if isinstance(storage, S3Storage):
        return object_response(
            request,
            storage,
            key,
            media_type=media_type,
            validators=validators,
            download_name=download_name,
            redirect=redirect,
        )
    try:
        path = await anyio.to_thread.run_sync(storage.source, key)
    except MissingKey:
        return None
    assert not isinstance(path, str)
    etag = validators.etag if validators is not None else None
    return stream_file(request, path, media_type=media_type, etag=etag, download_name=download_name)
