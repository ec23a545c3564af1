"""Embedding a clip elsewhere: iframe sizes and code, shared by oEmbed and the watch page."""

from html import escape

from app.catalog.models import Media

DEFAULT_WIDTH = 640
AUDIO_HEIGHT = 200
POSTER_MAX_WIDTH = 1280  # app.posters renders stills at most this wide
WAVEFORM = (1280, 360)


def frame_size(media: Media, maxwidth: int | None, maxheight: int | None) -> tuple[int, int]:
    """The iframe's size: 640 wide by default, the clip's aspect, within the max sizes."""
    width = min(DEFAULT_WIDTH, maxwidth or DEFAULT_WIDTH)
    if media.kind == "audio" or not (media.width and media.height):
        return width, min(AUDIO_HEIGHT, maxheight or AUDIO_HEIGHT)
    aspect = media.width / media.height
    height = round(width / aspect)
    if maxheight and height > maxheight:
        height, width = maxheight, max(1, round(maxheight * aspect))
    return width, height


def thumbnail_size(media: Media) -> tuple[int, int]:
    if media.kind == "audio" or not (media.width and media.height):
        return WAVEFORM
    width = min(POSTER_MAX_WIDTH, media.width)
    return width, round(width * media.height / media.width)


def iframe(src: str, title: str, width: int, height: int) -> str:
    return (
        f'<iframe src="{escape(src)}" title="{escape(title)}" width="{width}" height="{height}" '
        'allow="autoplay; fullscreen; picture-in-picture; encrypted-media" allowfullscreen '
        'loading="lazy" style="border:0"></iframe>'
    )
