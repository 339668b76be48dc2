"""The ``facetrail`` command: parse, call a service, print. No logic lives here.

Each command group lives in its own module; importing them registers their commands.
"""

from __future__ import annotations

import os
import sys

import typer

from facetrail.cli import (
    accounts,
    audit,
    audit_tiles,
    backup,
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
from facetrail.cli.help_text import plain_metavars
from facetrail.cli.render import print_error
from facetrail.errors import FacetrailError
from facetrail.store.db import outage_of

__all__ = [
    "INTERNAL_ERROR_EXIT",
    "accounts",
    "app",
    "audit",
    "audit_tiles",
    "backup",
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
        command = typer.main.get_command(app)
        plain_metavars(command)
        command(prog_name="facetrail")  # click prints usage errors and exits with its status
    except SystemExit as done:
        # A reader who stopped reading (``facetrail audit entries | head``) is no failure, as
        # ``gh`` and ``kubectl`` take it; click exits 1, having quietened the closed stream.
        if done.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            sys.exit(0)
        raise
    except FacetrailError as exc:
        report_error(exc)
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("FACETRAIL_DEBUG"):
            raise
        if (outage := outage_of(exc)) is not None:  # the database down: try again, no fault
            report_error(outage)
            sys.exit(2)
        print_error(
            "internal_error",
            f"facetrail failed unexpectedly ({type(exc).__name__}); nothing half-done was "
            "kept. Set FACETRAIL_DEBUG=1 to see where, and please report it.",
        )
        sys.exit(INTERNAL_ERROR_EXIT)
