"""AMPS_LOG_FORMAT=json: JSON log lines carrying each request's id, sent back in X-Request-ID."""

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.api.telemetry import JsonLines
from app.config import Settings
from app.main import create_app


@pytest.fixture
def json_client(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[TestClient]:
    logger = logging.getLogger("amps")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    settings = Settings(media_dir=tmp_path / "media", log_format="json")
    try:
        with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
            yield client
    finally:  # the logger is the process's: leave it as other tests expect it
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = capsys.readouterr().err.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_a_clients_request_id_is_logged_and_sent_back(
    json_client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = json_client.get("/healthz", headers={"X-Request-ID": "cms-42.a"})
    assert answer.headers["x-request-id"] == "cms-42.a"
    access = [line for line in json_lines(capsys) if line["logger"] == "amps.access"]
    assert access[-1]["request_id"] == "cms-42.a"
    assert access[-1]["path"] == "/healthz" and access[-1]["status"] == 200


def test_an_id_is_made_up_when_none_or_an_unsafe_one_is_sent(
    json_client: TestClient, capsys: pytest.CaptureFixture[str], media_files: dict[str, Path]
) -> None:
    with media_files["audio.opus"].open("rb") as file:
        media_id = json_client.post("/api/media", files={"file": file}).json()["id"]
    # The stream fast path answers in front of the app: its answers carry an id too.
    stream = json_client.get(f"/media/{media_id}/stream", headers={"range": "bytes=0-9"})
    unsafe = json_client.get("/healthz", headers={"X-Request-ID": "no spaces" * 20})
    made = [stream.headers["x-request-id"], unsafe.headers["x-request-id"]]
    assert stream.status_code == 206 and all(len(rid) == 16 for rid in made)
    assert made[0] != made[1]
    logged = {line.get("request_id") for line in json_lines(capsys)}
    assert set(made) <= logged


def test_a_log_record_outside_a_request_has_no_id() -> None:
    record = logging.LogRecord("amps", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "hello you" and line["level"] == "warning"
    assert "request_id" not in line
