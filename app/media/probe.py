"""What an uploaded file really is (from its bytes, never its name) and how long it lasts.

mutagen reads common audio formats in-process in about a millisecond; ffprobe always
confirms the streams, covers what mutagen cannot read, and runs with a hard timeout.
Every tool reads the one file descriptor opened (and checked) first, through /dev/fd: the
path's extension never reaches ffmpeg, which would otherwise use it as a tie-breaker.
"""

import contextlib
import ctypes
import dataclasses
import json
import math
import multiprocessing
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
from mutagen.mp3 import MP3, BitrateMode

from app.media.durations import format_duration

# Demuxers ffmpeg may use on uploads; anything else (images, playlists) never gets opened.
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mp3,ogg,wav,flac,avi,mpegts,aac,aiff"
# Local files only: an HLS or concat "upload" must not make ffmpeg fetch or read anything else.
# One thread: glibc reserves an arena per thread, which would eat into MEMORY_LIMIT on big hosts.
SAFE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", DEMUXERS, "-threads", "1"]
# An upload in an object store is read through one presigned URL, and over HTTP(S) only.
REMOTE_INPUT = ["-protocol_whitelist", "http,https,tcp,tls", *SAFE_INPUT[2:]]
MEMORY_LIMIT = 2 * 1024**3
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL = 1.0  # seconds between a server worker's looks at its parent
TAIL_SECONDS = 3.0
# Real media scores 50 and up (AVPROBE_SCORE_EXTENSION); a few stray MPEG sync bytes score less.
MIN_PROBE_SCORE = 25
TAG_KEYS = frozenset(
    {"title", "artist", "album", "album_artist", "composer", "performer", "date", "genre",
     "track", "disc", "comment", "description", "copyright", "publisher"}
)  # fmt: skip
MAX_TAG_LENGTH = 1000
WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})
SIMPLE_CONTAINERS = {  # demuxer -> (container, mime type, extension)
    "mp3": ("mp3", "audio/mpeg", ".mp3"),
    "wav": ("wav", "audio/wav", ".wav"),
    "flac": ("flac", "audio/flac", ".flac"),
    "aac": ("aac", "audio/aac", ".aac"),
    "aiff": ("aiff", "audio/aiff", ".aiff"),
    "avi": ("avi", "video/x-msvideo", ".avi"),
    "mpegts": ("ts", "video/mp2t", ".ts"),
}
MUTAGEN_CONTAINERS = {
    "MP3": "mp3", "MP4": "mp4", "FLAC": "flac", "OggVorbis": "ogg", "OggOpus": "ogg",
    "OggFLAC": "ogg", "WAVE": "wav", "AIFF": "aiff",
}  # fmt: skip
# Magic bytes of containers ffprobe knows: a file that has them but fails is broken, not foreign.
SIGNATURES = (
    (4, b"ftyp", "an MP4"), (0, b"\x1a\x45\xdf\xa3", "a WebM or Matroska"),
    (0, b"OggS", "an Ogg"), (0, b"fLaC", "a FLAC"), (0, b"ID3", "an MP3"),
    (0, b"RIFF", "a WAV or AVI"), (0, b"FORM", "an AIFF"),
)  # fmt: skip
FORMATS_WE_TAKE = "MP4, M4A, WebM, MP3, Ogg, Opus, WAV or FLAC"
TOO_SLOW = (
    "Reading this file took too long, so we stopped: it may be damaged or unusually large. "
    "Try exporting it again."
)


def _prctl() -> Any:
    """libc's prctl(2), looked up once (never in a forked child); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _prctl()


class ProbeError(Exception):
    """A file we refuse: str() is a sentence for the uploader, .detail the tool's words for logs."""

    status: int = 422

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class NotMedia(ProbeError):
    """Not audio or video at all."""

    status = 415


class BrokenMedia(ProbeError):
    """Looks like audio or video but cannot be read to its end."""

    status = 422


