"""Byte ranges, validators, 304/412/416, CORS and downloads, served by app.streams.ranges.

The RFC 9110 cases run against every way amps can serve a stream (MODES): stream_file in a
bare Starlette app, amps' route and its fast path in process, real `amps serve` processes on
uvicorn and granian, nginx with X-Accel-Redirect (docs/nginx.conf) in front of amps, and
amps' route proxying an object in S3 (a real SeaweedFS). No way of serving may be less
correct than another.
"""

import hashlib
import os
import random
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import httpx2 as httpx
import pytest
from fastapi import FastAPI
from hypothesis import event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from app.catalog.database import Catalog
from app.catalog.models import Media
from app.config import Settings
from app.library import Library, open_storage
from app.main import create_app as create_amps
from app.storage.local import LocalStorage
from app.streams.ranges import DEFAULT_CACHE_CONTROL, MAX_RANGES, preflight_response, stream_file
from tests.conftest import s3_environment
from tests.e2e.conftest import Server, free_port
from tests.nginx import ACCEL_PREFIX, Nginx, have_nginx

if TYPE_CHECKING:
    from tests.seaweed import SeaweedFS


def wav_header(size: int) -> bytes:
    """The 44-byte header of a `size`-byte 8-bit mono PCM WAV file (probed as audio)."""
    rate = 8000
    header = b"RIFF" + struct.pack("<I", size - 8) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    return header + b"data" + struct.pack("<I", size - 44)


def wav(size: int) -> bytes:
    """`size` bytes of WAV, the same every run: any length, random samples."""
    return wav_header(size) + random.Random(9110).randbytes(size - 44)


DATA = wav(300_007)
SIZE = len(DATA)
MIME = "audio/wav"
ETAG = hashlib.sha256(DATA).hexdigest()  # what amps records, and the bare app is given
QUOTED_ETAG = f'"{ETAG}"'
MTIME = 1_700_000_000  # the file's mtime is MTIME + 0.75: Last-Modified says MTIME
LAST_MODIFIED = formatdate(MTIME, usegmt=True)
LAST_MODIFIED_RFC850 = "Tuesday, 14-Nov-23 22:13:20 GMT"
FUZZ = settings(max_examples=300, deadline=None)
MODES = ["starlette", "route", "fastpath", "uvicorn", "granian", "nginx", "s3"]
# Set by the HTTP server or proxy, not by amps: they may differ between two responses.
HOP_HEADERS = {"date", "server", "connection", "keep-alive"}


def write_clip(path: Path, data: bytes = DATA) -> Path:
    path.write_bytes(data)
    os.utime(path, (MTIME + 0.75, MTIME + 0.75))
    return path


def create_app(
    path: Path, etag: str | None = None, cache_control: str = DEFAULT_CACHE_CONTROL
) -> Starlette:
    async def stream(request: Request) -> Response:
        name = request.query_params.get("name")
        return stream_file(
            request,
            path,
            media_type=MIME,
            etag=etag,
            download_name=name,
            cache_control=cache_control,
        )

    async def preflight(request: Request) -> Response:
        return preflight_response(request)

    return Starlette(
        routes=[
            Route("/clip", stream, methods=["GET", "HEAD"]),
            Route("/clip", preflight, methods=["OPTIONS"]),
        ]
    )


@dataclass
class Target:
    """Where one mode serves DATA: a client and the path of the stream."""

    client: httpx.Client
    path: str
    wire: bool = False  # over a real connection

    def request(self, method: str, headers: Any = (), **kwargs: Any) -> httpx.Response:
        fields = list(headers.items() if isinstance(headers, dict) else headers)
        if self.wire:  # leading and trailing white space never travel (RFC 9110 5.5)
            fields = [(k, v.strip(" \t" if isinstance(v, str) else b" \t")) for k, v in fields]
        return self.client.request(method, self.path, headers=fields, **kwargs)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A library holding DATA as a clip, its file's mtime set: (media dir, clip id)."""
    media_dir = tmp_path_factory.mktemp("library") / "media"
    settings = Settings(media_dir=media_dir)
    catalog = Catalog(settings.catalog_url)
    library = Library(settings, catalog, LocalStorage(media_dir))
    library.start()
    media = library.add_file(write_clip(media_dir.parent / "clip.wav"))
    stored = library.file_of(media)
    assert stored is not None and media.sha256 == ETAG and media.mime_type == MIME
    os.utime(stored, (MTIME + 0.75, MTIME + 0.75))
    catalog.dispose()
    return media_dir, media.id


