"""Liveness and readiness: storage, catalog and ffprobe each checked."""

import shutil

import anyio.to_thread
from fastapi import APIRouter
from starlette.responses import JSONResponse

from app.api.schemas import Health
from app.deps import CatalogDep, LibraryDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(catalog: CatalogDep, library: LibraryDep) -> JSONResponse:
    checks = {
        "catalog": await anyio.to_thread.run_sync(catalog.ping),
        "storage": await anyio.to_thread.run_sync(library.storage.healthy),
        "ffprobe": shutil.which("ffprobe") is not None,
    }
    ok = all(checks.values())
    body = Health(status="ok" if ok else "failing", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
