"""The API's documentation page, /docs: Swagger UI served by amps itself, under the strict CSP.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script; newsroom
intranets have no internet, and our CSP allows no inline script. Here the files come from a
pinned package (fastapi-offline: Swagger UI 5, which reads OpenAPI 3.1; swagger-ui-bundle
ships 4.15, which does not) under a content-hashed URL, and the start-up is static/docs.js.
"""

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app.web.assets import Assets
from app.web.routes.static import YEAR, serve

router = APIRouter(include_in_schema=False)
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"


@cache
def swagger_ui() -> Assets:
    """Read and gzipped on first use (~0.1 s), not at start-up: most processes never need it."""
    return Assets(SWAGGER_UI, bundle_name=None)


@router.api_route("/docs", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def docs_page(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    files = swagger_ui()  # under its own content hash, immutable like our static files
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "docs.html",
        {
            "title": request.app.title,
            "openapi_url": f"{root}{request.app.openapi_url}",
            "swagger_js": f"{root}/docs/{files.version}/swagger-ui-bundle.js",
            "swagger_css": f"{root}/docs/{files.version}/swagger-ui.css",
        },
    )
    return response


@router.api_route("/docs/{version}/{name}", methods=["GET", "HEAD"])
async def swagger_file(version: str, name: str, request: Request) -> Response:
    files = swagger_ui()
    cache_control = YEAR if version == files.version else "public, max-age=60"
    return serve(request, files.files.get(name), cache_control)