def s3_library(weed: "SeaweedFS", tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A library in S3 holding DATA, added through the upload path (temp key, probe, copy),
    its record dated MTIME as the local file's mtime is."""
    values = {k.removeprefix("AMPS_").lower(): v for k, v in s3_environment(weed).items()}
    settings = Settings(media_dir=tmp_path_factory.mktemp("s3-library"), **values)  # type: ignore[arg-type]
    catalog = Catalog(settings.catalog_url)
    library = Library(settings, catalog, open_storage(settings))
    library.start()
    media = library.add_file(write_clip(settings.media_dir / "clip.wav"))
    assert media.sha256 == ETAG and media.mime_type == MIME
    with catalog._write() as session, session.begin():
        session.get(Media, media.id).created_at = datetime.fromtimestamp(MTIME, UTC)  # type: ignore[union-attr]
    catalog.dispose()
    return settings


def amps_server(media_dir: Path, *args: str, **settings: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPS_")}
    env.update({f"AMPS_{name.upper()}": value for name, value in settings.items()})
    server = Server(media_dir=media_dir, port=free_port(), env=env, args=args)
    server.start()
    return server


@pytest.fixture(scope="module", params=MODES)
def client(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    library: tuple[Path, str],
) -> Iterator[Target]:
    media_dir, media_id = library
    stream = f"/media/{media_id}/stream"
    mode = request.param
    if mode == "starlette":
        path = write_clip(tmp_path_factory.mktemp("clip") / "clip.wav")
        with TestClient(create_app(path, etag=ETAG)) as test_client:
            yield Target(test_client, "/clip")
    elif mode in ("route", "fastpath"):
        cache = 0.0 if mode == "route" else 1.0
        settings = Settings(media_dir=media_dir, stream_cache_seconds=cache)
        with TestClient(create_amps(settings)) as test_client:
            yield Target(test_client, stream)
    elif mode == "s3":
        settings = s3_library(request.getfixturevalue("seaweedfs"), tmp_path_factory)
        with TestClient(create_amps(settings)) as test_client:
            media_id = test_client.app.state.catalog.list(limit=1)[0][0].id  # type: ignore[attr-defined]
            yield Target(test_client, f"/media/{media_id}/stream")
    elif mode in ("uvicorn", "granian"):
        server = amps_server(media_dir, "--server", mode)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                yield Target(http, stream, wire=True)
        finally:
            server.stop()
    else:
        assert have_nginx(), "nginx is needed: run `make install`"
        server = amps_server(media_dir, accel_redirect=ACCEL_PREFIX)
        proxy = Nginx(tmp_path_factory.mktemp("nginx"), free_port(), server.port, media_dir)
        try:
            proxy.start()
            with httpx.Client(base_url=proxy.url, timeout=30) as http:
                yield Target(http, stream, wire=True)
        finally:
            proxy.stop()
            server.stop()


def get(client: Target, method: str = "GET", **headers: str | bytes) -> httpx.Response:
    fields = {
        name.replace("_", "-").encode(): value if isinstance(value, bytes) else value.encode()
        for name, value in headers.items()
    }
    return client.request(method, headers=fields)


def content_range(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", value)
    assert match, value
    start, end, total = map(int, match.groups())
    assert start <= end < total == SIZE
    return start, end


def byteranges(response: httpx.Response) -> list[tuple[int, int]]:
    """Checks a multipart/byteranges body part by part against DATA; returns its ranges."""
    content_type, _, boundary = response.headers["content-type"].partition("; boundary=")
    assert content_type == "multipart/byteranges"
    delimiter, body, pos = f"--{boundary}".encode(), response.content, 0
    ranges: list[tuple[int, int]] = []
    while body.startswith(delimiter + b"\r\n", pos):
        head_end = body.index(b"\r\n\r\n", pos)
        lines = body[pos:head_end].decode("latin-1").split("\r\n")[1:]
        fields = dict(line.split(": ", 1) for line in lines)
        assert fields["Content-Type"] == MIME
        start, end = content_range(fields["Content-Range"])
        pos = head_end + 4 + end - start + 1
        assert body[head_end + 4 : pos] == DATA[start : end + 1]
        assert body[pos : pos + 2] == b"\r\n"
        pos, ranges = pos + 2, [*ranges, (start, end)]
    assert body[pos:] == delimiter + b"--"
    assert len(ranges) >= 2
    return ranges


def without_hop_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in HOP_HEADERS}


def check_rules(response: httpx.Response) -> None:
    """What must hold for any Range: 200 whole, 206 exact bytes, 416 with bytes */N."""
    assert response.status_code in {200, 206, 416}
    event(f"status {response.status_code}")
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["accept-ranges"] == "bytes"
    if response.status_code == 200:
        assert response.content == DATA
    elif response.status_code == 416:
        assert response.headers["content-range"] == f"bytes */{SIZE}"
    elif response.headers["content-type"].startswith("multipart/"):
        byteranges(response)
    else:
        start, end = content_range(response.headers["content-range"])
        assert response.content == DATA[start : end + 1]


def test_whole_file_gives_200_with_validators_and_safety_headers(client: Target) -> None:
    response = get(client)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == MIME
    assert response.headers["etag"] == QUOTED_ETAG
    assert response.headers["last-modified"] == LAST_MODIFIED
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == DEFAULT_CACHE_CONTROL
    assert "content-disposition" not in response.headers
    assert "vary" not in response.headers


def test_cors_headers_on_every_status(client: Target) -> None:
    for headers in (
        {},
        {"range": "bytes=0-9"},
        {"range": "bytes=9999999-"},
        {"if-none-match": "*"},
    ):
        response = get(client, **headers)
        assert response.headers["access-control-allow-origin"] == "*"
        exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
        assert exposed == {"Content-Range", "Content-Length", "Accept-Ranges", "ETag"}
        assert response.headers["x-content-type-options"] == "nosniff"


def test_single_range_gives_206_with_content_range(client: Target) -> None:
    response = get(client, range="bytes=100-1099")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-1099/{SIZE}"
    assert response.headers["content-length"] == "1000"
    assert response.headers["content-type"] == MIME
    assert response.content == DATA[100:1100]


def test_open_range_runs_to_the_end(client: Target) -> None:
    response = get(client, range="bytes=500-")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 500-{SIZE - 1}/{SIZE}"
    assert response.content == DATA[500:]


def test_suffix_range_gives_the_last_bytes(client: Target) -> None:
    response = get(client, range="bytes=-500")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {SIZE - 500}-{SIZE - 1}/{SIZE}"
    assert response.content == DATA[-500:]


def test_suffix_longer_than_the_file_gives_all_of_it(client: Target) -> None:
    response = get(client, range=f"bytes=-{SIZE * 3}")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-{SIZE - 1}/{SIZE}"
    assert response.content == DATA


def test_range_end_past_the_file_is_clamped(client: Target) -> None:
    response = get(client, range=f"bytes={SIZE - 10}-{SIZE * 2}")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}"
    assert response.content == DATA[-10:]


def test_huge_numbers_are_no_trouble(client: Target) -> None:
    assert get(client, range=f"bytes=0-{'9' * 5000}").content == DATA
    assert get(client, range=f"bytes={'9' * 5000}-").status_code == 416
    assert get(client, range=f"bytes=-{'9' * 5000}").status_code == 206


def test_multi_range_gives_multipart_byteranges(client: Target) -> None:
    response = get(client, range="bytes=0-99, 1000-1999,-50")
    assert response.status_code == 206
    assert byteranges(response) == [(0, 99), (1000, 1999), (SIZE - 50, SIZE - 1)]
    assert int(response.headers["content-length"]) == len(response.content)


def test_overlapping_ranges_are_coalesced(client: Target) -> None:
    response = get(client, range="bytes=0-99,50-199,1000-1009,1005-1019")
    assert byteranges(response) == [(0, 199), (1000, 1019)]


def test_partly_unsatisfiable_multi_range_serves_the_satisfiable_parts(client: Target) -> None:
    response = get(client, range=f"bytes=0-9,{SIZE}-{SIZE + 9},-0,200-209")
    assert response.status_code == 206
    assert byteranges(response) == [(0, 9), (200, 209)]


def test_one_satisfiable_range_left_gives_a_plain_206(client: Target) -> None:
    response = get(client, range=f"bytes={SIZE + 5}-,10-19")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 10-19/{SIZE}"
    assert response.content == DATA[10:20]


@pytest.mark.parametrize("spec", [f"{SIZE}-", f"{SIZE + 100}-{SIZE + 200}", "-0", f"{SIZE}-,-0"])
def test_range_past_end_gives_416_with_content_range(client: Target, spec: str) -> None:
    response = get(client, range=f"bytes={spec}")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.headers["etag"] == QUOTED_ETAG
    assert response.content == b""


MALFORMED = [
    "bytes",
    "bytes=",
    "bytes=,",
    "bytes=-",
    "bytes=a-b",
    "bytes=1-2-3",
    "bytes=--5",
    "bytes=+1-5",
    "bytes=1_0-20",
    "bytes=0x10-20",
    "bytes=1 - 5",
    "bytes =0-5",
    "bytes=0-5;x",
    "bytes=0-5, garbage",
    "=0-5",
    "0-5",
    "garbage",
    "",
    "bytes=\u0663-5",  # Arabic-Indic three: int() would take it
]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_range_is_ignored(client: Target, value: str) -> None:
    response = get(client, range=value.encode())
    assert response.status_code == 200
    assert response.content == DATA


@pytest.mark.parametrize("value", ["items=0-1", "lines=0-5", "none", "bytes2=0-1"])
def test_unknown_range_unit_is_ignored(client: Target, value: str) -> None:
    response = get(client, range=value)
    assert response.status_code == 200
    assert response.content == DATA


def test_range_unit_is_case_insensitive(client: Target) -> None:
    assert get(client, range="BYTES=0-0").content == DATA[:1]


@pytest.mark.parametrize("value", ["bytes=5-4", "bytes=0-1,5-4", f"bytes={SIZE + 9}-{SIZE + 1}"])
def test_last_before_first_voids_the_range(client: Target, value: str) -> None:
    response = get(client, range=value)
    assert response.status_code == 200
    assert response.content == DATA


def test_empty_list_elements_are_allowed(client: Target) -> None:
    response = get(client, range="bytes=,0-9,,")
    assert response.headers["content-range"] == f"bytes 0-9/{SIZE}"


def test_range_sent_twice_is_ignored(client: Target) -> None:
    response = client.request("GET", headers=[("range", "bytes=0-9"), ("range", "bytes=20-29")])
    assert response.status_code == 200
    assert response.content == DATA


def test_too_many_ranges_give_the_whole_file(client: Target) -> None:
    within = ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(MAX_RANGES))
    assert len(byteranges(get(client, range=f"bytes={within}"))) == MAX_RANGES
    response = get(client, range=f"bytes={within},5000-5001")
    assert response.status_code == 200
    assert response.content == DATA


