"""The ``facetrail`` command: parse, call a service, print. No logic lives here.

Each command group lives in its own module; importing them registers their commands.
"""

from __future__ import annotations

from facetrail.cli import (
    accounts,
    audit,
    evaluation,
    galleries,
    models_cmd,
    policy,
    search,
    searches,
    signin,
)
from facetrail.cli.app import app

__all__ = [
    "accounts",
    "app",
    "audit",
    "evaluation",
    "galleries",
    "models_cmd",
    "policy",
    "search",
    "searches",
    "signin",
]


def main() -> None:  # pragma: no cover
    app()