class ProbeTimeout(BrokenMedia):
    """ffprobe or ffmpeg ran past the time limit and was killed."""


class ToolMissing(RuntimeError):
    """ffprobe or ffmpeg is not installed: the operator's problem, not the uploader's."""


@dataclass(frozen=True)
class ProbeResult:
    kind: str
    mime_type: str
    extension: str
    container: str
    duration: float
    codecs: tuple[str, ...]
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    bitrate: int | None
    tags: dict[str, str] = field(hash=False)
    prober: str

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration)

    def as_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["codecs"] = list(self.codecs)
        data["duration_text"] = self.duration_text
        return data


@dataclass(frozen=True)
class _Mutagen:
    """What mutagen made of the file, kept only if ffprobe agrees on the container."""

    container: str
    length: float
    length_known: bool  # False for an MP3 with no Xing/VBRI/Info header: mutagen guessed


def input_args(source: Path | str) -> list[str]:
    """ffmpeg's input options for a stored file: a local path, or an object's presigned URL."""
    if isinstance(source, Path):
        return [*SAFE_INPUT, "-i", f"file:{source}"]
    return [*REMOTE_INPUT, "-i", source]


@dataclass(frozen=True)
class _Source:
    """The open upload, its size, and when probing must be over."""

    file: BinaryIO
    size: int
    deadline: float
    remote_url: str | None = None  # set for an upload in an object store

    @property
    def url(self) -> str:
        return self.remote_url or f"file:/dev/fd/{self.file.fileno()}"

    @property
    def safe_input(self) -> list[str]:
        return REMOTE_INPUT if self.remote_url else SAFE_INPUT

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        fds = () if self.remote_url else (self.file.fileno(),)
        return run_tool(list(args), self.deadline, pass_fds=fds)


@dataclass(frozen=True)
class _Streams:
    video: dict[str, Any] | None  # first real video stream (not cover art, not a still)
    audio: dict[str, Any] | None
    codecs: tuple[str, ...]


def probe_file(path: Path, timeout: float = 30.0, *, verify: bool = True) -> ProbeResult:
    """Identify and time a file; blocking (ffprobe runs), so call it from a thread."""
    deadline = time.monotonic() + timeout
    with open_regular(path) as file:
        return _probe(_Source(file, os.fstat(file.fileno()).st_size, deadline), verify)


def probe_url(
    url: str, file: BinaryIO, size: int, timeout: float = 30.0, *, verify: bool = True
) -> ProbeResult:
    """probe_file for an upload in an object store: ffprobe reads `url` (a presigned URL,
    named by a temp key, never by the uploader), mutagen and the tail checks read `file`."""
    if size == 0:
        raise NotMedia("The file is empty: choose an audio or video file and upload it again.")
    return _probe(_Source(file, size, time.monotonic() + timeout, url), verify)


def _probe(source: _Source, verify: bool) -> ProbeResult:
    tagged = _read_with_mutagen(source.file)
    report = _ffprobe(source)
    streams = _media_streams(report)
    fmt = report["format"]
    container, mime_type, extension = _container(fmt, streams)
    duration, prober = _duration(source, fmt, streams, container, tagged)
    if verify:
        _verify_end(source, container, duration, streams)
    video = streams.video or {}
    audio = streams.audio or {}
    return ProbeResult(
        kind="video" if streams.video else "audio",
        mime_type=mime_type,
        extension=extension,
        container=container,
        duration=round(duration, 3),
        codecs=streams.codecs,
        video_codec=video.get("codec_name"),
        audio_codec=audio.get("codec_name"),
        width=video.get("width"),
        height=video.get("height"),
        bitrate=round(source.size * 8 / duration),
        tags=_tags(fmt, streams.audio),
        prober=prober,
    )


@contextlib.contextmanager
def open_regular(path: Path) -> Iterator[BinaryIO]:
    # O_NONBLOCK: opening a FIFO nobody writes to would block forever. Checking the open
    # descriptor (not the path) leaves no gap for the path to be swapped afterwards.
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotMedia("This is not a regular file: upload an audio or video file.")
        if info.st_size == 0:
            raise NotMedia("The file is empty: choose an audio or video file and upload it again.")
        yield file


