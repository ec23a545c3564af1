"""Hypothesis against the real app: conditional requests on a stream and upload forms of
every shape (arbitrary text, hostile file names, any field order, repeated fields).

Example counts are bounded for `make test`; `make fuzz` multiplies them by FUZZ_SCALE.
"""

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests import media
from tests.conftest import wait_processed

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=150 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UPLOAD_FUZZ = settings(FUZZ, max_examples=60 * SCALE)
TEXT_FIELDS = ("title", "description", "language", "token")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One second of audio: quick to probe, so many uploads fit in a bounded run."""
    target = tmp_path_factory.mktemp("tiny") / "tiny.wav"
    media.ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-ar", "8000", str(target))
    return target.read_bytes()


@pytest.fixture
def app_client(tmp_path: Path, database_url: str | None) -> Iterator[TestClient]:
    settings_ = Settings(
        media_dir=tmp_path / "media",
        database_url=database_url,
        max_upload_bytes=1024**2,
        probe_timeout=20,
        uploads_per_minute=0,
    )
    # The app disposes of its catalog at shutdown, after its job runner has stopped using it.
    with TestClient(create_app(settings_), client=("127.0.0.1", 50000)) as client:
        yield client


# --- If-None-Match, with Range, If-Range and If-Modified-Since beside it -------------------


def opaque_tags() -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=0x23, max_codepoint=0x7E), max_size=12)


@st.composite
def if_none_match(draw: st.DrawFn, etag: str) -> tuple[str, bool]:
    """A field value and whether it names our ETag (weak comparison, RFC 9110 13.1.2)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["*", " * ", "\t*"])), True
    tags = draw(
        st.lists(
            st.tuples(st.booleans(), st.one_of(st.just(etag), opaque_tags())),
            min_size=1,
            max_size=4,
        )
    )
    separators = st.sampled_from([",", ", ", " ,", ",\t", ",,"])
    text = ""
    for index, (weak, tag) in enumerate(tags):
        text += (draw(separators) if index else "") + ("W/" if weak else "") + f'"{tag}"'
    return text, any(tag == etag for _, tag in tags)


header_noise = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
)


@pytest.fixture
def stored_clip(app_client: TestClient, tiny_clip: bytes) -> dict[str, str]:
    response = app_client.post("/api/media", files={"file": ("tiny.wav", tiny_clip)})
    assert response.status_code == 201, response.text
    record = response.json()
    return {"url": f"/media/{record['id']}/stream", "etag": hashlib.sha256(tiny_clip).hexdigest()}


@FUZZ
@given(data=st.data())
def test_if_none_match_answers_304_exactly_when_it_names_our_etag(
    app_client: TestClient, stored_clip: dict[str, str], data: st.DataObject
) -> None:
    field, names_ours = data.draw(if_none_match(stored_clip["etag"]))
    extra = data.draw(
        st.dictionaries(
            st.sampled_from(["range", "if-range", "if-modified-since"]),
            st.one_of(
                header_noise,
                st.sampled_from(["bytes=0-99", "bytes=-5", f'"{stored_clip["etag"]}"']),
            ),
        )
    )
    method = data.draw(st.sampled_from(["GET", "HEAD"]))
    headers = {
        name: value.encode("latin-1") for name, value in {"if-none-match": field, **extra}.items()
    }
    response = app_client.request(method, stored_clip["url"], headers=headers)
    event(f"{response.status_code}")
    # If-None-Match decides alone: If-Modified-Since is then ignored, Range never applies.
    assert response.status_code == (304 if names_ours else response.status_code)
    if names_ours:
        assert response.content == b""
        assert response.headers["etag"] == f'"{stored_clip["etag"]}"'
    else:
        assert response.status_code in (200, 206)


@FUZZ
@given(field=header_noise, method=st.sampled_from(["GET", "HEAD"]))
def test_if_none_match_noise_never_fails_and_304s_only_on_our_tag(
    app_client: TestClient, stored_clip: dict[str, str], field: str, method: str
) -> None:
    response = app_client.request(
        method, stored_clip["url"], headers={"if-none-match": field.encode("latin-1")}
    )
    assert response.status_code in (200, 304)
    if response.status_code == 304:
        assert field.strip(" \t") == "*" or f'"{stored_clip["etag"]}"' in field


# --- Upload forms ------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "/etc/shadow",
    "C:\\evil.mp4",
    "%2e%2e%2fevil.wav",
    "..%252f..%252fevil.wav",
    "clip.wav\x00.png",
    "line\r\nbreak.wav",
    'quote".wav',
    "<script>alert(1)</script>.wav",
    "\u202egnp.wav",
    "con.wav",
    ".",
    "..",
    "",
    "a" * 400 + ".wav",
]
text_values = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(max_codepoint=0x7F), max_size=30),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "en",
            "pt-BR",
            "en\n",
            " ",
            "\x00",
            "{{ 7*7 }}",
            "x" * 301,
        ]
    ),
)
field_names = st.sampled_from([*TEXT_FIELDS, "other", "FILE", "title[]"])


