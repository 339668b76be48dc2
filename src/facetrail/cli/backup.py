"""``facetrail backup`` and ``facetrail restore``: an operator's commands on the machine."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import JsonOpt, app, open_context, run_service
from facetrail.cli.render import console, err_console, print_json
from facetrail.config import get_settings
from facetrail.services import backup as service

#: The counts a restore compares, in the order they are printed.
COUNTED = (
    "audit_entries",
    "checkpoints",
    "users",
    "galleries",
    "faces",
    "templates",
    "searches",
    "cases",
)


def _progress(line: str) -> None:
    err_console.print(escape(line), highlight=False)


@app.command(
    "backup",
    epilog="Never holds the audit signing key nor the key that seals second factors: back "
    "their folders up apart (docs/operator.md, Backups).",
)
def backup_command(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    with_index: Annotated[
        bool,
        typer.Option("--with-index", help="Copy the index too (else rebuilt on restore)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Back up the running installation into DEST: the database by its own online method
    (SQLite's backup API, pg_dump), the blobs, the index if asked, and a manifest of hashes.
    Recorded in the audit log (admin.backup)."""
    request = service.BackupRequest(dest, with_index)
    with open_context() as ctx:
        report = run_service(lambda: service.backup(ctx, request, _progress))
    if as_json:
        print_json(report)
        return
    checkpoint = (
        f", last checkpoint {report.checkpoint_size}"
        if report.checkpoint_size
        else ", no checkpoint"
    )
    console.print(
        f"backup written to {escape(report.destination)}: {report.files:,} files, "
        f"{report.bytes:,} bytes ({report.database}, schema {report.schema})\n"
        f"audit log {report.audit_size:,} entries, root {report.audit_root}{checkpoint}\n"
        f"manifest sha256 {report.manifest_sha256}",
        highlight=False,
    )


@app.command(
    "restore",
    epilog="Exit status: 0 restored and the audit log verifies; 1 restored but the log does "
    "not verify; 2 refused, nothing written (a damaged backup, a target that is not empty, "
    "no key folder).",
)
def restore_command(
    backup: Annotated[Path, typer.Argument(help="A folder written by 'facetrail backup'.")],
    last_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--last-checkpoint",
            help="A checkpoint seen before the restore (a signed note, an add-checkpoint "
            "request or 'audit export' JSON), besides the witness inboxes.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore BACKUP into an empty home (and an empty database on PostgreSQL), after checking
    every file against its manifest, then verify the audit log with the key already in the
    key folder. A backup older than a checkpoint seen before is recorded as a signed
    audit.restore entry and told to the witnesses."""
    settings = get_settings()
    request = service.RestoreRequest(backup, tuple(last_checkpoint or ()))
    report = run_service(lambda: service.restore(settings, request, _progress))
    if as_json:
        print_json(asdict(report) | {"counts_equal": report.counts_equal})
    else:
        _print_restore(report)
    if not report.verified:
        raise typer.Exit(1)


def _print_restore(report: service.RestoreReport) -> None:
    console.print(f"restored {escape(report.backup)} ({report.database})", highlight=False)
    for name in COUNTED:
        got, wanted = report.counts.get(name, 0), report.expected.get(name, 0)
        mark = "" if got == wanted else f"  [red]the backup says {wanted}[/red]"
        console.print(f"  {name:<14}{got:>10,}{mark}", highlight=False)
    indexes = ", ".join(f"{g} {n:,}" for g, n in report.gallery_indexes.items()) or "none"
    console.print(f"index {report.index}: {indexes}", highlight=False)
    if report.shortened is not None:
        lost = report.shortened["lost"]
        console.print(
            f"[yellow]THE LOG IS SHORTER THAN BEFORE[/yellow]: {lost} entries recorded after "
            f"the backup are lost (a checkpoint seen in {report.shortened['previous_seen_in']}); "
            "recorded as a signed audit.restore entry, the heads told, and a new checkpoint "
            "sent to the witnesses with the restore statement",
            highlight=False,
        )
    if report.verified:
        console.print(f"audit log OK: {report.verify_entries:,} entries verified")
    else:
        console.print(
            f"[red]AUDIT LOG FAILS VERIFICATION[/red]: {escape(report.verify_problem or '')}"
        )


__all__ = ["backup_command", "restore_command"]
