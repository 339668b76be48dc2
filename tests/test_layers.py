"""Dependencies point one way (STYLE.md): the two HTTP edges (``api`` and ``web``) never import
each other, what they share (``edge``) imports neither, ``server`` alone puts them together,
and nothing below the edges imports them. Read from the source's import statements, those
inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.database_free

SRC = Path(__file__).resolve().parents[1] / "src" / "facetrail"

#: package -> the packages of facetrail it must never import
FORBIDDEN = {
    "api": {"web", "server"},
    "web": {"api", "server"},
    "edge": {"api", "web", "server", "cli"},
    "services": {"api", "web", "edge", "server", "cli"},
    "governance": {"api", "web", "edge", "server", "cli", "services"},
    "store": {"api", "web", "edge", "server", "cli", "services"},
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_dependencies_point_one_way() -> None:
    broken = []
    for package, never in FORBIDDEN.items():
        for path in sorted((SRC / package).rglob("*.py")):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "facetrail" and len(parts) > 1 and parts[1] in never:
                    broken.append(f"{path.relative_to(SRC)} imports {name}")
    assert broken == []


def test_the_checked_packages_exist() -> None:
    assert all((SRC / package).is_dir() for package in FORBIDDEN)  # a rename must not pass it
