"""Static assets from app.assets: immutable under their hash, gzipped when the client accepts."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.errors import Problem
from app.web.assets import Asset
from app.web.compression import accepts_gzip

router = APIRouter(include_in_schema=False)
YEAR = "public, max-age=31536000, immutable"
# Host pages hard-code these URLs in embed snippets, so they also live at a stable address.
STABLE = frozenset({"embed.js", "amps-api.js"})


def serve(request: Request, asset: Asset | None, cache: str) -> Response:
    if asset is None:
        raise Problem(404, "There is no such static file.")
    headers = {"Cache-Control": cache, "ETag": f'"{asset.etag}"', "Vary": "Accept-Encoding"}
    headers["Access-Control-Allow-Origin"] = "*"
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped and accepts_gzip(request):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=asset.media_type)
    return Response(body, headers=headers, media_type=asset.media_type)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
async def stable_file(name: str, request: Request) -> Response:
    asset = request.app.state.assets.files.get(name) if name in STABLE else None
    return serve(request, asset, "public, max-age=3600")


@router.api_route("/static/{version}/{name:path}", methods=["GET", "HEAD"])
async def static_file(version: str, name: str, request: Request) -> Response:
    assets = request.app.state.assets
    # An old hash still gets today's file, but only briefly cached: it is not immutable.
    cache = YEAR if version == assets.version else "public, max-age=60"
    return serve(request, assets.files.get(name), cache)
