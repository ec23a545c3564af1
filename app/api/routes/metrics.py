"""GET /metrics: every worker's counts in the Prometheus text format. It answers to the API
token (or loopback without one), as writes do; AMPS_METRICS_PORT serves it apart, untokened."""

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.auth import check_writer
from app.deps import SettingsDep
from app.metrics import CONTENT_TYPE, exposition

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    check_writer(request, settings)
    body = await anyio.to_thread.run_sync(exposition)  # reads the workers' files
    return Response(body, media_type=CONTENT_TYPE, headers={"cache-control": "no-store"})
