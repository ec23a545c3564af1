"""Webhook delivery attempts, newest first: what was sent where, and what came back. They
answer to writers only (the token, or loopback without one): endpoints are the operator's."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.auth import check_writer
from app.api.problems import documented
from app.api.schemas import WebhookAttempt, WebhookAttemptPage
from app.deps import CatalogDep, SettingsDep

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


@router.get(
    "/deliveries",
    response_model=WebhookAttemptPage,
    responses=documented(401, 403, 422),
    summary="Webhook delivery attempts, newest first",
)
def list_deliveries(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None,
        # The id column is a 32-bit integer in PostgreSQL: a larger cursor cannot name a row.
        Query(ge=1, le=2**31 - 1, description="From a `next` link: older attempts than this id"),
    ] = None,
) -> WebhookAttemptPage:
    """Kept for AMPS_WEBHOOK_RETENTION seconds."""
    check_writer(request, settings)
    rows = catalog.deliveries(limit + 1, before)
    items = [WebhookAttempt.model_validate(row, from_attributes=True) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = str(request.url.include_query_params(before=items[-1].id, limit=limit))
    return WebhookAttemptPage(items=items, next=following)
