"""Webhooks: clip events POSTed to the endpoints the operator configured, signed per the
Standard Webhooks specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

Endpoints come from AMPS_WEBHOOK_URLS only, never from a request. Each delivery attempt is a
job of the queue (`deliver` runs one); a failed attempt (no answer within
AMPS_WEBHOOK_TIMEOUT, or a status other than 2xx: redirects are not followed) queues the next
after a back-off: AMPS_WEBHOOK_RETRY_DELAY, then 4 times longer each time (30 s, 2 min, 8 min,
32 min, 2 h 8 min by default), up to AMPS_WEBHOOK_ATTEMPTS in all. At most
AMPS_WEBHOOK_MAX_RESPONSE_BYTES of an answer are read. Every attempt is recorded in the catalog
(GET /api/webhooks/deliveries) for AMPS_WEBHOOK_RETENTION seconds.

Emitting never fails the work that emits: the event is queued, or logged as lost.
"""

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
from sqlalchemy.exc import SQLAlchemyError
from standardwebhooks import Webhook

from app.catalog.database import Catalog
from app.catalog.models import WebhookDelivery
from app.config import Settings
from app.metrics import WEBHOOK_ATTEMPTS

log = logging.getLogger("amps")
EVENTS = ("clip.ready", "clip.failed", "clip.deleted", "captions.ready")
BACKOFF = 4  # each wait is this many times the one before
USER_AGENT = "amps-webhooks/1"


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one endpoint; JSON-able (a PostgreSQL job's arguments)."""

    message_id: str
    event: str
    media_id: str | None
    timestamp: int  # Unix seconds, signed with the body
    body: str  # the JSON payload exactly as signed and sent
    endpoint: str
    attempt: int = 1

    def as_job(self) -> dict[str, Any]:
        return asdict(self)

    def next_attempt(self) -> "Delivery":
        return replace(self, attempt=self.attempt + 1)


def retry_delay(base: float, attempt: int) -> float:
    """Seconds between attempt number `attempt` (1 for the first) and the next one."""
    return float(base * BACKOFF ** (attempt - 1))


class Webhooks:
    """Makes events into deliveries (emit) and runs one delivery attempt (deliver)."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        secret = settings.webhook_secret
        self.signer = Webhook(secret.get_secret_value()) if secret else None
        self.endpoints = settings.webhook_url_list if secret else []
        # The queue's way to run a delivery after a delay in seconds; set by the queue.
        self.send: Callable[[Delivery, float], None] | None = None
        self._client: httpx.Client | None = None

    def emit(self, event: str, media_id: str, **data: object) -> None:
        """Queue the event for every endpoint; logs, never raises, when it cannot be."""
        if not self.endpoints:
            return
        if self.send is None:
            log.warning("%s of %s not sent: no job queue to send it from", event, media_id)
            return
        now = int(time.time())
        payload = {
            "type": event,
            "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "data": {"id": media_id, **data},
        }
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        message_id = "msg_" + secrets.token_hex(12)
        for endpoint in self.endpoints:
            try:
                self.send(Delivery(message_id, event, media_id, now, body, endpoint), 0)
            except Exception:
                log.exception("%s of %s to %s could not be queued", event, media_id, endpoint)

    def deliver(self, delivery: Delivery) -> float | None:
        """One attempt, recorded; the seconds to wait before the next, or None when done."""
        started = time.perf_counter()
        status, error = self._post(delivery)
        duration = time.perf_counter() - started
        delivered = status is not None and 200 <= status < 300
        WEBHOOK_ATTEMPTS.labels(delivery.event, "delivered" if delivered else "failed").inc()
        self._record(delivery, status, error, duration)
        if delivered:
            return None
        if delivery.attempt >= self.settings.webhook_attempts:
            log.warning("%s to %s given up after %d attempts: %s", delivery.event,
                        delivery.endpoint, delivery.attempt, error or status)  # fmt: skip
            return None
        return retry_delay(self.settings.webhook_retry_delay, delivery.attempt)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        assert self.signer is not None
        at = datetime.fromtimestamp(delivery.timestamp, UTC)
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(delivery.timestamp),
            "webhook-signature": self.signer.sign(delivery.message_id, at, delivery.body),
        }

    def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        """The endpoint's status, or None and why there was none. Reads at most the answer's
        first AMPS_WEBHOOK_MAX_RESPONSE_BYTES, and gives up at the timeout, however slowly
        the answer drips in."""
        if delivery.endpoint not in self.endpoints or self.signer is None:
            return None, "This endpoint is no longer configured (AMPS_WEBHOOK_URLS)."
        timeout = self.settings.webhook_timeout
        deadline = time.monotonic() + timeout
        try:
            request = self._http().build_request(
                "POST", delivery.endpoint, content=delivery.body, headers=self._headers(delivery)
            )
            response = self._http().send(request, stream=True)
            try:
                limit, read = self.settings.webhook_max_response_bytes, 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= limit:
                        break  # enough: the rest is never read
                    if time.monotonic() > deadline:
                        return None, f"No whole answer within {timeout:g} s."
            finally:
                response.close()
            return response.status_code, None
        except httpx.TimeoutException:
            return None, f"No answer within {timeout:g} s."
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.settings.webhook_timeout,
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: only the configured URLs
            )
        return self._client

    def _record(
        self, delivery: Delivery, status: int | None, error: str | None, duration: float
    ) -> None:
        attempt = WebhookDelivery(
            message_id=delivery.message_id,
            event=delivery.event,
            media_id=delivery.media_id,
            endpoint=delivery.endpoint,
            attempt=delivery.attempt,
            status_code=status,
            error=error,
            duration=round(duration, 4),
        )
        try:
            self.catalog.add_delivery(attempt, self.settings.webhook_retention)
        except SQLAlchemyError:
            log.exception("could not record the delivery of %s", delivery.message_id)
