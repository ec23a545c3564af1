"""Server-rendered pages without JavaScript: what every reader gets before any script runs."""

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from tests.conftest import stored_files, wait_processed

NO_MEDIA = "No media source currently available"


@pytest.fixture
def clip(client: TestClient, media_files: dict[str, Path]) -> dict[str, str]:
    with media_files["video.mp4"].open("rb") as handle:
        record = client.post(
            "/api/media",
            files={"file": ("v.mp4", handle)},
            data={"title": "Budget <b>debate</b> & vote", "description": "First.\n\nSecond."},
        ).json()
    assert wait_processed(client, record["id"])["status"] == "ready"
    vtt = "WEBVTT\n\n00:00.000 --> 00:05.000\nHello <script>alert(1)</script>\n\n"
    vtt += "01:05.000 --> 01:10.000\nSecond line\n"
    response = client.post(
        f"/api/media/{record['id']}/tracks",
        files={"file": ("en.vtt", vtt.encode())},
        data={"kind": "captions", "srclang": "en", "label": "English"},
    )
    assert response.status_code == 201, response.text
    return record


def test_watch_page_shows_duration_before_any_media_loads(
    client: TestClient, clip: dict[str, str]
) -> None:
    html = client.get(f"/media/{clip['id']}").text
    assert '<time class="amps-duration" datetime="PT3M25S">3:25</time>' in html
    assert re.search(r'<time class="amps-elapsed" datetime="PT0S">0:00</time>', html)


def test_watch_page_works_without_javascript(client: TestClient, clip: dict[str, str]) -> None:
    html = client.get(f"/media/{clip['id']}").text
    assert re.search(r"<video [^>]*controls", html)
    assert f'src="{clip["urls"]["stream"]}"' in html
    assert re.search(
        r'<track [^>]*kind="captions" src="[^"]+\.vtt" srclang="en" label="English"', html
    )
    assert f'href="{clip["urls"]["download"]}"' in html
    assert 'class="amps-cue"' in html and "Second line" in html


def test_watch_page_has_skip_links_heading_and_description(
    client: TestClient, clip: dict[str, str]
) -> None:
    html = client.get(f"/media/{clip['id']}").text
    assert 'href="#amps-player">Skip to player' in html
    assert 'href="#amps-transcript">Skip to transcript' in html
    assert '<h1 dir="auto">Budget &lt;b&gt;debate&lt;/b&gt; &amp; vote</h1>' in html
    assert "<p>First.</p>" in html and "<p>Second.</p>" in html


