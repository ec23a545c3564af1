"""HLS playlists (RFC 8216) over a clip's rendition ladder: byte-range media playlists of one
fragmented MP4 each (EXT-X-MAP and EXT-X-BYTERANGE from its index), and the master."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.media.sidx import Index

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


@dataclass(frozen=True)
class Variant:
    uri: str
    peak_bitrate: int
    average_bitrate: int
    width: int
    height: int
    codecs: str


def media_playlist(index: Index, uri: str) -> str:
    """An HLS VOD media playlist naming byte ranges of the one file at `uri`."""
    target = max(math.ceil(s.duration) for s in index.segments)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{index.init_size}@0"',
    ]
    for segment in index.segments:
        lines += [
            f"#EXTINF:{segment.duration:.5f},",
            f"#EXT-X-BYTERANGE:{segment.size}@{segment.offset}",
            uri,
        ]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(variants: Sequence[Variant]) -> str:
    """The master playlist: one EXT-X-STREAM-INF per video rendition, lowest first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in sorted(variants, key=lambda v: v.peak_bitrate):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.peak_bitrate},AVERAGE-BANDWIDTH={v.average_bitrate},"
            f'RESOLUTION={v.width}x{v.height},CODECS="{v.codecs}"'
        )
        lines.append(v.uri)
    return "\n".join(lines) + "\n"
