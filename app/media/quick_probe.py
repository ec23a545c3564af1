"""What `amps import` learns about an audio file without starting ffprobe: mutagen's reading
of MP3, FLAC, Ogg Vorbis/Opus, WAV and M4A, trusted only when cheap checks in Python show
the file whole (an MP3's Xing byte count, a FLAC's last frame, an Ogg's final page, the RIFF
and MP4 box sizes against the file's size).

None means "ask ffprobe": anything unusual, any video, any check that fails. The full probe
then decides, refusals included, exactly as for an upload (uploads always take it).
"""

import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
from mutagen.mp3 import MP3, BitrateMode
from mutagen.mp3._util import XingHeader, XingHeaderError
from mutagen.mp4 import MP4, MP4StreamInfoError
from mutagen.mp4._atom import Atoms
from mutagen.wave import WAVE

from app.media.probe import TAG_KEYS, ProbeResult, is_short_text, ogg_ends_whole, open_regular

# (container, mime type, extension) as app.probe names them for an audio-only file.
MP3_TYPE = ("mp3", "audio/mpeg", ".mp3")
FLAC_TYPE = ("flac", "audio/flac", ".flac")
WAV_TYPE = ("wav", "audio/wav", ".wav")
M4A_TYPE = ("mp4", "audio/mp4", ".m4a")
PCM_CODECS = {
    (1, 8): "pcm_u8", (1, 16): "pcm_s16le", (1, 24): "pcm_s24le", (1, 32): "pcm_s32le",
    (3, 32): "pcm_f32le", (3, 64): "pcm_f64le",
}  # fmt: skip
ID3_NAMES = {
    "TIT2": "title", "TPE1": "artist", "TALB": "album", "TPE2": "album_artist",
    "TCOM": "composer", "TDRC": "date", "TCON": "genre", "TRCK": "track", "TPOS": "disc",
    "COMM": "comment", "TCOP": "copyright", "TPUB": "publisher",
}  # fmt: skip
MP4_NAMES = {
    "©nam": "title", "©ART": "artist", "©alb": "album", "aART": "album_artist",
    "©wrt": "composer", "©day": "date", "©gen": "genre", "©cmt": "comment",
    "cprt": "copyright", "desc": "description",
}  # fmt: skip
FLAC_TAIL = 65536  # holds the last frame of any FLAC a common encoder writes

Described = tuple[tuple[str, str, str], str]  # (container, mime type, extension), codec
Check = Callable[[Any, BinaryIO, int], Described | None]


def quick_probe(path: Path) -> ProbeResult | None:
    """The probe result of a whole, common audio file, or None when ffprobe must decide."""
    with open_regular(path) as file:
        size = file.seek(0, 2)
        file.seek(0)
        try:
            found = mutagen.File(file)
        except Exception:  # mutagen raises many kinds on what it cannot read
            return None
        check = CHECKS.get(type(found).__name__)
        length = float(getattr(getattr(found, "info", None), "length", 0) or 0)
        if check is None or not (math.isfinite(length) and length > 0):
            return None
        try:
            described = check(found, file, size)
        except (OSError, ValueError, struct.error, MP4StreamInfoError):
            return None
    if described is None:
        return None
    (container, mime_type, extension), codec = described
    return ProbeResult(
        kind="audio", mime_type=mime_type, extension=extension, container=container,
        duration=round(length, 3), codecs=(codec,), video_codec=None, audio_codec=codec,
        width=None, height=None, bitrate=round(size * 8 / length), tags=tags_of(found),
        prober="mutagen",
    )  # fmt: skip


def _mp3(found: MP3, file: BinaryIO, size: int) -> Described | None:
    # Without a Xing/Info header only counting frames gives the length: ffprobe does that.
    info: Any = found.info
    if info.layer != 3 or info.bitrate_mode == BitrateMode.UNKNOWN:
        return None
    file.seek(info.frame_offset + XingHeader.get_offset(info))  # type: ignore[no-untyped-call]
    try:
        xing = XingHeader(file)  # type: ignore[no-untyped-call]
    except XingHeaderError:  # a VBRI header: rare enough for ffprobe
        return None
    file.seek(size - 128)
    end = size - 128 if file.read(3) == b"TAG" else size  # an ID3v1 tag after the audio
    if xing.frames <= 0 or xing.bytes != end - info.frame_offset:
        return None  # cut short, or something after the audio we do not know
    return MP3_TYPE, "mp3"


def _flac(found: Any, file: BinaryIO, size: int) -> Described | None:
    """Whole when the last frame's header (CRC-8 checked) ends at the stated total samples."""
    info = found.info
    if info.total_samples <= 0 or info.min_blocksize != info.max_blocksize:
        return None  # variable block sizes: rare, left to ffprobe
    start = max(0, size - max(FLAC_TAIL, 2 * info.max_framesize))
    file.seek(start)
    tail = file.read()
    at = len(tail)
    while (at := tail.rfind(b"\xff\xf8", 0, at)) >= 0:
        frame = _flac_frame(tail[at : at + 16])
        if frame is not None:
            number, block = frame
            return (
                (FLAC_TYPE, "flac")
                if number * info.max_blocksize + block == info.total_samples
                else None
            )
    return None


