"""Reading pages, streams, posters and records never runs ffprobe, ffmpeg or mutagen.

Nothing is mocked: ffprobe and ffmpeg are found through a PATH directory whose scripts log
each run and then exec the real tools, and mutagen's loader is wrapped by a spy that calls
through. The upload at the start shows that both counters do count.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mutagen
import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import wait_processed

TOOLS = ("ffprobe", "ffmpeg")


class Counters:
    def __init__(self, log: Path) -> None:
        self.log = log
        self.mutagen_loads = 0

    def tool_runs(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def reset(self) -> None:
        self.log.unlink(missing_ok=True)
        self.mutagen_loads = 0


@pytest.fixture
def counters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Counters:
    shims = tmp_path / "shims"
    shims.mkdir()
    counted = Counters(tmp_path / "tool-runs.log")
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real is not None, f"{tool} is needed: run `make install`"
        script = shims / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{counted.log}"\nexec "{real}" "$@"\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")

    load = mutagen.FileType.__init__

    def counting_init(self: mutagen.FileType, *args: Any, **kwargs: Any) -> None:
        counted.mutagen_loads += 1
        load(self, *args, **kwargs)

    monkeypatch.setattr(mutagen.FileType, "__init__", counting_init)
    return counted


@pytest.fixture
def reader(settings: Settings, counters: Counters) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        yield client


def upload(client: TestClient, path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post("/api/media", files={"file": (path.name, handle)})
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    vtt = b"WEBVTT\n\n00:00.000 --> 00:05.000\nHello\n"
    added = client.post(
        f"/api/media/{record['id']}/tracks", files={"file": ("en.vtt", vtt)}, data={"srclang": "en"}
    )
    assert added.status_code == 201, added.text
    # Its job (probe, posters) done: else the record turns ready between two reads of a page,
    # which then rightly answers a repeat view with the new page instead of 304.
    wait_processed(client, record["id"])
    return record


def read_everything(client: TestClient, record: dict[str, Any]) -> None:
    """Every read a browser, an embedding page or a script makes of one clip."""
    media_id = record["id"]
    stream = f"/media/{media_id}/stream"
    size = record["size"]
    checks: list[tuple[str, dict[str, str], int]] = [
        ("/", {}, 200),
        ("/?q=a", {}, 200),
        (f"/media/{media_id}", {}, 200),
        (f"/media/{media_id}?lang=ar&t=10", {}, 200),
        (f"/embed/{media_id}", {}, 200),
        (f"/embed/{media_id}?autoplay=1&captions=en", {}, 200),
        (stream, {}, 200),
        (stream, {"Range": "bytes=0-99"}, 206),
        (stream, {"Range": f"bytes={size - 500}-"}, 206),
        (stream, {"Range": "bytes=-500"}, 206),
        (stream, {"Range": "bytes=0-9, 100-199"}, 206),
        (stream, {"Range": f"bytes={size + 10}-"}, 416),
        (f"/media/{media_id}/poster", {}, 200),
        (f"/media/{media_id}/poster?size=small", {}, 200),  # made by the job too
        (f"/media/{media_id}/tracks/{record['track_id']}.vtt", {}, 200),
        ("/api/media", {}, 200),
        (f"/api/media/{media_id}", {}, 200),
        (f"/oembed?url=http://testserver/media/{media_id}&format=json", {}, 200),
    ]
    for url, headers, status in checks:
        response = client.get(url, headers=headers)
        assert response.status_code == status, (url, response.status_code)
        etag = response.headers.get("etag")
        if etag and status == 200:
            repeat = client.get(url, headers={**headers, "If-None-Match": etag})
            assert repeat.status_code == 304, url
    assert client.head(stream).status_code == 200


@pytest.mark.parametrize("name", ["video.mp4", "vbr.mp3"])
def test_reads_run_no_probe_tool_and_no_mutagen(
    reader: TestClient, counters: Counters, media_files: dict[str, Path], name: str
) -> None:
    record = upload(reader, media_files[name])
    assert any(run.startswith("ffprobe ") for run in counters.tool_runs())
    assert counters.mutagen_loads > 0
    record["track_id"] = reader.get(f"/api/media/{record['id']}").json()["tracks"][0]["id"]
    # The poster is made by the upload's background task; reading it later must not remake it.
    assert reader.get(f"/media/{record['id']}/poster").status_code == 200
    counters.reset()

    for _ in range(2):  # first views and repeat views
        read_everything(reader, record)

    assert counters.tool_runs() == []
    assert counters.mutagen_loads == 0
