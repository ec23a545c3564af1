"""A player page opened with a signed URL: every URL the page and its player then ask for
(stream, playable copy, poster, tracks, versions, download) carries the same signature's
expiry, signed again for that clip (app.api.access decides who may read a clip)."""

from collections.abc import Callable
from dataclasses import replace

from app.api.access import signed_record_urls
from app.web.player_view import PlayerView


def sign_view(view: PlayerView, sign: Callable[[str], str]) -> PlayerView:
    """The view with each of its clip's URLs signed."""
    if view.media is None:
        return view
    view.urls = signed_record_urls(view.urls, sign)
    view.tracks = [replace(track, url=sign(track.url)) for track in view.tracks]
    view.versions = {role: sign(url) for role, url in view.versions.items()}
    return view
