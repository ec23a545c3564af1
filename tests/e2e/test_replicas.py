"""Stateless replicas: two `amps serve` and one `amps worker`, each with a media dir of its own,
over the local PostgreSQL (catalog and job queue) and a real SeaweedFS (clips): any replica
answers for any clip, and nothing is kept on a replica's disk."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from tests import pg
from tests.conftest import s3_environment
from tests.e2e.conftest import Server, free_port
from tests.e2e.test_jobs import (
    STALLED_AFTER,
    Worker,
    assert_playable_copy,
    clean_env,
    reap,
    transcode_child,
    wait_processed,
)
from tests.seaweed import BUCKET, SeaweedFS

TOKEN = "replica-test-token"  # noqa: S105 (a throwaway token for local processes)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Cluster:
    first: Server
    second: Server
    worker: Worker
    prefix: str
    media_dirs: list[Path]


@pytest.fixture
def cluster(tmp_path: Path, seaweedfs: SeaweedFS) -> Iterator[Cluster]:
    pg.require_server()
    with pg.fresh_schema() as schema:
        env = clean_env(
            database_url=pg.url(schema),
            run_jobs="0",
            job_stalled_after=str(STALLED_AFTER),
            api_token=TOKEN,
        ) | s3_environment(seaweedfs)
        dirs = [tmp_path / name for name in ("first", "second", "worker")]
        first = Server(media_dir=dirs[0], port=free_port(), env=env)
        second = Server(media_dir=dirs[1], port=free_port(), env=env)
        worker = Worker(dirs[2], env)
        prefix = env["AMPS_STORAGE_URL"].removeprefix(f"s3://{BUCKET}/") + "/"
        running = Cluster(first, second, worker, prefix, dirs)
        try:
            first.start()
            second.start()
            worker.start()
            yield running
        finally:
            worker.stop()
            second.stop()
            first.stop()


def upload(server: Server, path: Path) -> dict[str, object]:
    with path.open("rb") as body:
        response = httpx.post(
            f"{server.url}/api/media", files={"file": (path.name, body)}, headers=AUTH, timeout=60
        )
    assert response.status_code == 201, response.text
    record: dict[str, object] = response.json()
    return record


def files_on_disk(cluster: Cluster) -> list[Path]:
    """Every regular file under the replicas' and the worker's media dirs."""
    return sorted(p for d in cluster.media_dirs if d.exists() for p in d.rglob("*") if p.is_file())


def objects(weed: SeaweedFS, prefix: str) -> list[str]:
    found = weed.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"].removeprefix(prefix) for o in found.get("Contents", []))


def test_upload_through_one_stream_and_delete_through_the_other(
    cluster: Cluster, seaweedfs: SeaweedFS, media_files: dict[str, Path]
) -> None:
    source = media_files["video.mp4"]
    record = upload(cluster.first, source)
    media_id = str(record["id"])
    done = wait_processed(cluster.second, media_id, timeout=120)
    assert done["status"] == "ready", done

    # Ranges, a suffix and the whole file through the replica that did not take the upload.
    data = source.read_bytes()
    stream = f"{cluster.second.url}/media/{media_id}/stream"
    for first, last in [(0, 99), (len(data) // 2, len(data) // 2 + 65535), (len(data) - 10, None)]:
        spec = f"bytes={first}-{'' if last is None else last}"
        part = httpx.get(stream, headers={"Range": spec}, timeout=30)
        assert part.status_code == 206, part.text
        assert part.content == data[first : None if last is None else last + 1]
    whole = httpx.get(stream, timeout=60)
    assert whole.status_code == 200 and whole.content == data
    poster = httpx.get(f"{cluster.second.url}/media/{media_id}/poster", timeout=60)
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    page = httpx.get(f"{cluster.second.url}/media/{media_id}", timeout=30)
    assert page.status_code == 200 and str(record["title"]) in page.text
    assert {"original.mp4", "poster.jpg"} <= {
        key.partition("/")[2] for key in objects(seaweedfs, cluster.prefix)
    }

    # Warm the first replica's views of the clip, then delete through the second.
    assert httpx.get(f"{cluster.first.url}/media/{media_id}/stream", timeout=30).status_code == 200
    assert httpx.get(f"{cluster.first.url}/media/{media_id}", timeout=30).status_code == 200
    deleted = httpx.delete(f"{cluster.second.url}/api/media/{media_id}", headers=AUTH, timeout=30)
    assert deleted.status_code == 204
    for path in (f"/api/media/{media_id}", f"/media/{media_id}/stream", f"/media/{media_id}"):
        assert httpx.get(cluster.first.url + path, timeout=30).status_code == 404, path
    assert objects(seaweedfs, cluster.prefix) == []

    # No state on any replica's or the worker's disk: clips, posters and renditions all in S3.
    assert files_on_disk(cluster) == []


def test_worker_killed_mid_job_finishes_it_after_a_restart(
    cluster: Cluster, media_files: dict[str, Path], tmp_path: Path
) -> None:
    record = upload(cluster.first, media_files["video.avi"])  # needs a web-playable rendition
    assert cluster.worker.process is not None
    orphan = transcode_child(cluster.worker.process.pid)
    cluster.worker.kill()
    reap(orphan)
    media_id = str(record["id"])
    assert httpx.get(f"{cluster.second.url}/api/media/{media_id}").json()["status"] == "processing"

    cluster.worker.start()
    done = wait_processed(cluster.second, media_id, timeout=180)
    assert_playable_copy(cluster.second, done, tmp_path)
    assert files_on_disk(cluster) == []
