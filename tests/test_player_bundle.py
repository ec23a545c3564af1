"""The committed player bundle (static/build/player.js) is what esbuild makes of the
modules today: an image built from a clean clone, which runs no npm, serves the player as
its sources say."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = "static/build/player.js"


def test_committed_bundle_matches_the_player_modules(tmp_path: Path) -> None:
    fresh = tmp_path / "player.js"
    subprocess.run([ROOT / "scripts/build-player.sh", fresh], cwd=ROOT, check=True)
    # The index's copy, not the working tree's: pytest rebuilds the working tree's at start.
    staged = subprocess.run(
        ["git", "show", f":{BUNDLE}"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    assert staged == fresh.read_bytes(), (
        f"{BUNDLE} in git is stale: run scripts/build-player.sh and commit it"
    )