def test_ranges_adding_up_past_the_file_size_give_the_whole_file(client: Target) -> None:
    response = get(client, range="bytes=0-,0-,0-")
    assert response.status_code == 200
    assert response.content == DATA


def test_if_range_matching_etag_gives_206(client: Target) -> None:
    response = get(client, range="bytes=0-9", if_range=QUOTED_ETAG)
    assert response.status_code == 206
    assert response.content == DATA[:10]


@pytest.mark.parametrize("validator", ['"stale"', f"W/{QUOTED_ETAG}", ETAG, "garbage", ""])
def test_if_range_stale_or_weak_gives_the_whole_file(client: Target, validator: str) -> None:
    response = get(client, range="bytes=0-9", if_range=validator)
    assert response.status_code == 200
    assert response.content == DATA


def test_if_range_stale_with_unsatisfiable_range_gives_200_not_416(client: Target) -> None:
    response = get(client, range=f"bytes={SIZE}-", if_range='"stale"')
    assert response.status_code == 200


@pytest.mark.parametrize("date", [LAST_MODIFIED, LAST_MODIFIED_RFC850])
def test_if_range_matching_last_modified_gives_206(client: Target, date: str) -> None:
    response = get(client, range="bytes=10-19", if_range=date)
    assert response.status_code == 206
    assert response.content == DATA[10:20]


