"""`amps`: a thin command line over the app factory and the library."""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    """AMPS_* variables, then the flags given on the command line."""
    overrides = {"media_dir": getattr(args, "media_dir", None)}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _library(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The library, migrated; on SQLite its jobs run here as they are queued (no server may be
    running to run them), on PostgreSQL they go to the queue for the workers."""
    from app.catalog.database import Catalog
    from app.jobs.processing import Processor
    from app.jobs.queue import make_queue
    from app.library import Library, open_storage

    settings = _settings(args)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    storage = open_storage(settings, catalog)
    jobs = make_queue(settings, Processor(settings, catalog, storage), inline=True)
    library = Library(settings, catalog, storage, jobs)
    library.start()
    return library


def models_refused(settings: Settings) -> bool:
    """Hash-check the installed speech models before a server or worker starts: a file that
    is not the one pinned is said on stderr (naming it and both hashes), and True."""
    from app.speech.models import ModelError, check_installed

    try:
        check_installed(settings.speech_models)
    except ModelError as exc:
        print(f"amps: refusing to start: {exc}", file=sys.stderr)
        return True
    return False


def worker(args: argparse.Namespace) -> int:
    """Run background jobs from the PostgreSQL queue until SIGTERM or SIGINT."""
    import asyncio
    import logging
    import signal

    from app.jobs.queue import PostgresQueue

    if models_refused(_settings(args)):
        return 1
    library = _library(args)
    if not isinstance(library.jobs, PostgresQueue):
        print(
            "amps worker needs a PostgreSQL catalog (AMPS_DATABASE_URL=postgresql://...); "
            "with SQLite, amps serve runs the jobs itself.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, library.jobs.stop)
        await library.jobs.run()

    print("amps worker: running jobs", flush=True)
    asyncio.run(run())
    library.jobs.close()
    return 0


def reprobe(args: argparse.Namespace) -> int:
    """Re-probe each clip named (every clip when none is): queued for the workers on
    PostgreSQL, done here and now on SQLite."""
    from app.catalog.models import STATUSES
    from app.jobs.queue import InlineQueue

    library = _library(args)
    catalog = library.catalog
    ids = args.ids or [i for status in STATUSES for i in catalog.ids_with_status(status)]
    missing = 0
    for media_id in ids:
        if not library.reprobe(media_id):
            print(f"no clip {media_id}", file=sys.stderr)
            missing += 1
        elif isinstance(library.jobs, InlineQueue):
            media = catalog.get(media_id)
            reason = f" ({media.status_reason})" if media and media.status_reason else ""
            print(f"{media_id}: {media.status if media else 'deleted'}{reason}")
        else:
            print(f"{media_id}: re-probe queued")
    library.jobs.close()
    return 1 if missing else 0


def captions(args: argparse.Namespace) -> int:
    """Machine-made captions of one clip: its script from FILE aligned (`--script`), else its
    speech recognised. Done here and now on SQLite (the result printed), queued for the
    workers on PostgreSQL."""
    from app.errors import Problem
    from app.jobs.queue import InlineQueue
    from app.speech.script import ScriptError, decode_script

    script = None
    if args.script is not None:
        try:
            script = decode_script(Path(args.script).read_bytes())
        except OSError as exc:
            print(f"cannot read {args.script}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        except ScriptError as exc:
            print(f"{args.script}: {exc}", file=sys.stderr)
            return 2
    library = _library(args)
    try:
        if script is not None:
            found = library.set_script(args.id, script)
        else:
            found = library.recognise_speech(args.id)
    except Problem as exc:
        print(f"{args.id}: {exc}", file=sys.stderr)
        return 1
    finally:
        library.jobs.close()
    if not found:
        print(f"no clip {args.id}", file=sys.stderr)
        return 1
    task = "alignment" if script is not None else "speech recognition"
    if not isinstance(library.jobs, InlineQueue):
        print(f"{args.id}: {task} queued")
        return 0
    media = library.catalog.get(args.id)
    if media is None:
        print(f"{args.id}: deleted", file=sys.stderr)
        return 1
    origin = "aligned" if script is not None else "automatic"
    made = [t for t in media.tracks if t.kind == "captions" and t.origin == origin]
    if made:
        print(f"{args.id}: {made[-1].label} captions, track {made[-1].id}")
        return 0
    print(f"{args.id}: no captions: {media.captions_reason or 'none were made.'}")
    return 1


SERVERS = ("uvicorn", "granian")
APP = "app.main:create_app"


def serve(args: argparse.Namespace) -> int:
    # Flags win over the environment; the factory reads AMPS_* in each worker process.
    for name in ("host", "port", "media_dir", "server", "workers"):
        value = getattr(args, name)
        if value is not None:
            os.environ[f"AMPS_{name.upper()}"] = str(value)
    settings = Settings()
    if models_refused(settings):
        return 1
    _share_metrics(settings)
    if settings.server == "granian":
        _serve_granian(settings, args.log_level)
    else:
        _serve_uvicorn(settings, args.log_level)
    return 0


def _share_metrics(settings: Settings) -> None:
    """The workers write their counts to files in one folder, emptied first (an earlier run's
    counts would add up), that any of them reads for /metrics; with AMPS_METRICS_PORT this
    process serves them too. Set before any worker starts: prometheus_client reads it once."""
    import atexit
    import shutil
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="amps-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    from app.metrics import prepare_multiprocess_dir, registry

    prepare_multiprocess_dir(path)
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.host, registry=registry())


def _serve_uvicorn(settings: Settings, log_level: str) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=False,
        log_level=log_level,
    )


def _serve_granian(settings: Settings, log_level: str) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(
        APP,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        websockets=False,
        log_level=LogLevels(log_level),
    ).serve()


def probe(args: argparse.Namespace) -> int:
    from app.media.probe import ProbeError, probe_file

    settings = _settings(args)
    failed = 0
    results: dict[str, object] = {}
    for name in args.files:
        try:
            results[name] = probe_file(Path(name), settings.probe_timeout).as_dict()
        except (ProbeError, OSError) as exc:
            results[name] = {"error": str(exc)}
            failed += 1
    json.dump(results, sys.stdout, indent=2)
    print()
    return 1 if failed else 0


def import_dir(args: argparse.Namespace) -> int:
    from app.errors import Problem

    library = _library(args)
    files = sorted(p for p in Path(args.directory).rglob("*") if p.is_file())
    added = refused = 0
    for path, outcome in library.import_files(files):
        if isinstance(outcome, Problem):
            print(f"skipped {path}: {outcome.detail}", file=sys.stderr)
            refused += 1
            continue
        print(f"added {path} as {outcome.id} ({outcome.kind}, {outcome.duration:.1f} s)")
        added += 1
    print(f"{added} added, {refused} skipped")
    return 0 if files else 1


def demo(args: argparse.Namespace) -> int:
    from app.demo import add_demo, add_speech_demo

    library = _library(args)
    if args.if_empty and library.catalog.list(limit=1)[1]:
        print("the library already has clips; no demo added")
        return 0
    media = add_demo(library)
    print(f"added the demo clip {media.id}: /media/{media.id}")
    speech = add_speech_demo(library)
    if speech is None:
        print("espeak-ng is not installed: no spoken demo clip (make install installs it)")
        return 0
    made = [t.label for t in speech.tracks if t.kind == "captions"]
    captions = f"{made[0]} captions" if made else f"captions {speech.captions_state or 'none'}"
    print(f"added the spoken demo clip {speech.id} ({captions}): /media/{speech.id}")
    return 0


TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def ttl_seconds(text: str) -> int:
    """`90`, `90s`, `15m`, `1h` or `7d` as seconds, within the API's bounds."""
    from app.api.access import MAX_TTL, MIN_TTL

    number, unit = (text[:-1], text[-1]) if text[-1:] in TTL_UNITS else (text, "s")
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds, or a number and s, m, h or d")
    seconds = int(number) * TTL_UNITS[unit]
    if not MIN_TTL <= seconds <= MAX_TTL:
        raise argparse.ArgumentTypeError(f"{text!r}: between {MIN_TTL} s and 30 days")
    return seconds


def sign(args: argparse.Namespace) -> int:
    """Print signed watch, embed and stream URLs of a clip (AMPS_PUBLIC_URL, else
    http://AMPS_HOST:AMPS_PORT), as JSON."""
    from app.api.access import NO_KEYS, signed_urls
    from app.catalog.database import ID_RE, Catalog
    from app.streams.signing import Signer

    settings = _settings(args)
    if not settings.signing_key_list:
        print(NO_KEYS, file=sys.stderr)
        return 2
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    try:
        catalog.migrate()
        media = catalog.get(args.id) if ID_RE.match(args.id) else None
    finally:
        catalog.dispose()
    if media is None:
        print(f"no clip {args.id}", file=sys.stderr)
        return 1
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    urls = signed_urls(Signer(settings.signing_key_list), base, media.id, args.ttl)
    urls["expires_at"] = urls["expires_at"].isoformat()
    print(json.dumps(urls, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amps", description="The Accessible Media Player Service")
    commands = parser.add_subparsers(dest="command", required=True)
    media_dir = {"type": Path, "default": None, "help": "library folder (AMPS_MEDIA_DIR)"}

    run = commands.add_parser("serve", help="serve the web app and API")
    run.add_argument("--host", default=None, help="address to listen on (AMPS_HOST, 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="port (AMPS_PORT, 8000)")
    run.add_argument("--media-dir", **media_dir)  # type: ignore[arg-type]
    run.add_argument(
        "--server",
        choices=SERVERS,
        default=None,
        help="HTTP server (AMPS_SERVER, granian): granian is faster on byte ranges and sends "
        "whole files itself; uvicorn runs in a single process",
    )
    run.add_argument(
        "--workers", type=int, default=None, help="processes to serve with (AMPS_WORKERS, 1)"
    )
    run.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    run.set_defaults(func=serve)

    inspect = commands.add_parser("probe", help="print what the service would record, as JSON")
    inspect.add_argument("files", nargs="+", metavar="FILE")
    inspect.set_defaults(func=probe)

    add = commands.add_parser("import", help="add the audio and video files under DIR")
    add.add_argument("directory", metavar="DIR")
    add.add_argument("--media-dir", **media_dir)  # type: ignore[arg-type]
    add.set_defaults(func=import_dir)

    make = commands.add_parser(
        "demo", help="add the demo clips (with captions; one spoken, its captions aligned)"
    )
    make.add_argument("--media-dir", **media_dir)  # type: ignore[arg-type]
    make.add_argument("--if-empty", action="store_true", help="only when the library is empty")
    make.set_defaults(func=demo)

    work = commands.add_parser("worker", help="run background jobs (PostgreSQL catalogs)")
    work.add_argument("--media-dir", **media_dir)  # type: ignore[arg-type]
    work.add_argument("--log-level", default="info")
    work.set_defaults(func=worker)

    again = commands.add_parser("reprobe", help="probe stored clips again, update their records")
    again.add_argument("ids", nargs="*", metavar="ID", help="clips (default: every clip)")
    again.add_argument("--media-dir", **media_dir)  # type: ignore[arg-type]
    again.set_defaults(func=reprobe)

    speech = commands.add_parser(
        "captions", help="make a clip's captions: align its script, or recognise its speech"
    )
    speech.add_argument("id", metavar="ID", help="the clip")
    speech.add_argument(
        "--script", metavar="FILE", help="the clip's script (plain UTF-8 text, at most 1 MB)"
    )
    speech.add_argument("--media-dir", **media_dir)  # type: ignore[arg-type]
    speech.set_defaults(func=captions)

    signed = commands.add_parser(
        "sign", help="print signed watch, embed and stream URLs of a clip (private ones too)"
    )
    signed.add_argument("id", metavar="ID", help="the clip")
    signed.add_argument(
        "--ttl", type=ttl_seconds, default=3600, help="how long they work: 90s, 15m, 1h, 7d (1h)"
    )
    signed.add_argument("--media-dir", **media_dir)  # type: ignore[arg-type]
    signed.set_defaults(func=sign)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
