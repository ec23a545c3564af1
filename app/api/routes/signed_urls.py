"""Signed URLs of a clip: watch, embed and stream links that open it, private or not, until
they expire (the HMAC rule is app.streams.signing's, who may read what app.api.access's)."""

import anyio.to_thread
from fastapi import APIRouter, Request

from app.api.access import NO_KEYS, signed_urls, signer_of
from app.api.auth import check_writer
from app.api.problems import WRITE_PROBLEMS, documented
from app.api.routes.media import find_media
from app.api.schemas import SignedUrlRequest, SignedUrls
from app.api.urls import base_url
from app.deps import CatalogDep, SettingsDep
from app.errors import Problem

router = APIRouter(prefix="/api/media", tags=["media"])


@router.post(
    "/{media_id}/signed-url",
    response_model=SignedUrls,
    responses=documented(*WRITE_PROBLEMS, 409),
    summary="Signed URLs of a clip",
)
async def make_signed_urls(
    media_id: str,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    body: SignedUrlRequest | None = None,
) -> SignedUrls:
    """Watch, embed and stream URLs that open the clip until `expires_at`, even when it is
    private: hand them to an editor or a CMS under embargo. Anyone holding them can watch,
    so keep the `ttl` short. 409 when the server has no AMPS_SIGNING_KEYS."""
    check_writer(request, settings)
    if signer_of(request) is None:
        raise Problem(409, NO_KEYS)
    media = await anyio.to_thread.run_sync(find_media, catalog, media_id)
    ttl = (body or SignedUrlRequest()).ttl
    base = base_url(request, settings.public_url)
    return SignedUrls(**signed_urls(signer_of(request), base, media.id, ttl))
