"""Static files under one content-hashed URL prefix, precompressed, cached for a year.

Hand-written rather than StaticFiles: the player's ES modules import each other by
relative URL, so the hash goes in the path (`/static/<hash>/player/main.js`) and every
module under it is immutable; text assets are gzipped once at start-up.
"""

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# The player's modules bundled into one script by scripts/build-player.sh (`make install`).
PLAYER_BUNDLE = "build/player.js"
# String literals of the bundle that may be catalogue keys (`ctl.t("loading")`).
LITERAL = re.compile(rb"""["'`]([a-z][a-z0-9_]*)["'`]""")


class MissingBundle(RuntimeError):
    """The player bundle was never built (a checkout without `make install`)."""


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


class Assets:
    def __init__(self, root: Path, bundle_name: str | None = PLAYER_BUNDLE) -> None:
        """`bundle_name`: the player's script, which `root` must hold (None: no player)."""
        self.root = root
        self.files: dict[str, Asset] = {}
        tree = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []:
            name = path.relative_to(root).as_posix()
            body = path.read_bytes()
            tree.update(name.encode() + b"\0" + body)
            self.files[name] = self._asset(name, body)
        self.version = tree.hexdigest()[:12]
        bundle = self.files.get(bundle_name) if bundle_name else None
        if root.is_dir() and bundle_name and bundle is None:
            raise MissingBundle(
                f"{root / bundle_name} is missing: run `make install`, which builds the "
                "player's script with esbuild (scripts/build-player.sh)."
            )
        # Only these catalogue keys are sent to the player: the strings its code can ask for.
        self.player_literals = frozenset(
            m.decode() for m in LITERAL.findall(bundle.body if bundle else b"")
        )

    @staticmethod
    def _asset(name: str, body: bytes) -> Asset:
        suffix = Path(name).suffix
        media_type = (
            TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        text = media_type.startswith(TEXT_TYPES)
        gzipped = gzip.compress(body, 9, mtime=0) if text and len(body) > 256 else None
        if text:
            media_type += "; charset=utf-8"
        return Asset(body, gzipped, media_type, hashlib.sha256(body).hexdigest()[:20])

    def url(self, name: str) -> str:
        """The immutable URL of a static file: `/static/<version>/<name>`."""
        if name not in self.files:
            raise KeyError(f"no static file {name!r}")
        return f"/static/{self.version}/{name}"
