"""Two `amps serve` processes (two workers each) over one library: a page one of them has
rendered and kept never outlives an edit, a new track or a delete made through the other."""

import os
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.e2e.conftest import Server, free_port


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    media = tmp_path / "media"
    servers = [
        Server(media_dir=media, port=free_port(), env=env, args=("--workers", "2"))
        for _ in range(2)
    ]
    try:
        for server in servers:
            server.start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def views(server: Server, url: str, times: int = 6) -> set[str]:
    """The page as several requests see it (they may reach either worker process)."""
    return {httpx.get(f"{server.url}{url}", timeout=10).text for _ in range(times)}


@pytest.mark.parametrize("page", ["/media/{id}", "/embed/{id}"])
def test_changes_through_one_replica_show_at_once_on_the_other(
    replicas: tuple[Server, Server], media_files: dict[str, Path], page: str
) -> None:
    writer, reader = replicas
    with media_files["audio.m4a"].open("rb") as handle:
        created = httpx.post(
            f"{writer.url}/api/media", files={"file": ("a.m4a", handle)},
            data={"title": "First title"}, timeout=60,
        )  # fmt: skip
    assert created.status_code == 201, created.text
    media_id = created.json()["id"]
    url = page.format(id=media_id)
    assert all("First title" in html for html in views(reader, url))

    edited = httpx.patch(f"{writer.url}/api/media/{media_id}", json={"title": "Second title"})
    assert edited.status_code == 200
    assert all("Second title" in html and "First title" not in html for html in views(reader, url))

    vtt = b"WEBVTT\n\n00:00.000 --> 00:05.000\nThe chair opens the meeting\n"
    track = httpx.post(
        f"{writer.url}/api/media/{media_id}/tracks", files={"file": ("en.vtt", vtt)},
        data={"srclang": "en"},
    )  # fmt: skip
    assert track.status_code == 201, track.text
    assert all("The chair opens the meeting" in html for html in views(reader, url))

    assert httpx.delete(f"{writer.url}/api/media/{media_id}").status_code == 204
    for _ in range(6):
        assert httpx.get(f"{reader.url}{url}").status_code == 404
