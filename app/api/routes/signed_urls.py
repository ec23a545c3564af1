"""Signed URLs of a clip: watch, embed and stream links that open it, private or not, until
they expire (the HMAC rule is app.streams.signing's, who may read what app.api.access's)."""

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.api.access import NO_KEYS, signed_urls, signer_of
from app.api.auth import check_writer
from app.api.problems import WRITE_PROBLEMS, documented
from app.api.routes.media import find_media
from app.api.schemas import SignedUrlRequest, SignedUrls
from app.api.urls import base_url
from app.deps import CatalogDep, SettingsDep
from app.errors import Problem

router = APIRouter(prefix="/api/media", tags=["media"])
MAX_BODY = 4096  # `{"ttl": 3600}` and room to spare
BODY = {
    "required": False,
    "content": {"application/json": {"schema": SignedUrlRequest.model_json_schema()}},
}


async def requested(request: Request) -> SignedUrlRequest:
    """The JSON body (none: the defaults), read only once the writer is known: a stranger's
    malformed body gets 401/403, not a 422 that answers before the token is checked."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Problem(413, f'The body is larger than {MAX_BODY} bytes: send {{"ttl": N}}.')
    if not body.strip():
        return SignedUrlRequest()
    try:
        return SignedUrlRequest.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@router.post(
    "/{media_id}/signed-url",
    response_model=SignedUrls,
    responses=documented(*WRITE_PROBLEMS, 409),
    openapi_extra={"requestBody": BODY},
    summary="Signed URLs of a clip",
)
async def make_signed_urls(
    media_id: str, request: Request, catalog: CatalogDep, settings: SettingsDep
) -> SignedUrls:
    """Watch, embed and stream URLs that open the clip until `expires_at`, even when it is
    private: hand them to an editor or a CMS under embargo. Anyone holding them can watch,
    so keep the `ttl` short. 409 when the server has no AMPS_SIGNING_KEYS."""
    check_writer(request, settings)
    ttl = (await requested(request)).ttl
    media = await anyio.to_thread.run_sync(find_media, catalog, media_id)  # 404 first
    if signer_of(request) is None:
        raise Problem(409, NO_KEYS)
    base = base_url(request, settings.public_url)
    return SignedUrls(**signed_urls(signer_of(request), base, media.id, ttl))