def _read_with_mutagen(file: BinaryIO) -> _Mutagen | None:
    try:
        found = mutagen.File(file)
    except Exception:  # mutagen raises many kinds on non-media; ffprobe has the final word
        return None
    container = MUTAGEN_CONTAINERS.get(type(found).__name__)
    if found is None or container is None:
        return None
    info: Any = found.info  # mutagen types it per format; MP3 adds bitrate_mode
    length_known = not isinstance(found, MP3) or info.bitrate_mode != BitrateMode.UNKNOWN
    return _Mutagen(container, float(info.length), length_known)


def _ffprobe(source: _Source) -> dict[str, Any]:
    entries = ["-show_format", "-show_streams", "-of", "json"]
    done = source.run("ffprobe", "-v", "error", *source.safe_input, *entries, source.url)
    if done.returncode != 0:
        raise _unreadable(source.file, done.stderr)
    report: dict[str, Any] = json.loads(done.stdout)
    if report.get("format", {}).get("probe_score", 0) < MIN_PROBE_SCORE:
        raise NotMedia(f"This file is not audio or video we can read: upload {FORMATS_WE_TAKE}.")
    return report


def _unreadable(file: BinaryIO, stderr: str) -> ProbeError:
    file.seek(0)
    head = file.read(16)
    for offset, magic, label in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return BrokenMedia(
                f"This looks like {label} file but it cannot be read: it may be incomplete "
                "or damaged. Export or download it again and upload the complete file.",
                stderr,
            )
    return NotMedia(
        f"This file is not audio or video we can read: upload {FORMATS_WE_TAKE}.", stderr
    )


def _media_streams(report: dict[str, Any]) -> _Streams:
    duration = _seconds(report["format"].get("duration"))
    videos = [s for s in report.get("streams", []) if _is_real_video(s, duration)]
    audios = [s for s in report.get("streams", []) if s.get("codec_type") == "audio"]
    if not videos and not audios:
        still = any(s.get("codec_type") == "video" for s in report.get("streams", []))
        reason = "holds only a still image" if still else "has no audio or video in it"
        raise NotMedia(f"This file {reason}: upload a recording ({FORMATS_WE_TAKE}).")
    codecs = dict.fromkeys(s["codec_name"] for s in [*videos, *audios] if s.get("codec_name"))
    return _Streams(videos[0] if videos else None, audios[0] if audios else None, tuple(codecs))


def _is_real_video(stream: dict[str, Any], duration: float | None) -> bool:
    if stream.get("codec_type") != "video" or stream.get("disposition", {}).get("attached_pic"):
        return False
    if stream.get("nb_frames") == "1":
        return False
    # A still in a container without a frame count (WebM, MKV) lasts less than two frames.
    fps = _ratio(stream.get("avg_frame_rate")) or _ratio(stream.get("r_frame_rate"))
    length = _seconds(stream.get("duration")) or duration
    return not (fps and length and length * fps < 2)


def _container(fmt: dict[str, Any], streams: _Streams) -> tuple[str, str, str]:
    demuxer = fmt.get("format_name", "")
    video = streams.video is not None
    if demuxer in SIMPLE_CONTAINERS:
        return SIMPLE_CONTAINERS[demuxer]
    if demuxer.startswith("mov,"):
        if fmt.get("tags", {}).get("major_brand", "").strip() == "qt":
            return "mov", "video/quicktime", ".mov"
        return ("mp4", "video/mp4", ".mp4") if video else ("mp4", "audio/mp4", ".m4a")
    if demuxer == "matroska,webm":
        # ffprobe does not show the DocType; WebM is Matroska limited to these codecs.
        if set(streams.codecs) <= WEBM_CODECS:
            return ("webm", "video/webm", ".webm") if video else ("webm", "audio/webm", ".webm")
        return ("mkv", "video/x-matroska", ".mkv") if video else ("mkv", "audio/x-matroska", ".mka")
    if demuxer == "ogg":
        if video:
            return "ogg", "video/ogg", ".ogv"
        return "ogg", "audio/ogg", ".opus" if streams.codecs == ("opus",) else ".ogg"
    raise NotMedia(f"We do not take {demuxer} files: upload {FORMATS_WE_TAKE}.")


