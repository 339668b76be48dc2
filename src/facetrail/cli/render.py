"""Turning service results into JSON or Rich output; no logic of its own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def plain(value: Any) -> Any:
    """Dataclasses/paths/bytes -> JSON-ready values (bytes are dropped: crops go to files)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not isinstance(getattr(value, f.name), bytes)
        }
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    print(json.dumps(plain(value), indent=2))


def fmr_text(estimate: Any) -> str:
    if estimate is None:
        return "uncalibrated"
    return f"{'<' if estimate.upper_bound else ''}{estimate.fmr:.2e}"
