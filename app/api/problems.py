"""API errors as RFC 9457 problem details: small named exceptions, turned into JSON in one place."""

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from app.errors import Problem
from app.storage.base import StorageError

PROBLEM_JSON = "application/problem+json"
PAGES = ("/media/", "/embed/")
log = logging.getLogger("amps")
# What a write may answer besides its own: a malformed or stalled body, no or a wrong token,
# a cross-site request, an unknown id, a body too large, invalid fields.
WRITE_PROBLEMS = (400, 401, 403, 404, 408, 413, 422)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problem statuses a route may answer, and 503: every
    documented route reads the catalog, which may be down or (for writes) on a full disk."""
    from app.api.schemas import ProblemDetail

    statuses = (*statuses, 503)
    return {
        status: {
            "model": ProblemDetail,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in sorted(set(statuses))
    }


def _problem_schemas(app: FastAPI) -> None:
    """Make OpenAPI show problem bodies as application/problem+json, which is what is sent
    (FastAPI files a response model under the route's own media type, application/json)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if PROBLEM_JSON in content and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def not_found(what: str = "clip") -> Problem:
    return Problem(404, f"No {what} has this id. Check the link, or list clips at /api/media.")


def problem_response(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "msg": err["msg"]}
        for err in exc.errors()
    ]
    sentence = "; ".join(f"{e['field'] or 'request'}: {e['msg']}" for e in errors)
    return f"The request was not valid. {sentence}.", errors


PageHandler = Callable[[Request], Awaitable[Response]]


def install(app: FastAPI, page_not_found: PageHandler | None = None) -> None:
    """Register the handlers that turn every error into problem+json.

    `page_not_found` answers browsers (Accept: text/html) that land on an unmatched URL
    under the pages' paths (/media/…, /embed/…) with the no-media page instead.
    """

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.detail, exc.headers, field=exc.field)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        wants_page = "text/html" in request.headers.get("accept", "")
        if (
            exc.status_code == 404
            and page_not_found
            and wants_page
            and request.url.path.startswith(PAGES)
        ):
            return await page_not_found(request)
        detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
        if exc.status_code == 404 and detail is None:
            detail = "Nothing is here. The API is described at /docs."
        elif exc.status_code == 405:
            detail = "This method is not allowed here. The API is described at /docs."
        return problem_response(exc.status_code, str(detail), dict(exc.headers or {}))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail, errors = _validation_detail(exc)
        return problem_response(422, detail, errors=errors)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "Something went wrong on our side; it has been logged.")

    _problem_schemas(app)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    # The database refused (disk full, locked, connection lost), or an object store cannot
    # be reached or refuses us: ours to fix, not the client's, and it may pass.
    app.add_exception_handler(OperationalError, _unavailable("catalog"))
    app.add_exception_handler(StorageError, _unavailable("media storage"))
    app.add_exception_handler(Exception, on_crash)


def _unavailable(part: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A handler answering 503 with Retry-After when `part` of the service is down."""

    async def on_down(request: Request, exc: Exception) -> Response:
        log.error("%s unavailable on %s %s: %s", part, request.method, request.url.path, exc)
        return problem_response(
            503,
            f"The {part} is not available right now, so nothing was changed. "
            "Try again in a minute.",
            {"Retry-After": "60"},
        )

    return on_down
