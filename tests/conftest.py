"""Shared fixtures: test media generated once per machine, settings and apps per test."""

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests import media

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from app.config import Settings
    from tests.seaweed import SeaweedFS

ROOT = Path(__file__).resolve().parent.parent
MEDIA_CACHE = ROOT / ".cache" / "test-media"


@pytest.fixture(scope="session")
def media_files() -> dict[str, Path]:
    """Every test format (see tests/media.py), each LENGTH seconds long."""
    assert media.have_ffmpeg(), "ffmpeg and ffprobe are needed: run `make install`"
    return media.make_all(MEDIA_CACHE)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each catalog: None for the default SQLite in the media dir, or a PostgreSQL URL with a
    schema of its own (PostgreSQL refuses some text SQLite takes, such as NUL)."""
    if request.param == "sqlite":
        yield None
        return
    from tests import pg

    pg.require_server()
    with pg.fresh_schema() as schema:
        yield pg.url(schema)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly: no AMPS_* variable of the caller leaks in. The
    many uploads of unrelated tests get no automatic captions (a Whisper run each): the tests
    of that behaviour turn it on (automatic_captions=True)."""
    import os

    for name in list(os.environ):
        if name.startswith("AMPS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AMPS_AUTOMATIC_CAPTIONS", "false")


@pytest.fixture
def settings(tmp_path: Path) -> "Settings":
    from app.config import Settings

    return Settings(media_dir=tmp_path / "media", max_upload_bytes=20 * 1024**2, probe_timeout=20)


@pytest.fixture
def client(settings: "Settings") -> Iterator["TestClient"]:
    """The app on Starlette's TestClient, seen as a loopback client."""
    from starlette.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def stored_files(media_dir: Path, *, posters: bool = True, temp: bool = True) -> list[Path]:
    """Every file in the library folder except the catalog's own database files."""
    return sorted(
        p
        for p in media_dir.rglob("*")
        if p.is_file()
        and not p.name.startswith("amps.sqlite3")
        and (posters or not p.name.startswith("poster."))
        and (temp or p.parent.name != ".tmp")
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """The player bundle rebuilt when a module is newer (as `make install` does): the tests
    always run the player's sources as they are now."""
    bundle = ROOT / "static" / "build" / "player.js"
    built = bundle.stat().st_mtime if bundle.exists() else 0.0
    sources = [*(ROOT / "static" / "player").glob("*.js"), ROOT / "scripts" / "build-player.sh"]
    if any(source.stat().st_mtime > built for source in sources):
        import subprocess

        subprocess.run([ROOT / "scripts" / "build-player.sh"], check=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop in this thread and a
    driver process alive for the session, which TestClient and the child-process checks
    of the other tests must not meet."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator["SeaweedFS"]:
    """One real SeaweedFS for the session, on free ports; each test takes its own prefix."""
    from tests.seaweed import SeaweedFS

    weed = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    weed.start()
    yield weed
    weed.stop()


def s3_environment(weed: "SeaweedFS") -> dict[str, str]:
    """AMPS_* variables that put a library into a fresh prefix of the test bucket."""
    import secrets

    from tests.seaweed import ACCESS_KEY, BUCKET, SECRET_KEY

    return {
        "AMPS_STORAGE_URL": f"s3://{BUCKET}/t-{secrets.token_hex(6)}/lib",
        "AMPS_S3_ENDPOINT_URL": weed.endpoint,
        "AMPS_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "AMPS_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }


@pytest.fixture
def s3_settings(tmp_path: Path, seaweedfs: "SeaweedFS") -> "Settings":
    """The `settings` fixture's library, with its clips in SeaweedFS."""
    from app.config import Settings

    values = {k.removeprefix("AMPS_").lower(): v for k, v in s3_environment(seaweedfs).items()}
    return Settings(
        media_dir=tmp_path / "media",
        max_upload_bytes=20 * 1024**2,
        probe_timeout=20,
        **values,  # type: ignore[arg-type]
    )


def wait_processed(client: Any, media_id: str, timeout: float = 60) -> dict[str, Any]:
    """The clip's record once its background jobs are done (`ready` or `failed`); `client`
    is a TestClient or an httpx client with the server's base URL."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = client.get(f"/api/media/{media_id}").json()
        if record.get("status") != "processing" or time.monotonic() > deadline:
            return record
        time.sleep(0.1)