@pytest.mark.parametrize("offset", [-1, 1, 3600])
def test_if_range_other_date_gives_the_whole_file(client: Target, offset: int) -> None:
    response = get(client, range="bytes=10-19", if_range=formatdate(MTIME + offset, usegmt=True))
    assert response.status_code == 200
    assert response.content == DATA


@pytest.mark.parametrize(
    "value",
    [QUOTED_ETAG, f'"a", {QUOTED_ETAG}, "b"', "*", f"W/{QUOTED_ETAG}", f'W/"x",W/{QUOTED_ETAG}'],
)
def test_if_none_match_gives_304(client: Target, value: str) -> None:
    response = get(client, if_none_match=value)
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == QUOTED_ETAG
    assert response.headers["last-modified"] == LAST_MODIFIED
    assert response.headers["cache-control"] == DEFAULT_CACHE_CONTROL
    assert "content-length" not in response.headers


def test_if_none_match_other_etags_give_200(client: Target) -> None:
    response = get(client, if_none_match='"a", W/"b"', if_modified_since=LAST_MODIFIED)
    assert response.status_code == 200  # If-Modified-Since is ignored beside If-None-Match
    assert response.content == DATA


def test_if_none_match_beats_range(client: Target) -> None:
    assert get(client, if_none_match=QUOTED_ETAG, range="bytes=0-9").status_code == 304


