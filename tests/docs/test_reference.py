"""The documentation: its reference pages name every CLI command, REST API route and web page
the code has (a command or route added without regenerating them fails here, saying to run
``make docs``), and the site builds offline with MkDocs without a broken link."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from facetrail import reference
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.database_free
DOCS = REPO_ROOT / "docs"


def _page(name: str) -> str:
    return (DOCS / "reference" / name).read_text()


def test_every_command_is_in_the_cli_reference() -> None:
    page = _page("cli.md")
    commands = reference.cli_commands()
    assert len(commands) > 80  # the walk found the whole tree, not one group
    missing = [c.path for c in commands if f"## `{c.path}`" not in page]
    assert missing == [], f"not in docs/reference/cli.md (run make docs): {missing}"
    assert "## `facetrail galleries retire-source`" in page


def test_every_api_route_is_in_the_api_reference() -> None:
    page = _page("api.md")
    routes = reference.api_routes()
    assert len(routes) > 80
    missing = [f"{r.method} {r.path}" for r in routes if f"| {r.method} | `{r.path}` |" not in page]
    assert missing == [], f"not in docs/reference/api.md (run make docs): {missing}"


def test_every_web_page_is_in_the_pages_reference() -> None:
    page = _page("pages.md")
    pages = reference.web_pages()
    assert {"/galleries/{name}/photos", "/account/tokens", "/receipts"} <= {p.path for p in pages}
    missing = [f"{p.method} {p.path}" for p in pages if f"| {p.method} | `{p.path}` |" not in page]
    assert missing == [], f"not in docs/reference/pages.md (run make docs): {missing}"


def test_the_references_are_what_the_code_makes_now() -> None:
    checked = subprocess.run(
        [sys.executable, "scripts/docs-reference.py", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_site_builds_offline_without_a_broken_link(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    built = subprocess.run(
        [str(mkdocs), "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    index = (tmp_path / "site" / "index.html").read_text()
    assert "Results are investigative leads, never identifications." in index
    assert (tmp_path / "site" / "reference" / "cli.html").exists()
    assert (tmp_path / "site" / "guides" / "gallery-admin.html").exists()
