"""The shape of app/: imports run one way down the layers of app/__init__.py, with no cycles."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

# Top to bottom. A part may import itself and any part on a lower line; parts on one line are
# peers that may not import each other.
LAYERS = [
    ("app.cli",),
    ("app.main", "app.demo"),
    ("app.web",),
    ("app.api",),
    ("app.deps",),
    ("app.library",),
    ("app.jobs",),
    ("app.speech",),
    ("app.media", "app.streams"),
    ("app.catalog", "app.storage"),
    ("app.config", "app.errors", "app.metrics"),
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The part (a package, or a top-level module) that `module` belongs to."""
    return ".".join(module.split(".")[:2])


def is_module(name: str) -> bool:
    path = APP.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Our modules that `path` imports, at any depth (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("app"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "app":
            assert node.module is not None and node.level == 0
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if is_module(sub) else node.module)
    return found


def graph() -> dict[str, set[str]]:
    return {
        module_name(path): imports_of(path)
        for path in sorted(APP.rglob("*.py"))
        if "migrations" not in path.parts
    }


def test_every_part_has_a_layer_and_a_docstring() -> None:
    parts = {part_of(module) for module in graph() if module != "app"}
    assert parts == set(RANK), "add the new part to LAYERS and to app/__init__.py"
    for part in parts:
        path = APP.parent.joinpath(*part.split("."))
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        docstring = ast.get_docstring(ast.parse(source.read_text()))
        assert docstring and len(docstring) > 40, f"{source} says what it owns"


def test_imports_run_down_the_layers() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module != "app"
        for target in targets
        if target != "app"
        and part_of(target) != part_of(module)
        and RANK[part_of(target)] <= RANK[part_of(module)]
    ]
    assert wrong == []


def test_no_import_cycles() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for target in edges.get(module, ()):
            visit(target, [*path, module])
        done.add(module)

    for module in edges:
        visit(module, [])


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    """The checker itself: an import from a lower part up to a higher one is found."""
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from app.web import pages\n    import app.api.schemas\n")
    assert imports_of(source) == {"app.web", "app.api.schemas"}
    assert RANK[part_of("app.web.pages")] < RANK[part_of("app.catalog.models")]


def test_every_data_file_ships_in_the_wheel() -> None:
    """The Docker image installs a wheel: a file app/ reads must be in its package-data (the
    UI catalogues were not, and the image had no translations)."""
    import fnmatch
    import tomllib

    config = tomllib.loads((APP.parent / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]
    missing = []
    for path in APP.rglob("*"):
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        shipped = any(
            fnmatch.fnmatch(str(path.relative_to(APP.parent.joinpath(*package.split(".")))), glob)
            for package, patterns in globs.items()
            if path.is_relative_to(APP.parent.joinpath(*package.split(".")))
            for glob in patterns
        )
        if not shipped:
            missing.append(str(path.relative_to(APP.parent)))
    assert missing == []