@pytest.mark.parametrize("offset", [0, 1, 86400])
def test_if_modified_since_not_older_gives_304(client: Target, offset: int) -> None:
    response = get(client, if_modified_since=formatdate(MTIME + offset, usegmt=True))
    assert response.status_code == 304
    assert response.headers["etag"] == QUOTED_ETAG


@pytest.mark.parametrize("value", [formatdate(MTIME - 1, usegmt=True), "yesterday", "Mon, 99 Foo"])
def test_if_modified_since_older_or_invalid_gives_200(client: Target, value: str) -> None:
    response = get(client, if_modified_since=value)
    assert response.status_code == 200
    assert response.content == DATA


@pytest.mark.parametrize("value", [QUOTED_ETAG, "*", f'"a", {QUOTED_ETAG}'])
def test_if_match_holding_serves_the_file(client: Target, value: str) -> None:
    assert get(client, if_match=value).content == DATA


@pytest.mark.parametrize("value", ['"a"', f"W/{QUOTED_ETAG}"])
def test_if_match_failing_gives_412(client: Target, value: str) -> None:
    assert get(client, if_match=value).status_code == 412


def test_if_unmodified_since_older_gives_412(client: Target) -> None:
    since = formatdate(MTIME - 1, usegmt=True)
    assert get(client, if_unmodified_since=since).status_code == 412
    assert get(client, if_unmodified_since=LAST_MODIFIED).status_code == 200


def test_head_gives_the_get_headers_without_a_body(client: Target) -> None:
    head, whole = get(client, "HEAD"), get(client)
    assert head.status_code == 200
    assert head.content == b""
    assert without_hop_headers(head) == without_hop_headers(whole)


def test_ranged_head_gives_content_range_without_a_body(client: Target) -> None:
    head = get(client, "HEAD", range="bytes=100-199")
    assert head.status_code == 206
    assert head.content == b""
    assert head.headers["content-range"] == f"bytes 100-199/{SIZE}"
    assert head.headers["content-length"] == "100"


