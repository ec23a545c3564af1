"""make install pins everything: each package in the venv is in constraints.txt at its version."""

import re
from importlib import metadata
from pathlib import Path

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"
SKIP = {"amps", "pip", "setuptools", "wheel"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonical(name)] = version
    return pins


def test_every_installed_package_is_pinned_at_its_version() -> None:
    pins = pinned()
    installed = {
        canonical(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    wrong = {
        name: (version, pins.get(name))
        for name, version in installed.items()
        if name not in SKIP and pins.get(name) != version
    }
    assert wrong == {}, "regenerate constraints.txt (see its header)"
