"""Audit log commands for C2SP tlog-tiles: ``audit tiles`` publishes the log into a folder a
web server can serve as it is; ``audit tiles-check`` checks such a folder as any tiles client
would, with nothing but the log's public key."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from facetrail.cli.app import JsonOpt, audit_app, in_context, report_error, run_service
from facetrail.cli.render import console, print_json
from facetrail.errors import FacetrailError, TilesConflictError
from facetrail.services.audit.tiles import TilesReport


@audit_app.command("tiles")
def audit_tiles(
    folder: Annotated[Path, typer.Argument(help="The folder to publish into (made if absent).")],
    entries: Annotated[
        bool,
        typer.Option(
            "--entries",
            help="Also publish the entries themselves (names, case numbers, reasons), for "
            "auditors who may read the log; recorded as an audit.tiles entry. Without it only "
            "hashes are published.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish the audit log up to its latest checkpoint as C2SP tlog-tiles (the checkpoint,
    the hash tiles and, with --entries, the entry bundles): only what is new since the
    folder's own checkpoint is written. Run it after each 'audit checkpoint'."""
    from facetrail.services.audit import tiles

    report = in_context(lambda ctx: tiles.publish_tiles(ctx, folder, entries=entries))
    written = f"{report.tiles_written} tile(s) written"
    _show(report, as_json, f"published {report.tree_size} entries into {folder}: {written}")


@audit_app.command(
    "tiles-check",
    epilog="Exit status: 0 the tiles give the signed checkpoint; 1 they do not; 2 the folder "
    "or key cannot be read.",
)
def audit_tiles_check(
    folder: Annotated[Path, typer.Argument(help="A folder 'audit tiles' published.")],
    log_key: Annotated[str, typer.Option(help="The log's vkey, or a file holding it.")],
    as_json: JsonOpt = False,
) -> None:
    """Check published tiles as any tiles client would, without the database: the
    checkpoint's signature, every tile against the ones below it (and the entry bundles,
    when published), and the root they give."""
    from facetrail.governance.checkpoints import load_vkey
    from facetrail.services.audit import tiles

    key = run_service(lambda: load_vkey(log_key))
    try:
        report = tiles.check_tiles(folder, key)
    except TilesConflictError as exc:
        report_error(exc)
        raise typer.Exit(1) from exc
    except FacetrailError as exc:
        report_error(exc)
        raise typer.Exit(2) from exc
    _show(report, as_json, f"the tiles give the signed checkpoint of {report.tree_size} entries")


def _show(report: TilesReport, as_json: bool, said: str) -> None:
    if as_json:
        print_json(asdict(report))
        return
    console.print(said, soft_wrap=True)
    console.print(f"root {report.root}")
