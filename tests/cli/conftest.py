"""A fresh facetrail home per test, driven through the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facetrail.config import get_settings
from tests.cli.terminal import Terminal


@pytest.fixture()
def term(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    yield Terminal(tmp_path / "home", monkeypatch)
    get_settings.cache_clear()
