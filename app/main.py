"""The application factory: everything is built from a Settings object, never at import time."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from app.api import problems
from app.api.limits import BodyLimit, upload_limiter
from app.api.resumable import ResumableUploads
from app.api.routes import health, media, scripts, tracks, uploads_tus, versions
from app.api.routes import metrics as metrics_api
from app.api.routes import playlists as playlist_api
from app.api.routes import webhooks as webhooks_api
from app.api.routes.signed_urls import router as signed_urls_router
from app.api.telemetry import RequestIds, RequestMetrics, log_json_lines
from app.catalog.database import Catalog
from app.config import Settings
from app.jobs.processing import Processor
from app.jobs.queue import make_queue
from app.library import Library, open_storage
from app.media.probe import die_with_parent_process
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage
from app.streams.fastpath import StreamFastPath
from app.streams.open_files import OpenFiles
from app.streams.signing import Signer
from app.web.assets import Assets
from app.web.headers import SecurityHeaders, policy_for, security_headers
from app.web.i18n import LOCALES
from app.web.page_cache import (
    PageCache,
    StampReader,
    file_check,
    files_hash,
    quick_stamps,
    read_stamps,
)
from app.web.routes import (
    docs,
    editor,
    hls,
    oembed,
    pages,
    playable,
    posters,
    static,
    stream,
    upload_page,
)
from app.web.routes import playlists as playlist_pages
from app.web.routes import versions as version_streams
from app.web.templating import TEMPLATES, make_templates

log = logging.getLogger("amps")
DESCRIPTION = """\
amps probes audio and video clips, serves them as byte-range streams and renders an
accessible player for them. Reads are public. Writes (`POST`, `PATCH`, `DELETE`) need
`Authorization: Bearer $AMPS_API_TOKEN` when the server has a token, and come from the
server's own machine when it has none. Errors are `application/problem+json` (RFC 9457).

Upload a clip: `curl -F file=@clip.mp4 -F title="My clip" http://127.0.0.1:8000/api/media`
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    storage = open_storage(settings, catalog)
    jobs = make_queue(settings, Processor(settings, catalog, storage))
    library = Library(settings, catalog, storage, jobs)
    resumable = ResumableUploads(settings, library)
    # Kept-open files serve clips on a local disk; other storage goes through the route.
    open_files = None
    if isinstance(storage, LocalStorage) and settings.stream_cache_seconds > 0:
        open_files = OpenFiles(catalog, storage, settings.stream_cache_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        die_with_parent_process()  # a granian worker, when its main process is killed
        await anyio.to_thread.run_sync(library.start)
        worker = asyncio.create_task(jobs.run()) if settings.run_jobs else None
        sweeper = asyncio.create_task(resumable.sweep_periodically())
        try:
            yield
        finally:
            sweeper.cancel()
            if worker is not None:
                jobs.stop()
                await asyncio.wait([worker])
                if not worker.cancelled() and worker.exception() is not None:
                    log.error("the job runner failed", exc_info=worker.exception())
            await anyio.to_thread.run_sync(jobs.close)
            if open_files is not None:
                open_files.close()
            app.state.stamps.close()
            catalog.dispose()

    # FastAPI's OpenTelemetry hook asks the global providers on every request (~14 us of a
    # ~40 us stream answer); amps sets up no telemetry, so it is off.
    no_telemetry: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title="amps",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=no_telemetry,
        docs_url=None,  # served by web/routes/docs.py, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.library = library
    app.state.resumable = resumable
    app.state.open_files = open_files
    keys = settings.signing_key_list
    app.state.signer = Signer(keys) if keys else None  # None: private clips open to the token
    app.state.upload_limiter = upload_limiter(settings.uploads_per_minute, catalog)
    app.state.assets = Assets(settings.static_dir)
    app.state.templates = make_templates(app.state.assets)
    page_version = files_hash(TEMPLATES, LOCALES) + app.state.assets.version
    app.state.page_cache = PageCache(f"{page_version} {settings.embed_origins}")
    # Read on the loop only where that never waits: a SQLite file and files on local disk.
    quick = None
    if catalog.reads_quickly and isinstance(storage, LocalStorage):
        quick = quick_stamps(catalog.quick_stamp, storage)
    app.state.stamps = StampReader(read_stamps(catalog.stamps, file_check(storage)), quick)
    problems.install(app, pages.page_not_found)
    routers = (media, tracks, stream, playable, posters, health, pages, upload_page, static, docs)
    for module in (*routers, oembed):
        app.include_router(module.router)
    app.include_router(uploads_tus.router)
    app.include_router(scripts.router)
    app.include_router(webhooks_api.router)
    app.include_router(metrics_api.router)
    app.include_router(playlist_api.router)
    app.include_router(playlist_pages.router)
    app.include_router(signed_urls_router)
    app.include_router(editor.router)
    app.include_router(versions.router)
    app.include_router(version_streams.router)
    app.include_router(hls.router)
    app.add_middleware(BodyLimit, read_timeout=settings.upload_read_timeout)
    # A redirected stream comes from the store: the player's pages must allow its origin.
    media_origins = [storage.public_origin] if isinstance(storage, S3Storage) else []
    app.add_middleware(
        SecurityHeaders,
        embed_origins=settings.embed_origin_list,
        media_origins=media_origins if settings.s3_redirect else [],
    )
    # Inside the fast path, which counts its own answers (a counter, not a middleware).
    app.add_middleware(RequestMetrics)
    # Outermost: a stream request it can answer never reaches routing and the middleware above.
    app.add_middleware(
        StreamFastPath,
        files=open_files,
        # The headers the SecurityHeaders middleware would add, which the fast path skips.
        extra_headers=security_headers(
            policy_for("/media/-/stream", " ".join(settings.embed_origin_list))
        ),
        accel_redirect=settings.accel_redirect,
    )
    if settings.log_format == "json":
        log_json_lines()
        app.add_middleware(RequestIds)  # every answer, the fast path's too, carries its id
    return app
