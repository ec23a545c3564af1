"""A fragmented MP4's one global index (`sidx`, ISO/IEC 14496-12 8.16.3) read into byte
ranges: the init data is every byte before the first fragment (ftyp, moov and the sidx
itself), and the fragments run on from it without a gap."""

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

HEADER_LIMIT = 16 * 1024 * 1024  # ftyp + moov + sidx are a few KB; never read past this


class NoIndex(Exception):
    """The file has no global index we can read."""


@dataclass(frozen=True)
class Segment:
    offset: int
    size: int
    duration: float  # seconds


@dataclass(frozen=True)
class Index:
    init_size: int  # bytes 0..init_size-1: ftyp, moov, sidx
    segments: tuple[Segment, ...]

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def peak_bitrate(self) -> int:
        """Bits per second of the busiest segment (what HLS calls BANDWIDTH)."""
        return max(round(s.size * 8 / s.duration) for s in self.segments if s.duration > 0)


def read_index(path: Path) -> Index:
    with path.open("rb") as file:
        return _read(file)


def _read(file: BinaryIO) -> Index:
    offset = 0
    while offset < HEADER_LIMIT:
        file.seek(offset)
        header = file.read(16)
        if len(header) < 8:
            break
        size, kind = struct.unpack(">I4s", header[:8])
        body = 8
        if size == 1:
            size, body = struct.unpack(">Q", header[8:16])[0], 16
        if size < body:
            break  # 0 ("to the end") or damaged: no sidx before the media
        if kind == b"sidx":
            file.seek(offset + body)
            return _parse_sidx(file.read(size - body), offset + size)
        if kind in (b"moof", b"mdat"):
            break
        offset += size
    raise NoIndex("no global sidx before the first fragment")


def _parse_sidx(box: bytes, end: int) -> Index:
    try:
        version = box[0]
        timescale = struct.unpack_from(">I", box, 8)[0]
        if version == 0:
            first_offset = struct.unpack_from(">I", box, 16)[0]
            at = 20
        else:
            first_offset = struct.unpack_from(">Q", box, 20)[0]
            at = 28
        count = struct.unpack_from(">H", box, at + 2)[0]
        at += 4
        position = end + first_offset
        segments = []
        for _ in range(count):
            reference, duration, _sap = struct.unpack_from(">III", box, at)
            at += 12
            if reference >> 31:
                raise NoIndex("the sidx points at other sidx boxes")
            size = reference & 0x7FFFFFFF
            segments.append(Segment(position, size, duration / timescale))
            position += size
    except struct.error as exc:
        raise NoIndex("the sidx box is cut short") from exc
    if not segments or not timescale:
        raise NoIndex("the sidx box lists no fragments")
    return Index(end + first_offset, tuple(segments))
