"""oEmbed provider, discovery and unfurl tags, and the security headers on pages."""

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app


@pytest.fixture
def video(client: TestClient, media_files: dict[str, Path]) -> dict[str, str]:
    with media_files["video.mp4"].open("rb") as handle:
        response = client.post(
            "/api/media", files={"file": ("v.mp4", handle)}, data={"title": 'Say "hi" <now>'}
        )
    return response.json()


@pytest.fixture
def audio(client: TestClient, media_files: dict[str, Path]) -> dict[str, str]:
    with media_files["cbr.mp3"].open("rb") as handle:
        return client.post("/api/media", files={"file": ("a.mp3", handle)}).json()


def oembed(client: TestClient, url: str, **params: object):  # type: ignore[no-untyped-def]
    return client.get("/oembed", params={"url": url, "format": "json", **params})


def test_oembed_for_a_watch_url(client: TestClient, video: dict[str, str]) -> None:
    body = oembed(client, video["urls"]["watch"]).json()
    assert body["type"] == "video" and body["version"] == "1.0"
    assert body["title"] == 'Say "hi" <now>' and body["provider_name"] == "amps"
    assert (body["width"], body["height"]) == (640, 360)
    assert f'src="{video["urls"]["embed"]}"' in body["html"]
    assert 'title="Say &quot;hi&quot; &lt;now&gt;"' in body["html"]
    assert 'allow="autoplay; fullscreen; picture-in-picture' in body["html"]
    assert body["thumbnail_url"] == video["urls"]["poster"]
    assert (body["thumbnail_width"], body["thumbnail_height"]) == (320, 180)


def test_oembed_for_an_embed_url_and_audio(client: TestClient, audio: dict[str, str]) -> None:
    body = oembed(client, audio["urls"]["embed"]).json()
    assert body["type"] == "rich" and body["height"] == 200


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"maxwidth": 320}, (320, 180)),
        ({"maxheight": 90}, (160, 90)),
        ({"maxwidth": 2000, "maxheight": 2000}, (640, 360)),
        ({"maxwidth": 400, "maxheight": 100}, (178, 100)),
    ],
)
def test_oembed_honours_max_sizes_with_the_aspect_ratio(
    client: TestClient, video: dict[str, str], params: dict[str, int], size: tuple[int, int]
) -> None:
    body = oembed(client, video["urls"]["watch"], **params).json()
    assert (body["width"], body["height"]) == size


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/media/AAAAAAAAAAAAAAAAAAAAAA",
        "http://testserver/media/AAAAAAAAAAAAAAAAAAAAAA",
        "http://testserver/api/media",
        "javascript:alert(1)",
        "",
    ],
)
def test_oembed_404_for_urls_that_are_not_our_clips(client: TestClient, url: str) -> None:
    response = oembed(client, url)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_oembed_xml_is_501(client: TestClient, video: dict[str, str]) -> None:
    response = client.get("/oembed", params={"url": video["urls"]["watch"], "format": "xml"})
    assert response.status_code == 501


def test_watch_page_has_discovery_and_unfurl_tags(
    client: TestClient, video: dict[str, str]
) -> None:
    html = client.get(video["urls"]["watch"]).text
    assert '<link rel="alternate" type="application/json+oembed"' in html
    assert f'<meta property="og:video" content="{video["urls"]["embed"]}">' in html
    assert '<meta name="twitter:card" content="player">' in html
    assert '<meta property="og:title" content="Say &#34;hi&#34; &lt;now&gt;">' in html


def test_embed_pages_may_be_framed_by_the_configured_origins(
    tmp_path: Path, video: dict[str, str]
) -> None:
    settings = Settings(media_dir=tmp_path / "m", embed_origins="https://news.example")
    with TestClient(create_app(settings)) as client:
        embed = client.get("/embed/AAAAAAAAAAAAAAAAAAAAAA").headers["content-security-policy"]
        watch = client.get("/").headers["content-security-policy"]
    assert "frame-ancestors https://news.example" in embed
    assert "frame-ancestors 'self'" in watch


def test_every_page_has_a_strict_policy(client: TestClient, video: dict[str, str]) -> None:
    for path in ("/", video["urls"]["watch"], video["urls"]["embed"]):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert headers["x-content-type-options"] == "nosniff"
    assert (
        "frame-ancestors *" in client.get(video["urls"]["embed"]).headers["content-security-policy"]
    )


def test_bad_embed_origins_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="embed_origins"):
        Settings(embed_origins="javascript:alert(1)")
