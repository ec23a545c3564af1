"""Webhooks against a real receiver on a free loopback port: signed per Standard Webhooks,
retried with back-off, recorded and listed, never holding a request up."""

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from app.config import Settings
from app.jobs.webhooks import retry_delay
from app.main import create_app
from tests import pg
from tests.conftest import wait_processed
from tests.e2e.conftest import free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "webhook-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Receiver(http.server.ThreadingHTTPServer):
    """Records every request; answers by path: /ok 204, /flaky 500 twice then 200, /slow
    after 3 s, /huge 200 with a body that never ends."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.flaky_failures = 0

    def bodies(self, path: str, event: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for p, h, b in self.received if p == path and f'"{event}"'.encode() in b]


class Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.server.received.append((self.path, dict(self.headers.items()), body))
        if self.path == "/flaky" and self.server.flaky_failures < 2:
            self.server.flaky_failures += 1
            self._answer(500)
        elif self.path == "/slow":
            time.sleep(3)
            self._answer(200)
        elif self.path == "/huge":
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(100_000):  # 6 GB, or until the client hangs up
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass
        else:
            self._answer(204 if self.path == "/ok" else 200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(tmp_path: Path, receiver: Receiver) -> Iterator[TestClient]:
    yield from hooked_app(tmp_path, receiver, None)


@pytest.fixture
def hooked_pg(tmp_path: Path, receiver: Receiver) -> Iterator[TestClient]:
    """Deliveries as procrastinate jobs, run by the server's own worker."""
    pg.require_server()
    with pg.fresh_schema() as schema:
        yield from hooked_app(tmp_path, receiver, pg.url(schema))


def hooked_app(
    tmp_path: Path, receiver: Receiver, database_url: str | None
) -> Iterator[TestClient]:
    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    settings = Settings(
        media_dir=tmp_path / "media",
        database_url=database_url,
        api_token=TOKEN,
        webhook_urls=",".join(f"{base}/{path}" for path in ("ok", "flaky", "slow", "huge")),
        webhook_secret=SECRET,
        webhook_timeout=1,
        webhook_retry_delay=0.2,
        webhook_attempts=3,
        job_concurrency=4,
    )
    receiver.received.clear()
    receiver.flaky_failures = 0
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        yield client


def upload(client: TestClient, path: Path) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    with path.open("rb") as file:
        answer = client.post("/api/media", files={"file": file}, headers=AUTH)
    assert answer.status_code == 201, answer.text
    return answer.json(), time.perf_counter() - started