def test_titles_and_cue_text_are_escaped(client: TestClient, clip: dict[str, str]) -> None:
    for path in (f"/media/{clip['id']}", f"/embed/{clip['id']}"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<b>debate" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_transcript_lines_link_to_their_time(client: TestClient, clip: dict[str, str]) -> None:
    html = client.get(f"/media/{clip['id']}").text
    assert 'href="?t=65.0#amps-player"' in html
    assert '<time datetime="PT1M5S">1:05</time>' in html


def test_start_parameter_sets_the_media_fragment(client: TestClient, clip: dict[str, str]) -> None:
    html = client.get(f"/embed/{clip['id']}", params={"start": "1:05"}).text
    assert f'src="{clip["urls"]["stream"]}#t=65.0"' in html
    assert 'datetime="PT1M5S">1:05</time>' in html


def test_embed_is_the_player_alone_titled_by_the_clip(
    client: TestClient, clip: dict[str, str]
) -> None:
    html = client.get(f"/embed/{clip['id']}").text
    assert "<title>Budget &lt;b&gt;debate&lt;/b&gt; &amp; vote</title>" in html
    assert '<header class="amps-site"' not in html and 'class="amps-skip"' not in html


def test_autoplay_is_always_muted(client: TestClient, clip: dict[str, str]) -> None:
    """The script starts it (tests/browser/test_player.py): an autoplay attribute would
    make the browser fetch the page's <source> before the script chooses a rendition."""
    html = client.get(f"/embed/{clip['id']}", params={"autoplay": "1"}).text
    video = html.split("<video")[1].split(">")[0]
    assert re.search(r"\bmuted\b", video) and "autoplay" not in video
    assert 'data-autoplay="1"' in html
    assert 'data-autoplay="0"' in client.get(f"/embed/{clip['id']}").text


def test_pages_are_gzipped_for_clients_that_take_it(
    client: TestClient, clip: dict[str, str]
) -> None:
    """As a CDN serves them: an embed's HTML is mostly text (about a third gzipped)."""
    for page in (f"/embed/{clip['id']}", f"/media/{clip['id']}"):
        plain = client.get(page, headers={"Accept-Encoding": "identity"})
        zipped = client.get(page, headers={"Accept-Encoding": "br, gzip;q=0.8"})
        assert "content-encoding" not in plain.headers
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.text == plain.text  # the client decoded it
        assert int(zipped.headers["content-length"]) < len(plain.content) / 2
        assert zipped.headers["vary"] == "Accept-Language, Accept-Encoding"
        assert zipped.headers["etag"] == plain.headers["etag"]
        refused = client.get(page, headers={"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers
        again = client.get(page, headers={"If-None-Match": zipped.headers["etag"]})
        assert again.status_code == 304


def test_players_show_the_small_poster_first(client: TestClient, clip: dict[str, str]) -> None:
    """The small still in the page (quick on a slow link), the full one for the script."""
    for page in (f"/embed/{clip['id']}", f"/media/{clip['id']}"):
        video = client.get(page).text.split("<video")[1].split(">")[0]
        assert f'poster="http://testserver/media/{clip["id"]}/poster?size=small"' in video
        assert f'data-full-poster="http://testserver/media/{clip["id"]}/poster"' in video


def test_captions_parameter_turns_a_track_on(client: TestClient, clip: dict[str, str]) -> None:
    html = client.get(f"/embed/{clip['id']}", params={"captions": "en"}).text
    assert re.search(r'<track [^>]*kind="captions"[^>]* default>', html)


def test_unknown_clip_is_404_with_the_no_media_message(client: TestClient) -> None:
    for path in ("/media/AAAAAAAAAAAAAAAAAAAAAA", "/embed/nope", "/media/..%2F..%2Fetc"):
        response = client.get(path, headers={"Accept": "text/html,*/*;q=0.8"})
        assert response.status_code == 404
        assert NO_MEDIA in response.text and 'role="alert"' in response.text
        assert response.headers["content-type"].startswith("text/html")


def test_vanished_file_shows_no_media_but_keeps_the_transcript(
    client: TestClient, settings: Settings, clip: dict[str, str]
) -> None:
    for path in stored_files(settings.media_dir):
        if path.suffix == ".mp4":
            path.unlink()
    html = client.get(f"/media/{clip['id']}").text
    assert NO_MEDIA in html and "<video" not in html
    assert "Second line" in html


@pytest.mark.parametrize(
    ("query", "headers", "lang", "direction", "play"),
    [
        ({"lang": "ar"}, {}, "ar", "rtl", "تشغيل"),
        ({}, {"Accept-Language": "fr, es;q=0.8, en;q=0.5"}, "es", "ltr", "Reproducir"),
        ({"lang": "uk"}, {"Accept-Language": "es"}, "uk", "ltr", "Відтворити"),
        ({"lang": "zz"}, {}, "en", "ltr", "Play"),
    ],
)
def test_language_comes_from_lang_then_accept_language(
    client: TestClient,
    clip: dict[str, str],
    query: dict[str, str],
    headers: dict[str, str],
    lang: str,
    direction: str,
    play: str,
) -> None:
    html = client.get(f"/embed/{clip['id']}", params=query, headers=headers).text
    assert f'<html lang="{lang}" dir="{direction}">' in html
    assert f'<span class="amps-label">{play}</span>' in html


def test_seek_slider_speaks_time_before_metadata(client: TestClient, clip: dict[str, str]) -> None:
    html = client.get(f"/embed/{clip['id']}", params={"t": "65"}).text
    assert 'aria-valuetext="1 minute 5 seconds of 3 minutes 25 seconds"' in html


def test_library_page_lists_clips(client: TestClient, clip: dict[str, str]) -> None:
    html = client.get("/").text
    assert f'href="{clip["urls"]["watch"]}"' in html and "3:25" in html


def test_static_assets_are_hashed_gzipped_and_immutable(
    client: TestClient, clip: dict[str, str]
) -> None:
    html = client.get(f"/embed/{clip['id']}").text
    css = re.search(r'href="(/static/[0-9a-f]{12}/player\.css)"', html)
    assert css
    response = client.get(css[1], headers={"Accept-Encoding": "gzip"})
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("text/css")
    again = client.get(css[1], headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    raw = client.get(css[1], headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == raw.content  # httpx decompressed it
    assert client.get("/static/000000000000/nothing.js").status_code == 404
