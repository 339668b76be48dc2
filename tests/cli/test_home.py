"""Where the CLI works: a command outside a home says so (and creates nothing), ``--home``
names one, ``--version`` answers, and a database URL whose driver is not installed is a typed
error naming the extra to install."""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import pytest

from facetrail.config import Settings, get_settings
from facetrail.errors import DatabaseDriverMissingError
from facetrail.services.context import AppContext
from tests.cli.terminal import Terminal


def test_a_command_outside_a_home_says_so_and_creates_nothing(term: Terminal) -> None:
    out = term("login", "root", "--code", "123456", code=2)
    said = " ".join(out.split())
    assert "[no_home]" in said and "facetrail init" in said
    assert not term.home.exists()
    assert "[no_home]" in term("gallery", "list", code=2)
    assert not term.home.exists()


def test_home_option_names_the_home(term: Terminal, tmp_path: Path) -> None:
    term.init()
    elsewhere = tmp_path / "elsewhere"
    os.environ["FACETRAIL_HOME"] = str(elsewhere)  # restored by the fixture's monkeypatch
    get_settings.cache_clear()
    assert "[no_home]" in term("gallery", "list", code=2)
    listed = term("--home", str(term.home), "gallery", "list")
    assert "[no_home]" not in listed
    assert term("--home", str(term.home), "whoami").startswith("root ")  # its session token
    assert not elsewhere.exists()


def test_version(term: Terminal) -> None:
    assert term("--version").strip() == f"facetrail {version('facetrail')}"


def test_a_missing_database_driver_is_typed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url="postgresql+pg8000://x@127.0.0.1/x")
    with pytest.raises(DatabaseDriverMissingError, match=r"facetrail\[postgres\]"):
        AppContext.open(settings)
