"""Database commands: the schema's revision, and upgrading it (Alembic migrations)."""

from __future__ import annotations

import typer

from facetrail.cli.app import JsonOpt, db_app, existing_home, run_service
from facetrail.cli.render import console, print_json
from facetrail.config import get_settings
from facetrail.services import database


@db_app.command("status")
def db_status(as_json: JsonOpt = False) -> None:
    """The schema revision the database is at and the one this facetrail needs (read-only)."""
    settings = get_settings()
    run_service(lambda: existing_home(settings))
    status = run_service(lambda: database.schema_status(settings))
    if as_json:
        print_json(
            {"current": status.current, "head": status.head, "up_to_date": status.up_to_date}
        )
        return
    current = status.current or "(none: made before migrations)"
    console.print(f"schema revision {current}; this facetrail needs {status.head}")
    if not status.up_to_date:
        console.print("run 'facetrail db upgrade' (back the home up first)")
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Apply the migrations this facetrail needs, in one transaction (a home made before
    migrations is adopted first). Recorded in the audit log. Back the home up first."""
    settings = get_settings()
    run_service(lambda: existing_home(settings))
    report = run_service(lambda: database.upgrade_database(settings))
    if as_json:
        print_json({"before": report.before, "after": report.after, "adopted": report.adopted})
        return
    before = "made before migrations (adopted)" if report.adopted else report.before
    console.print(f"schema upgraded: {before} -> {report.after}")