CLIP = b"<the clip>"


@dataclass(frozen=True)
class Part:
    name: str
    value: bytes
    filename: str | None = None


@st.composite
def upload_forms(draw: st.DrawFn) -> list[Part]:
    """Text fields and 0-2 file parts (CLIP stands for the clip's bytes), in any order."""
    fields = draw(
        st.lists(
            st.tuples(field_names, st.one_of(text_values.map(str.encode), st.binary(max_size=30))),
            max_size=6,
        )
    )
    parts = [Part(name, value) for name, value in fields]
    filename = draw(st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=40)))
    for _ in range(draw(st.sampled_from([1, 1, 1, 1, 2, 0]))):
        parts.insert(draw(st.integers(0, len(parts))), Part("file", CLIP, filename))
    return parts


def multipart(parts: list[Part], clip: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    body = b""
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            quoted = part.filename.replace("\\", "\\\\").replace('"', '\\"')
            disposition += f'; filename="{quoted}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode(
            "utf-8", "surrogatepass"
        )
        body += (clip if part.value is CLIP else part.value) + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def library_files(client: TestClient) -> set[Path]:
    root: Path = client.app.state.settings.media_dir  # type: ignore[attr-defined]
    return {p for p in root.rglob("*") if p.is_file() and not p.name.startswith("amps.sqlite3")}


DISPOSITION = re.compile(
    r'attachment; filename="[\x20\x21\x23-\x5b\x5d-\x7e]+"'
    r"(; filename\*=UTF-8''[A-Za-z0-9%!#$&+^`|~._-]+)?"
)
STORED = re.compile(
    r"[A-Za-z0-9_-]{2}/[A-Za-z0-9_-]{16,32}/(original\.[a-z0-9]+|poster\.(jpg|png))"
)


@UPLOAD_FUZZ
@given(parts=upload_forms())
def test_any_upload_form_is_stored_whole_or_refused_leaving_nothing(
    app_client: TestClient, tiny_clip: bytes, parts: list[Part], tmp_path: Path
) -> None:
    body, content_type = multipart(parts, tiny_clip)
    before = library_files(app_client)
    response = app_client.post("/api/media", content=body, headers={"content-type": content_type})
    event(f"{response.status_code}")
    assert response.status_code in (201, 400, 413, 422), response.text
    if response.status_code == 201:  # its poster job writes files too: let it finish
        wait_processed(app_client, response.json()["id"])
    root = app_client.app.state.settings.media_dir  # type: ignore[attr-defined]
    added = library_files(app_client) - before
    # Nothing is ever written outside the library, whatever the file name says.
    assert {p.name for p in tmp_path.iterdir()} <= {"media"}
    for path in added:
        assert STORED.fullmatch(path.relative_to(root).as_posix()), path
    if response.status_code != 201:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
        assert not added
        return
    record = response.json()
    assert all(record["id"] in p.parts for p in added)
    check_text_fields(record, parts)
    check_record_escaped_everywhere(app_client, record)


def check_text_fields(record: dict[str, object], parts: list[Part]) -> None:
    """The last of each repeated field wins, cleaned as the API promises."""
    sent = {p.name: p.value.decode("utf-8", "replace") for p in parts if p.name in TEXT_FIELDS}
    title = " ".join(sent.get("title", "").split())
    assert record["title"] == title or (not title and record["title"])
    assert record["description"] == sent.get("description", "").strip()
    assert record["language"] == (sent.get("language", "").strip() or None)
    assert files_in(parts) == 1


def files_in(parts: list[Part]) -> int:
    return sum(1 for p in parts if p.name == "file")


def check_record_escaped_everywhere(client: TestClient, record: dict[str, object]) -> None:
    media_id = record["id"]
    for path in (f"/media/{media_id}", f"/embed/{media_id}", "/"):
        page = client.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
    as_json = client.get(f"/api/media/{media_id}").json()
    assert as_json["title"] == record["title"]
    download = client.get(f"/media/{media_id}/stream?download=1")
    disposition = download.headers["content-disposition"]
    assert DISPOSITION.fullmatch(disposition), disposition
    oembed = client.get("/oembed", params={"url": f"http://testserver/media/{media_id}"}).json()
    assert "<script>alert" not in oembed["html"]
    assert json.loads(json.dumps(oembed))["title"] == record["title"]