def _duration(
    source: _Source,
    fmt: dict[str, Any],
    streams: _Streams,
    container: str,
    tagged: _Mutagen | None,
) -> tuple[float, str]:
    """Seconds, and which tool decided them."""
    mine = tagged if tagged and tagged.container == container and not streams.video else None
    if streams.audio and not streams.video and _length_unstated(container, mine):
        seconds = _counted_duration(source, streams.audio)
        return seconds, "mutagen+ffprobe" if mine else "ffprobe"
    if mine and mine.length > 0:
        return mine.length, "mutagen"
    lengths = [_seconds(s.get("duration")) for s in (streams.video, streams.audio) if s]
    reported = _seconds(fmt.get("duration")) or max((x for x in lengths if x), default=None)
    if reported is None:
        raise BrokenMedia("We could not tell how long this file is: it may be damaged.")
    return reported, "ffprobe"


def _length_unstated(container: str, mine: _Mutagen | None) -> bool:
    """An MP3 without a Xing/VBRI/Info header and ADTS AAC: only counting frames is exact."""
    return container in ("mp3", "aac") and not (mine and mine.length_known)


def _counted_duration(source: _Source, audio: dict[str, Any]) -> float:
    select = ["-select_streams", str(audio["index"]), "-count_packets"]
    entries = ["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"]
    done = source.run("ffprobe", "-v", "error", *source.safe_input, *select, *entries, source.url)
    text = done.stdout.strip()
    packets = int(text) if text.isdigit() else 0
    rate = int(audio.get("sample_rate") or 0)
    if done.returncode != 0 or not packets or not rate:
        raise BrokenMedia("We could not count the audio frames in this file: it may be damaged.")
    return packets * _samples_per_packet(audio, rate) / rate


def _samples_per_packet(audio: dict[str, Any], rate: int) -> int:
    codec = audio.get("codec_name")
    if codec == "mp3":
        return 1152 if rate >= 32000 else 576  # MPEG-1 Layer III, else MPEG-2/2.5
    if codec == "aac":
        # HE-AAC reports the doubled output rate; each packet still holds 1024 core samples.
        return 2048 if str(audio.get("profile", "")).startswith("HE-AAC") else 1024
    return 384 if codec == "mp1" else 1152