def test_multi_range_head_gives_the_multipart_length(client: Target) -> None:
    head, ranged = (get(client, method, range="bytes=0-9,100-109") for method in ("HEAD", "GET"))
    assert head.status_code == 206
    assert head.content == b""
    assert head.headers["content-length"] == ranged.headers["content-length"]
    assert head.headers["content-type"].startswith("multipart/byteranges; boundary=")


def test_preflight_allows_range_requests_from_anywhere(client: Target) -> None:
    response = client.request(
        "OPTIONS",
        headers={
            "origin": "https://example.org",
            "access-control-request-method": "GET",
            "access-control-request-headers": "range",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert allowed == {"range", "if-range", "if-none-match", "if-modified-since"}
    assert int(response.headers["access-control-max-age"]) > 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", 'attachment; filename="clip.mp4"'),
        ('../../etc/passwd"\r\nX: y.mp4', 'attachment; filename="passwdX: y.mp4"'),
        ("..\\..\\boot.ini", 'attachment; filename="boot.ini"'),
        ("..", 'attachment; filename="download"'),
        ("evil\u202egnp.exe", 'attachment; filename="evilgnp.exe"'),
    ],
)
def test_download_name_is_made_safe(tmp_path: Path, name: str, expected: str) -> None:
    with TestClient(create_app(write_clip(tmp_path / "c.wav"))) as client:
        response = client.get("/clip", params={"name": name})
    assert response.headers["content-disposition"] == expected
    assert "x" not in response.headers
    assert response.content == DATA


def test_non_ascii_download_name_gets_filename_star_and_ascii_fallback(tmp_path: Path) -> None:
    name = "Ünïcødé clip.mp4"
    with TestClient(create_app(write_clip(tmp_path / "c.wav"))) as client:
        disposition = client.get("/clip", params={"name": name}).headers["content-disposition"]
    match = re.fullmatch(
        r"attachment; filename=\"([ -~]+)\"; filename\*=UTF-8''([!-~]+)", disposition
    )
    assert match, disposition
    assert match[1] == "Unic_de clip.mp4"
    assert unquote(match[2]) == name


def test_etag_defaults_to_a_strong_one_from_size_and_mtime(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "c.wav")
    with TestClient(create_app(path)) as client:
        first = client.get("/clip").headers["etag"]
        assert re.fullmatch(r'"[!#-~]+"', first)
        assert client.get("/clip", headers={"if-none-match": first}).status_code == 304
        os.utime(path, (MTIME + 5, MTIME + 5))
        assert client.get("/clip").headers["etag"] != first


def test_etag_with_quotes_is_refused(tmp_path: Path) -> None:
    request = Request({"type": "http", "method": "GET", "headers": []})
    with pytest.raises(ValueError, match="ETag"):
        stream_file(request, tmp_path, media_type=MIME, etag='"abc"')


def test_cache_control_can_be_chosen(tmp_path: Path) -> None:
    app = create_app(write_clip(tmp_path / "c.wav"), cache_control="no-store")
    with TestClient(app) as client:
        assert client.get("/clip").headers["cache-control"] == "no-store"


