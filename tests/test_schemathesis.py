"""schemathesis against /openapi.json, every operation, in process on the ASGI app.

Each response must be one the schema documents (status, content type, body shape, headers)
and none a 500. The client is seen as loopback, so writes (uploads, edits, deletes) really
run. Path parameters are drawn from random text and from a real clip and track, re-made
whenever a generated DELETE removes them. `make fuzz` raises FUZZ_SCALE for longer runs.
"""

import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.main import create_app

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
EXAMPLES = 25 * SCALE
VTT = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello <b>there</b>\n"


def loopback(app: ASGIApp) -> ASGIApp:
    """The app as a client on 127.0.0.1 sees it (schemathesis calls itself `testclient`)."""

    async def as_loopback(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": ("127.0.0.1", 50000)}
        await app(scope, receive, send)

    return as_loopback


class Seeds:
    """A real clip and track for path parameters, re-made when a test deletes them."""

    def __init__(self, library: Any, source: Path) -> None:
        self.library, self.source = library, source
        self.media_id = self.track_id = ""
        self.refresh()

    def refresh(self) -> None:
        media = self.library.catalog.get(self.media_id) if self.media_id else None
        if media is None:
            media = self.library.add_file(self.source, title="Seed <b>clip</b>")
            self.media_id = media.id
        if not any(t.id == self.track_id for t in media.tracks):
            vtt = VTT.decode()
            self.track_id = self.library.add_track(media.id, "captions", "en", "English", vtt).id


SEED = "seed-placeholder"
# Invalid data is rejected with any 4xx we document: 413 too (a body past 64 KiB is refused
# before anyone reads what it says).
REJECTIONS = ["400", "401", "403", "404", "405", "408", "413", "415", "422", "429"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}
)


def no_500(ctx: Any, response: Any, case: Any) -> bool:
    """No input may crash the server. Other 5xx are fine when documented (oEmbed's 501 for
    an unknown format, /healthz's 503, 507 for full storage): status_code_conformance checks."""
    assert response.status_code != 500, f"500 for {case.method} {case.formatted_path}"
    return True


def with_seeds(case: Any, seeds: Seeds) -> None:
    """Put the real clip's and track's ids where the strategy left the placeholder."""
    real = {"media_id": seeds.media_id, "track_id": seeds.track_id}
    real["track_file"] = f"{seeds.track_id}.vtt"
    for name, value in (case.path_parameters or {}).items():
        if value == SEED:
            case.path_parameters[name] = real.get(name, value)  # uploads: no seed (404)


def strategy(operation: Any, mode: GenerationMode) -> Any:
    """Cases with random path parameters, and as many with the real clip's."""
    names = [p.name for p in operation.path_parameters]
    seeded = operation.as_strategy(mode, path_parameters=dict.fromkeys(names, SEED))
    return st.one_of(operation.as_strategy(mode), seeded) if names else seeded


def describe(error: BaseException) -> str:
    """schemathesis's own report: what failed, the response, and a curl line to reproduce;
    for a group (Hypothesis's FlakyFailure among them), each failure it holds."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, BaseExceptionGroup):
        text += "".join(f"\n  - {describe(inner)}" for inner in error.exceptions)
    return text[:4000]


def run_operation(operation: Any, mode: GenerationMode, seeds: Seeds) -> None:
    @given(case=strategy(operation, mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        with_seeds(case, seeds)
        try:
            # Valid by the schema is not enough to be accepted: an upload must be real media.
            case.call_and_validate(
                excluded_checks=[positive_data_acceptance, not_a_server_error],
                additional_checks=[no_500],
            )
        finally:
            seeds.refresh()

    check()


def test_every_operation_answers_as_documented(
    tmp_path: Path, media_files: dict[str, Path], database_url: str | None
) -> None:
    settings_ = Settings(
        media_dir=tmp_path / "media",
        database_url=database_url,
        max_upload_bytes=2 * 1024**2,
        probe_timeout=20,
        uploads_per_minute=0,
    )
    app = create_app(settings_)
    app.state.library.start()
    seeds = Seeds(app.state.library, media_files["audio.opus"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", loopback(app), config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                run_operation(operation, mode, seeds)
            except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
                continue
            except (AssertionError, BaseExceptionGroup) as exc:  # run all, report all
                failures.append(f"{operation.label} ({mode}): {describe(exc)}")
    app.state.library.jobs.close()  # no lifespan here: close what queueing opened
    app.state.catalog.dispose()
    print(f"schemathesis: {len(operations)} operations, up to {EXAMPLES} examples per mode")
    assert not failures, "\n\n".join(failures)