def _verify_end(source: _Source, container: str, duration: float, streams: _Streams) -> None:
    """Decode the last seconds: a cut-short file often has an intact header claiming more."""
    if container == "ogg":
        _check_ogg_end(source)
    window = min(TAIL_SECONDS, duration)
    maps = [arg for s in (streams.video, streams.audio) if s for arg in ("-map", f"0:{s['index']}")]
    seek = ["-ss", f"{duration - window:.3f}", "-i", source.url, "-t", f"{window:.3f}"]
    output = ["-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    safe = source.safe_input
    done = source.run("ffmpeg", "-nostdin", "-v", "error", *safe, *seek, *maps, *output)
    # Errors alone prove little: a seek into MPEG-TS lands between keyframes and complains.
    if done.returncode != 0 or _decoded_seconds(done.stdout) <= 0:
        raise BrokenMedia(
            f"This file stops before the {format_duration(duration)} its header promises: it "
            "may have been cut short. Upload the complete file.",
            done.stderr,
        )


def _check_ogg_end(source: _Source) -> None:
    if not ogg_ends_whole(source.file, source.size):
        raise BrokenMedia(
            "This Ogg file ends without its final page: it may have been cut short. "
            "Upload the complete file."
        )


def ogg_ends_whole(file: BinaryIO, size: int, serial: int | None = None) -> bool:
    """Whether an Ogg file ends with a whole page flagged end-of-stream (of `serial`, if
    given): Ogg states no total length, so a cut file just looks shorter."""
    file.seek(max(0, size - 65536))  # an Ogg page is at most 65,307 bytes
    tail = file.read()
    start = tail.rfind(b"OggS")
    header = tail[start : start + 27]
    if start < 0 or len(header) < 27:
        return False
    lacing = tail[start + 27 : start + 27 + header[26]]
    whole = start + 27 + header[26] + sum(lacing) == len(tail) and bool(header[5] & 4)
    return whole and (serial is None or int.from_bytes(header[14:18], "little") == serial)


def _decoded_seconds(progress: str) -> float:
    key = "out_time_us="
    values = [line[len(key) :] for line in progress.splitlines() if line.startswith(key)]
    return max((int(v) for v in values if v.isdigit()), default=0) / 1e6


def _tags(fmt: dict[str, Any], audio: dict[str, Any] | None) -> dict[str, str]:
    # Ogg keeps its comments on the audio stream, other containers on the format.
    found: dict[str, str] = {}
    for source in (fmt.get("tags", {}), (audio or {}).get("tags", {})):
        for key, value in source.items():
            name, text = key.lower(), str(value).strip()
            if name in TAG_KEYS and name not in found and is_short_text(text):
                found[name] = text
    return found


def is_short_text(text: str) -> bool:
    return 0 < len(text) <= MAX_TAG_LENGTH and all(c.isprintable() or c in "\n\r\t" for c in text)


def run_tool(
    args: list[str], deadline: float, pass_fds: tuple[int, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ffprobe/ffmpeg on an untrusted file under limits of memory and CPU time; at the
    deadline (time.monotonic()) kill it and reap it. Every run on an upload goes through here."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ProbeTimeout(TOO_SLOW)
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            pass_fds=pass_fds,
            preexec_fn=child_dies_with_parent(),
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{args[0]} was not found: install ffmpeg on this server.") from exc
    with proc:
        _limit(proc.pid, remaining)
        try:
            stdout, stderr = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise ProbeTimeout(TOO_SLOW) from None
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ProbeTimeout(TOO_SLOW, stderr)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def child_dies_with_parent() -> Callable[[], None]:
    """A preexec_fn for subprocess.Popen: the child asks the kernel for SIGKILL when this
    process dies (SIGKILL of the server or worker included), and ends at once if it already
    has. Every child we start that may outlive a request should use it.

    Linux sends the signal when the *thread* that forked exits, not the process: fork from a
    thread that waits for the child, as run_tool does (it blocks its thread until the child
    is reaped, so a pool thread that ends later cannot take a child with it). The child only
    makes one foreign call and one system call: no lock, no import, no allocation of ours,
    so forking from a threaded server cannot deadlock it.
    """
    parent = os.getpid()

    def arm() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm


def die_with_parent_process() -> None:
    """In a worker process of a multi-process server (granian's): SIGKILL itself, and so its
    ffmpeg children, once the server process that started it is gone, SIGKILL included;
    nothing in a process that multiprocessing did not start.

    It polls rather than asking for PR_SET_PDEATHSIG, which would tie it to whichever thread
    of the server happened to start it.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    pid = parent.pid

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(PARENT_POLL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="amps-parent-watch", daemon=True).start()


def _limit(pid: int, seconds: float) -> None:
    # Set from outside, so the forked child runs as little Python as possible before exec.
    cpu = math.ceil(seconds) + 1
    with contextlib.suppress(ProcessLookupError):  # it may already have finished
        resource.prlimit(pid, resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.prlimit(pid, resource.RLIMIT_CPU, (cpu, cpu + 1))


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _ratio(value: object) -> float | None:
    numerator, _, denominator = str(value).partition("/")
    try:
        return float(numerator) / float(denominator) if float(denominator) else None
    except ValueError:
        return None
