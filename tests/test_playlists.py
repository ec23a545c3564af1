"""Playlists: the API (create, list, read, edit, delete, the write rule), clips deleted from the
library dropping out, the watch and embed pages and oEmbed. Short clips made by ffmpeg."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import wait_processed
from tests.media import ffmpeg

TITLE = 'Part <b>one</b> & "more"'


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("playlist-media") / "short.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10:duration=3",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-shortest", "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module, as a loopback client (tests make their own playlists)."""
    # Made before the autouse fixture that turns automatic captions off: off here too.
    media_dir = tmp_path_factory.mktemp("playlists") / "media"
    settings = Settings(media_dir=media_dir, automatic_captions=False)
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def upload(client: TestClient, path: Path, title: str) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post(
            "/api/media", files={"file": ("c.mp4", handle)}, data={"title": title}
        )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


@pytest.fixture(scope="module")
def clips(client: TestClient, short_clip: Path) -> list[dict[str, Any]]:
    made = [upload(client, short_clip, title) for title in (TITLE, "Part two", "Part three")]
    return [wait_processed(client, clip["id"]) for clip in made]


def make(client: TestClient, ids: list[str], **fields: str) -> dict[str, Any]:
    response = client.post("/api/playlists", json={"title": "Season", "media_ids": ids, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == body["urls"]["api"]
    return body


def test_create_and_read(client: TestClient, clips: list[dict[str, Any]]) -> None:
    ids = [c["id"] for c in clips]
    made = make(client, [ids[2], ids[0], ids[2]], description="Three parts")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", made["id"])
    assert made["media_ids"] == [ids[2], ids[0], ids[2]]  # in order, a clip may come twice
    assert [i["index"] for i in made["items"]] == [0, 1, 2]
    assert made["items"][1]["title"] == TITLE and made["items"][1]["duration_text"] == "0:03"
    assert made["duration_text"] == "0:09"
    assert made["urls"]["watch"].endswith(f"/playlists/{made['id']}")
    assert made["urls"]["embed"].endswith(f"/embed/playlist/{made['id']}")
    got = client.get(made["urls"]["api"])
    assert got.status_code == 200 and got.json() == made


def test_unknown_clip_ids_are_named(client: TestClient, clips: list[dict[str, Any]]) -> None:
    before = client.get("/api/playlists").json()["total"]
    missing = "A" * 22
    response = client.post(
        "/api/playlists",
        json={"title": "Bad", "media_ids": [clips[0]["id"], missing, "../etc", missing]},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == "media_ids"
    assert f"{missing}, ../etc." in problem["detail"] and clips[0]["id"] not in problem["detail"]
    assert client.get("/api/playlists").json()["total"] == before  # nothing kept


@pytest.mark.parametrize(
    "body",
    [{}, {"title": ""}, {"title": "x", "media_ids": "abc"}, {"title": "x", "colour": "red"}],
)
def test_bad_bodies_are_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/playlists", json=body)
    assert response.status_code == 422 and response.json()["detail"].startswith("The request")


def test_control_characters_are_refused(client: TestClient, clips: list[dict[str, Any]]) -> None:
    response = client.post("/api/playlists", json={"title": "A\u0000B"})
    assert response.status_code == 422 and response.json()["field"] == "title"
    made = make(client, [clips[0]["id"]])
    bad = client.patch(made["urls"]["api"], json={"description": "x\u0007"})
    assert bad.status_code == 422 and bad.json()["field"] == "description"
    nul = client.post("/api/playlists", json={"title": "T", "media_ids": ["A\u0000" * 8]})
    assert nul.status_code == 422 and nul.json()["field"] == "media_ids"


def test_list_is_paged_newest_first(client: TestClient, clips: list[dict[str, Any]]) -> None:
    made = [make(client, [clips[0]["id"]], title=f"List {n}")["id"] for n in range(3)]
    first = client.get("/api/playlists", params={"limit": 2}).json()
    assert [p["id"] for p in first["items"]] == made[::-1][:2]
    second = client.get(first["next"]).json()
    assert second["items"][0]["id"] == made[0] and second["offset"] == 2
    assert client.get("/api/playlists", params={"cursor": "nonsense"}).status_code == 422


def test_patch_changes_title_and_order(client: TestClient, clips: list[dict[str, Any]]) -> None:
    ids = [c["id"] for c in clips]
    made = make(client, ids)
    url = made["urls"]["api"]
    changed = client.patch(url, json={"title": "Renamed", "media_ids": ids[::-1]}).json()
    assert changed["title"] == "Renamed" and changed["media_ids"] == ids[::-1]
    assert changed["description"] == ""
    bad = client.patch(url, json={"media_ids": [ids[0], "B" * 22]})
    assert bad.status_code == 422 and "B" * 22 in bad.json()["detail"]
    assert client.get(url).json()["media_ids"] == ids[::-1]  # the refused change left it be
    assert client.patch(url, json={"title": None}).status_code == 422
    assert client.patch("/api/playlists/" + "C" * 22, json={"title": "x"}).status_code == 404


def test_delete(client: TestClient, clips: list[dict[str, Any]]) -> None:
    made = make(client, [clips[0]["id"]])
    assert client.delete(made["urls"]["api"]).status_code == 204
    assert client.get(made["urls"]["api"]).status_code == 404
    assert client.delete(made["urls"]["api"]).status_code == 404
    assert client.get(f"/api/media/{clips[0]['id']}").status_code == 200  # the clip stays


def test_a_deleted_clip_drops_out(
    client: TestClient, clips: list[dict[str, Any]], short_clip: Path
) -> None:
    doomed = upload(client, short_clip, "Doomed")
    made = make(client, [clips[0]["id"], doomed["id"], clips[1]["id"], doomed["id"]])
    alone = make(client, [doomed["id"]])
    assert client.delete(f"/api/media/{doomed['id']}").status_code == 204
    assert client.get(made["urls"]["api"]).json()["media_ids"] == [clips[0]["id"], clips[1]["id"]]
    page = client.get(made["urls"]["watch"], params={"item": 2})
    assert page.status_code == 200 and doomed["id"] not in page.text
    items = re.findall(r"<li><a [^>]*>", page.text)
    assert len(items) == 2 and 'aria-current="true"' in items[1] and clips[1]["id"] in items[1]
    empty = client.get(alone["urls"]["watch"])
    assert empty.status_code == 200 and client.get(alone["urls"]["api"]).json()["items"] == []
    assert "No media source currently available" in empty.text
    assert "This playlist has no clips." in empty.text


def test_a_private_clip_is_left_out_for_readers(
    client: TestClient, clips: list[dict[str, Any]], short_clip: Path
) -> None:
    secret = upload(client, short_clip, "Secret part")
    made = make(client, [clips[0]["id"], secret["id"]])
    assert made["media_ids"] == [clips[0]["id"], secret["id"]]  # public while it was
    changed = client.patch(secret["urls"]["api"], json={"visibility": "private"})
    assert changed.status_code == 200, changed.text
    assert client.get(made["urls"]["api"]).json()["media_ids"] == [clips[0]["id"]]
    for url in (made["urls"]["watch"], made["urls"]["embed"]):
        page = client.get(url, params={"item": 2})
        assert secret["id"] not in page.text and "Secret part" not in page.text
    client.patch(secret["urls"]["api"], json={"visibility": "public"})
    assert client.get(made["urls"]["api"]).json()["media_ids"] == [clips[0]["id"], secret["id"]]


def test_writes_follow_the_write_rule(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "media", api_token="s3cret")
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as app:
        body = {"title": "T"}
        assert app.post("/api/playlists", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert app.post("/api/playlists", json=body, headers=wrong).status_code == 403
        token = {"Authorization": "Bearer s3cret"}
        made = app.post("/api/playlists", json=body, headers=token).json()
        cross = {**token, "Origin": "https://elsewhere.example"}
        url = made["urls"]["api"]
        assert app.patch(url, json=body, headers=cross).status_code == 403
        assert app.delete(url, headers=cross).status_code == 403
        assert app.delete(url).status_code == 401
        assert app.get(url).status_code == 200  # reads are public
        assert app.delete(url, headers=token).status_code == 204


def test_no_token_means_loopback_only(client: TestClient) -> None:
    remote = TestClient(client.app, client=("203.0.113.9", 50000))
    assert remote.post("/api/playlists", json={"title": "T"}).status_code == 403
    assert remote.get("/api/playlists").status_code == 200


def test_pages_render_escaped(client: TestClient, clips: list[dict[str, Any]]) -> None:
    made = make(client, [c["id"] for c in clips], title=TITLE, description="<i>x</i>")
    for url in (made["urls"]["watch"], made["urls"]["embed"]):
        page = client.get(url, params={"item": 2})
        assert page.status_code == 200
        html = page.text
        assert "<b>one</b>" not in html and "<i>x</i>" not in html
        assert "Part &lt;b&gt;one&lt;/b&gt; &amp; &#34;more&#34;" in html
        items = re.findall(r"<li><a [^>]*>", html)
        assert len(items) == 3 and sum('aria-current="true"' in i for i in items) == 1
        assert 'aria-current="true"' in items[1]  # item=2 counts from 1
        for clip, item in zip(clips, items, strict=True):
            assert f'href="{clip["urls"]["watch"]}"' in item  # without JS: the clip's page
        assert '<time datetime="PT3S">0:03</time>' in html
        assert f'src="{clips[1]["urls"]["playable"]}"' in html  # the player plays the second
        assert "Clip 2 of 3" in html
    assert client.get("/playlists/" + "D" * 22).status_code == 404
    assert client.get("/embed/playlist/nope").status_code == 404


def test_oembed_for_a_playlist(client: TestClient, clips: list[dict[str, Any]]) -> None:
    made = make(client, [c["id"] for c in clips], title=TITLE)
    for url in (made["urls"]["watch"], made["urls"]["embed"]):
        body = client.get("/oembed", params={"url": url, "format": "json"}).json()
        assert body["type"] == "video" and body["title"] == TITLE
        assert f'src="{made["urls"]["embed"]}"' in body["html"]
        assert 'title="Part &lt;b&gt;one&lt;/b&gt; &amp; &quot;more&quot;"' in body["html"]
        assert body["width"] == 640 and body["height"] > 360  # room for the list
        assert body["thumbnail_url"] == clips[0]["urls"]["poster"]
    small = client.get("/oembed", params={"url": made["urls"]["watch"], "maxwidth": 320}).json()
    assert small["width"] == 320 and f'width="320" height="{small["height"]}"' in small["html"]
    page = client.get(made["urls"]["watch"]).text
    assert (
        'type="application/json+oembed"' in page
        and made["urls"]["oembed"].replace("&", "&amp;") in page
    )
    gone = made["urls"]["watch"].replace(made["id"], "E" * 22)
    assert client.get("/oembed", params={"url": gone}).status_code == 404


def test_catalog_cascade_on_both_backends(database_url: str | None, tmp_path: Path) -> None:
    """A clip's deletion removes its places by the database's own cascade (SQLite, PostgreSQL);
    a failed write (an unknown clip) leaves the playlist as it was."""
    from app.catalog.database import Catalog
    from app.catalog.playlists import Playlists, UnknownClips
    from tests.test_catalog import make_media

    catalog = Catalog(database_url or f"sqlite:///{tmp_path / 'amps.sqlite3'}")
    catalog.migrate()
    try:
        a, b = catalog.add(make_media(title="A")), catalog.add(make_media(title="B"))
        playlists = Playlists(catalog)
        made = playlists.create("P", "", [a.id, b.id, a.id])
        with pytest.raises(UnknownClips) as refused:
            playlists.update(made.id, [b.id, "nope"], title="Q")
        assert refused.value.ids == ["nope"]
        with pytest.raises(UnknownClips):  # never sent to the database (PostgreSQL: NUL)
            playlists.create("N", "", [a.id, "A\x00" * 8])
        kept = playlists.get(made.id)
        assert kept is not None and kept.title == "P"
        assert [i.media_id for i in kept.items] == [a.id, b.id, a.id]
        catalog.delete(a.id)
        left = playlists.get(made.id)
        assert left is not None and [i.media.title for i in left.items] == ["B"]
        assert playlists.delete(made.id) and catalog.get(b.id) is not None
    finally:
        catalog.dispose()
