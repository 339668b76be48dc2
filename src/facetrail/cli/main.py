"""The ``facetrail`` command: parse, call a service, print. No logic lives here.

Each command group lives in its own module; importing them registers their commands.
"""

from __future__ import annotations

import os
import sys

from facetrail.cli import (
    accounts,
    audit,
    database,
    directory,
    erasure,
    evaluation,
    galleries,
    jobs,
    models_cmd,
    oversight,
    policy,
    reports,
    search,
    searches,
    serve,
    signin,
)
from facetrail.cli.app import app, report_error
from facetrail.cli.render import print_error
from facetrail.errors import FacetrailError

__all__ = [
    "INTERNAL_ERROR_EXIT",
    "accounts",
    "app",
    "audit",
    "database",
    "directory",
    "erasure",
    "evaluation",
    "galleries",
    "jobs",
    "main",
    "models_cmd",
    "oversight",
    "policy",
    "reports",
    "search",
    "searches",
    "serve",
    "signin",
]


#: Exit status of a command stopped by an error facetrail has no type for (sysexits EX_SOFTWARE).
INTERNAL_ERROR_EXIT = 70


def main() -> None:
    """The console script. Typed errors are printed by each command (exit 2); anything else
    is a fault in facetrail, shown as one line with its code, never as a traceback (set
    FACETRAIL_DEBUG=1 to see it). Nothing half-done is kept: every action is one transaction."""
    try:
        app()  # click prints usage errors and exits with each command's status itself
    except FacetrailError as exc:
        report_error(exc)
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("FACETRAIL_DEBUG"):
            raise
        print_error(
            "internal_error",
            f"facetrail failed unexpectedly ({type(exc).__name__}); nothing half-done was "
            "kept. Set FACETRAIL_DEBUG=1 to see where, and please report it.",
        )
        sys.exit(INTERNAL_ERROR_EXIT)