def test_empty_file_int_range_gives_416(tmp_path: Path) -> None:
    with TestClient(create_app(write_clip(tmp_path / "e.wav", b""))) as client:
        response = client.get("/clip", headers={"range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */0"


def test_empty_file_suffix_range_gives_the_empty_file(tmp_path: Path) -> None:
    # RFC 9110 14.1.1: a non-zero suffix is satisfiable, and a shorter file is used whole.
    with TestClient(create_app(write_clip(tmp_path / "e.wav", b""))) as client:
        response = client.get("/clip", headers={"range": "bytes=-500"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


def test_missing_file_gives_404_problem(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path / "gone.wav")) as client:
        response = client.get("/clip")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_fastapi_route_returns_it_as_is(tmp_path: Path) -> None:
    path, app = write_clip(tmp_path / "c.wav"), FastAPI()

    @app.api_route("/clip", methods=["GET", "HEAD"])
    def clip(request: Request) -> Response:
        return stream_file(request, path, media_type=MIME, etag=ETAG)

    with TestClient(app) as client:
        response = client.get("/clip", headers={"range": "bytes=1-2"})
    assert response.status_code == 206
    assert response.content == DATA[1:3]


def test_memory_stays_flat_for_a_large_file(tmp_path: Path) -> None:
    """A sparse 8 GiB file goes out in chunks of at most 64 KiB, never read whole."""
    path = tmp_path / "big.wav"
    with path.open("wb") as file:
        file.truncate(8 << 30)
    app, sizes = create_app(path), []
    headers = [(b"range", b"bytes=4294967296-4299999999")]
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/clip",
        "headers": headers,
        "query_string": b"",
        "asgi": {"spec_version": "2.4"},
    }

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            sizes.append(len(message["body"]))

    anyio.run(app, scope, receive, send)
    assert sum(sizes) == 4299999999 - 4294967296 + 1
    assert max(sizes) <= 64 * 1024


# Valid headers, half of them then spoiled in one place: many examples reach 206 and 416.
positions = st.one_of(
    st.integers(min_value=0, max_value=SIZE + 3),
    st.sampled_from([0, 1, SIZE - 1, SIZE, SIZE + 1, 10**30]),
)
lengths = st.one_of(st.integers(min_value=0, max_value=5000), st.integers(0, SIZE))
spaces = st.sampled_from(["", " ", "\t", " \t "])


@st.composite
def valid_range_specs(draw: st.DrawFn) -> str:
    first, pad = draw(positions), draw(spaces)
    last = first + draw(lengths)
    near_end = max(SIZE - draw(lengths), 0) if draw(st.booleans()) else draw(positions)
    suffix = draw(st.one_of(lengths, st.sampled_from([0, SIZE, SIZE + 1, 10**30])))
    forms = [f"{first}-{last}", f"{near_end}-", f"-{suffix}", f"{pad}{first}-{last}{pad}"]
    return draw(st.sampled_from(forms))


spoilers = st.sampled_from(
    ["unit:items", "unit:bytes ", "unit: bytes", "unit:", "equals:", "equals: = ", "equals:=="]
    + ["spec:a-b", "spec:1-2-3", "spec:+1-", "spec:-+5", "spec:1_0-20", "spec:0x1-", "spec:-"]
    + ["spec:-3-5", "spec:5-4", "spec:1 -2", "spec:1- 2", "spec:bytes=1-2"]
)


@st.composite
def range_headers(draw: st.DrawFn) -> str:
    unit, equals = "bytes", "="
    specs = draw(st.lists(valid_range_specs(), min_size=1, max_size=6))
    separator = draw(st.sampled_from([",", ", ", " ,", ",,", "\t,"]))
    if draw(st.booleans()):
        where, _, spoiled = draw(spoilers).partition(":")
        if where == "spec":
            specs.insert(draw(st.integers(0, len(specs))), spoiled)
        unit, equals = (
            (spoiled, equals)
            if where == "unit"
            else (unit, spoiled)
            if where == "equals"
            else (unit, equals)
        )
    return unit + equals + separator.join(specs)


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
)
range_like_text = st.text(st.sampled_from("0123456789" * 4 + "--,, \t"), max_size=30)
if_range_values = st.one_of(
    st.sampled_from(
        [QUOTED_ETAG, f"W/{QUOTED_ETAG}", '"other"', LAST_MODIFIED, LAST_MODIFIED_RFC850]
        + [formatdate(MTIME + 1, usegmt=True), ETAG]
    ),
    header_text,
)


@FUZZ
@given(value=range_headers())
def test_fuzzed_range_specs_follow_the_rules(client: Target, value: str) -> None:
    check_rules(get(client, range=value))


@FUZZ
@given(value=st.one_of(header_text, st.one_of(header_text, range_like_text).map("bytes=".__add__)))
def test_fuzzed_range_text_follows_the_rules_and_head_matches_get(
    client: Target, value: str
) -> None:
    response = get(client, range=value.encode("latin-1"))
    check_rules(response)
    head = get(client, "HEAD", range=value.encode("latin-1"))
    assert head.status_code == response.status_code
    assert head.content == b""
    for name in ("content-length", "content-range", "etag", "last-modified"):
        assert head.headers.get(name) == response.headers.get(name)


@FUZZ
@given(value=range_headers(), if_range=if_range_values)
def test_fuzzed_if_range_sends_ranges_only_when_it_matches(
    client: Target, value: str, if_range: str
) -> None:
    response = get(client, range=value, if_range=if_range.encode("latin-1"))
    check_rules(response)
    if if_range.strip(" \t") in (QUOTED_ETAG, LAST_MODIFIED, LAST_MODIFIED_RFC850):
        without = get(client, range=value)
        assert response.status_code == without.status_code
        assert response.headers.get("content-range") == without.headers.get("content-range")
    else:
        assert response.status_code == 200


SAME_HEADER_CASES = [
    ("GET", {}),
    ("HEAD", {}),
    ("GET", {"range": "bytes=100-65635"}),
    ("HEAD", {"range": "bytes=-500"}),
    ("GET", {"range": "bytes=0-9,100-109"}),
    ("GET", {"range": f"bytes={SIZE}-"}),
    ("GET", {"range": "bytes=5-4"}),
    ("GET", {"if-none-match": QUOTED_ETAG}),
    ("GET", {"if-modified-since": LAST_MODIFIED}),
    ("GET", {"if-match": '"other"'}),
    ("GET", {"range": "bytes=0-9", "if-range": '"other"'}),
]


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
    body = response.content
    kind, _, boundary = headers.get("content-type", "").partition("; boundary=")
    if boundary:  # random per response
        headers["content-type"] = kind
        body = body.replace(boundary.encode(), b"BOUNDARY")
    return response.status_code, headers, body


@pytest.fixture(scope="module")
def route(library: tuple[Path, str]) -> Iterator[Target]:
    """amps' route alone (no fast path): the reference every other mode must match."""
    media_dir, media_id = library
    settings = Settings(media_dir=media_dir, stream_cache_seconds=0)
    with TestClient(create_amps(settings)) as test_client:
        yield Target(test_client, f"/media/{media_id}/stream")


@pytest.mark.parametrize("client", ["fastpath", "uvicorn", "granian", "nginx"], indirect=True)
@pytest.mark.parametrize(("method", "headers"), SAME_HEADER_CASES)
def test_every_mode_answers_as_the_route_does(
    client: Target, route: Target, method: str, headers: dict[str, str]
) -> None:
    assert comparable(client.request(method, headers=headers)) == comparable(
        route.request(method, headers=headers)
    )


@pytest.mark.parametrize(
    ("headers", "redirected"),
    [
        ({}, True),
        ({"range": "bytes=0-9"}, True),
        ({"range": "bytes=1000-"}, True),
        ({"range": "bytes=-10"}, False),  # suffix: nginx's rules are not checked to match
        ({"range": "bytes=0-9,20-29"}, False),
        ({"range": "bytes = 0-9"}, False),
        ({"range": "bytes=0-9", "if-range": QUOTED_ETAG}, False),
        ({"if-none-match": '"other"'}, False),
        ({"range": f"bytes={SIZE}-"}, False),  # 416, from amps
    ],
)
def test_behind_nginx_amps_hands_plain_gets_and_simple_ranges_to_nginx(
    library: tuple[Path, str], headers: dict[str, str], redirected: bool
) -> None:
    media_dir, media_id = library
    settings = Settings(media_dir=media_dir, accel_redirect=ACCEL_PREFIX)
    with TestClient(create_amps(settings)) as test_client:
        response = test_client.get(f"/media/{media_id}/stream", headers=headers)
    stored = next(p for p in media_dir.rglob("original.*")).relative_to(media_dir)
    if redirected:
        assert response.status_code == 200  # nginx sets its own status, length and range
        assert response.headers["x-accel-redirect"] == ACCEL_PREFIX + stored.as_posix()
        assert response.content == b"" and response.headers["content-length"] == "0"
        assert "content-range" not in response.headers
    else:
        assert "x-accel-redirect" not in response.headers
        assert int(response.headers["content-length"]) == len(response.content)
