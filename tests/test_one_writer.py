"""One writer, one authoriser: the structure that the integrity promises rest on, held by
reading the code (``services.unit_of_work``'s docstring says what it promises).

- Only ``unit_of_work`` (and ``AppContext.transaction`` itself) opens a writing transaction;
  every other write goes through ``action`` (a signed-in person, re-read under the lock and
  held to one permission), ``unsigned_action`` or ``system_action``.
- Nothing commits or begins a transaction by hand.
- Services decide permissions on the actor as their action read them (an ``Actor``), never
  on the ``Principal`` remembered at sign-in: ``governance.authority.may`` takes an ``Actor``
  (mypy holds callers to it), and no service calls a ``may*`` function on a name bound to
  a ``Principal`` parameter.
- ``services`` is grouped by domain, and no module of the source is over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import facetrail

SRC = Path(facetrail.__file__).parent
#: Where a writing transaction may be opened.
WRITERS = {SRC / "services" / "unit_of_work.py", SRC / "services" / "context.py"}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def _calls(path: Path) -> list[tuple[str, int]]:
    """(attribute or function called, line) for every call in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            found.append((name, node.lineno))
    return found


def test_only_the_unit_of_work_opens_a_writing_transaction() -> None:
    stray = [
        f"{p.relative_to(SRC)}:{line}"
        for p in _modules()
        if p not in WRITERS
        for name, line in _calls(p)
        if name == "transaction"
    ]
    assert stray == [], f"write through unit_of_work.action / system_action: {stray}"


def test_nothing_commits_or_begins_by_hand() -> None:
    allowed = WRITERS | {SRC / "store" / "schema_version.py"}  # DDL, before any action
    stray = [
        f"{p.relative_to(SRC)}:{line} {name}"
        for p in _modules()
        if p not in allowed
        for name, line in _calls(p)
        if name in {"commit", "begin", "begin_nested"}
    ]
    assert stray == []


def test_the_locked_core_is_private() -> None:
    stray = [
        str(p.relative_to(SRC))
        for p in _modules()
        if p not in WRITERS
        and "unit_of_work import" in p.read_text()
        and "_locked" in p.read_text().split("unit_of_work import", 1)[1].split(")", 1)[0]
    ]
    assert stray == []


def test_services_authorise_on_the_actor_as_read_under_the_lock() -> None:
    """A ``may*`` call whose first argument is a parameter typed ``Principal`` decides on
    the sign-in, not on the database as it stands when the action runs."""
    stray = []
    for path in sorted((SRC / "services").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            principals = {
                a.arg
                for a in fn.args.args + fn.args.kwonlyargs
                if a.annotation is not None and ast.unparse(a.annotation) == "Principal"
            }
            for node in ast.walk(fn):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id.startswith("may")
                    and node.args
                    and isinstance(node.args[0], ast.Name)
                    and node.args[0].id in principals
                ):
                    stray.append(f"{path.relative_to(SRC)}:{node.lineno} {node.func.id}")
    assert stray == []


def test_the_old_second_ways_are_gone() -> None:
    """``authorization`` loads facts; it no longer offers a door of its own."""
    from facetrail.services import authorization

    assert not hasattr(authorization, "acting")
    assert not hasattr(authorization, "require")


def test_services_are_grouped_by_domain() -> None:
    flat = sorted(p.name for p in (SRC / "services").glob("*.py"))
    packages = sorted(p.parent.name for p in (SRC / "services").glob("*/__init__.py"))
    assert packages == [
        "accounts",
        "audit",
        "backup",
        "galleries",
        "oversight",
        "rights",
        "searching",
        "signin",
    ]
    assert len(flat) <= 10, flat  # the core every domain uses, nothing else


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