def deliveries(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get("/api/webhooks/deliveries", headers=AUTH)
    assert answer.status_code == 200
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def wait_for(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_retry_delay_grows_four_times() -> None:
    assert [retry_delay(30, n) for n in range(1, 6)] == [30, 120, 480, 1920, 7680]


def test_events_are_signed_retried_recorded_and_never_slow_a_request(
    hooked: TestClient, receiver: Receiver, media_files: dict[str, Path]
) -> None:
    record, took = upload(hooked, media_files["audio.opus"])
    assert took < 3, "the upload waited for the slow receiver"
    assert wait_processed(hooked, record["id"])["status"] == "ready"

    # The signature verifies with the secret, and the payload names the clip.
    headers, body = wait_for(lambda: receiver.bodies("/ok", "clip.ready"))[0]
    payload = Webhook(SECRET).verify(body, headers)
    assert payload["type"] == "clip.ready" and payload["data"]["id"] == record["id"]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "B" * 32).verify(body, headers)

    # Failing twice, then answering 200: three attempts of one message, each recorded.
    flaky = wait_for(lambda: len(receiver.bodies("/flaky", "clip.ready")) == 3 and
                     receiver.bodies("/flaky", "clip.ready"))  # fmt: skip
    assert len({h["webhook-id"] for h, _ in flaky}) == 1
    attempts = wait_for(
        lambda: (
            [d for d in deliveries(hooked) if d["endpoint"].endswith("/flaky")][::-1]
            if len([d for d in deliveries(hooked) if d["endpoint"].endswith("/flaky")]) == 3
            else None
        )
    )
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert all(a["event"] == "clip.ready" and a["media_id"] == record["id"] for a in attempts)

    # An answer that never ends is cut: recorded as delivered (read to its end, or for as
    # long as the 1 s time-out, it would have failed).
    huge = wait_for(lambda: [d for d in deliveries(hooked) if d["endpoint"].endswith("/huge")])
    assert huge[0]["status_code"] == 200 and huge[0]["error"] is None

    # The slow receiver times out at 1 s on each attempt, and gets all three.
    slow = wait_for(
        lambda: (
            len(found := [d for d in deliveries(hooked) if d["endpoint"].endswith("/slow")]) == 3
            and found
        )
    )
    assert all(d["status_code"] is None and "1 s" in d["error"] for d in slow)
    assert all(0.9 < d["duration"] < 3 for d in slow)  # 1 s, and a busy machine's slack

    # A delete answers at once and announces the clip gone.
    started = time.perf_counter()
    assert hooked.delete(f"/api/media/{record['id']}", headers=AUTH).status_code == 204
    assert time.perf_counter() - started < 1
    headers, body = wait_for(lambda: receiver.bodies("/ok", "clip.deleted"))[0]
    assert Webhook(SECRET).verify(body, headers)["data"]["id"] == record["id"]


def test_captions_from_a_job_are_announced(
    hooked: TestClient, receiver: Receiver, media_files: dict[str, Path]
) -> None:
    record, _ = upload(hooked, media_files["audio.opus"])
    library = hooked.app.state.library  # type: ignore[attr-defined]
    media = library.catalog.get(record["id"])
    vtt = "WEBVTT\n\n00:00.000 --> 00:02.000\nHello.\n"
    # The step the align and automatic jobs end with: store the track they made.
    library.jobs.processor._store_made_track(media, "en", vtt, "aligned")
    headers, body = wait_for(lambda: receiver.bodies("/ok", "captions.ready"))[0]
    data = Webhook(SECRET).verify(body, headers)["data"]
    track = hooked.get(f"/api/media/{record['id']}", headers=AUTH).json()["tracks"][0]
    assert data == {"id": record["id"], "track": track["id"], "srclang": "en", "origin": "aligned"}


def test_deliveries_need_the_token_and_page_newest_first(hooked: TestClient) -> None:
    assert hooked.get("/api/webhooks/deliveries").status_code == 401
    processor = hooked.app.state.library.jobs.processor  # type: ignore[attr-defined]
    for n in range(3):
        processor.webhooks.emit("clip.deleted", f"clip{n:013d}")
    wait_for(lambda: len([d for d in deliveries(hooked) if d["endpoint"].endswith("/ok")]) == 3)
    first = hooked.get("/api/webhooks/deliveries?limit=2", headers=AUTH).json()
    assert len(first["items"]) == 2 and first["next"]
    ids = [item["id"] for item in first["items"]]
    assert ids == sorted(ids, reverse=True)
    rest = hooked.get(first["next"], headers=AUTH).json()
    assert all(item["id"] < ids[-1] for item in rest["items"])


def test_a_cursor_past_the_id_column_is_refused_not_a_500(hooked_pg: TestClient) -> None:
    """PostgreSQL's id column is 32 bits: a larger `before` is a 422, not a database error."""
    answer = hooked_pg.get(f"/api/webhooks/deliveries?before={2**31}", headers=AUTH)
    assert answer.status_code == 422
    assert hooked_pg.get(f"/api/webhooks/deliveries?before={2**31 - 1}", headers=AUTH).is_success


def test_postgresql_queues_each_attempt_as_a_job(
    hooked_pg: TestClient, receiver: Receiver, media_files: dict[str, Path]
) -> None:
    processor = hooked_pg.app.state.library.jobs.processor  # type: ignore[attr-defined]
    processor.webhooks.emit("clip.deleted", "clip0000000000001")
    flaky = wait_for(
        lambda: (
            len(found := [d for d in deliveries(hooked_pg) if d["endpoint"].endswith("/flaky")])
            == 3
            and found
        )
    )
    assert [(d["attempt"], d["status_code"]) for d in flaky[::-1]] == [(1, 500), (2, 500), (3, 200)]
    headers, body = receiver.bodies("/ok", "clip.deleted")[0]
    assert Webhook(SECRET).verify(body, headers)["data"]["id"] == "clip0000000000001"