def _flac_frame(header: bytes) -> tuple[int, int] | None:
    """(frame number, block size) of a fixed-blocksize frame header, or None if it is not one."""
    if len(header) < 6 or header[3] & 1:
        return None
    code = header[2] >> 4
    number, at = _utf8_number(header, 4)
    if number is None or code == 0:
        return None
    if code == 6:
        block, at = header[at] + 1, at + 1
    elif code == 7:
        block, at = int.from_bytes(header[at : at + 2], "big") + 1, at + 2
    else:
        block = 192 if code == 1 else 576 << (code - 2) if code < 6 else 256 << (code - 8)
    rate = header[2] & 0xF
    at += {12: 1, 13: 2, 14: 2}.get(rate, 0)
    if rate == 15 or at >= len(header) or _crc8(header[:at]) != header[at]:
        return None
    return number, block


def _utf8_number(data: bytes, at: int) -> tuple[int | None, int]:
    first = data[at]
    if first < 0x80:
        return first, at + 1
    extra = next((n for n in range(1, 7) if first & (0x80 >> (n + 1)) == 0), 0)
    if not extra or first & 0x40 == 0 or at + extra >= len(data):
        return None, at
    value = first & (0x3F >> extra)
    for byte in data[at + 1 : at + 1 + extra]:
        if byte & 0xC0 != 0x80:
            return None, at
        value = value << 6 | byte & 0x3F
    return value, at + 1 + extra


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x07 if crc & 0x80 else crc << 1) & 0xFF
    return crc


def _ogg(codec: str, extension: str) -> Check:
    def check(found: Any, file: BinaryIO, size: int) -> Described | None:
        # One logical stream (no video beside it), ending in a whole end-of-stream page.
        file.seek(0)
        first = file.read(27)
        if len(first) < 27:
            return None
        next_page = 27 + first[26] + sum(file.read(first[26]))
        file.seek(next_page)
        second = file.read(6)
        if (
            second[:4] != b"OggS"
            or second[5] & 2
            or not ogg_ends_whole(file, size, found.info.serial)
        ):
            return None
        return ("ogg", "audio/ogg", extension), codec

    return check


def _wav(found: Any, file: BinaryIO, size: int) -> Described | None:
    """Whole when its chunks tile the file exactly as the RIFF header says."""
    codec = PCM_CODECS.get((found.info.audio_format, found.info.bits_per_sample))
    file.seek(0)
    head = file.read(12)
    if codec is None or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        return None
    if int.from_bytes(head[4:8], "little") + 8 != size:
        return None
    at, has_data = 12, False
    while at + 8 <= size:
        file.seek(at)
        chunk = file.read(8)
        has_data |= chunk[:4] == b"data"
        at += 8 + int.from_bytes(chunk[4:], "little")
        at += at % 2  # chunks are padded to even sizes
    return (WAV_TYPE, codec) if has_data and at == size else None


def _m4a(found: Any, file: BinaryIO, size: int) -> Described | None:
    """Whole when its top-level boxes tile the file; one track, and it is sound."""
    codec: str = found.info.codec
    name = "aac" if codec.startswith("mp4a.40.") else "alac" if codec == "alac" else None
    file.seek(0)
    kinds, at = [], 0
    while at < size:
        file.seek(at)
        head = file.read(16)
        length, kind = int.from_bytes(head[:4], "big"), head[4:8]
        if length == 1:
            length = int.from_bytes(head[8:16], "big")
        elif length == 0:
            length = size - at
        if length < 8:
            return None
        kinds.append(kind)
        at += length
    if name is None or at != size or kinds[0] != b"ftyp" or not {b"moov", b"mdat"} <= set(kinds):
        return None
    file.seek(8)
    if file.read(4) == b"qt  ":
        return None  # QuickTime: ffprobe names it
    file.seek(0)
    tracks = Atoms(file).path(b"moov")[-1].findall(b"trak")
    handlers = []
    for track in tracks:
        hdlr = next(track.findall(b"hdlr", recursive=True), None)
        if hdlr is None:
            return None
        file.seek(hdlr.offset + 16)
        handlers.append(file.read(4))
    return (M4A_TYPE, name) if handlers == [b"soun"] else None


CHECKS: dict[str, Check] = {
    "MP3": _mp3, "FLAC": _flac, "WAVE": _wav, "MP4": _m4a,
    "OggVorbis": _ogg("vorbis", ".ogg"), "OggOpus": _ogg("opus", ".opus"),
}  # fmt: skip


def tags_of(found: Any) -> dict[str, str]:
    """The tags app.probe keeps, under ffprobe's names, from ID3, Vorbis comments or MP4."""
    tags = found.tags
    if tags is None:
        return {}
    pairs: list[tuple[str, object]] = []
    if isinstance(found, MP3 | WAVE):
        pairs = [
            (ID3_NAMES.get(frame.FrameID, ""), getattr(frame, "text", ""))
            for frame in tags.values()
        ]
    elif isinstance(found, MP4):
        pairs = [(MP4_NAMES.get(key, ""), value) for key, value in tags.items()]
    else:
        pairs = [(key.lower(), value) for key, value in tags.items()]
    kept: dict[str, str] = {}
    for name, value in pairs:
        text = ";".join(map(str, value)) if isinstance(value, list) else str(value)
        if name in TAG_KEYS and name not in kept and is_short_text(text.strip()):
            kept[name] = text.strip()
    return kept
