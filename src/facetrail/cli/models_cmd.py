"""Model pack commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facetrail.cli.app import (
    JsonOpt,
    models_app,
    run_service,
)
from facetrail.cli.render import console, is_terminal, print_json, print_rows
from facetrail.config import get_settings
from facetrail.services.galleries import packs

# --- models -----------------------------------------------------------------------------


@models_app.callback()
def models_list(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    check: Annotated[bool, typer.Option(help="Verify sha256 of each file.")] = True,
) -> None:
    """List model packs, their licences, file hashes and whether they are installed."""
    if ctx.invoked_subcommand:
        return
    rows = run_service(lambda: packs.list_pack_status(get_settings(), check_hash=check))
    if as_json:
        print_json(rows)
        return
    if not is_terminal():
        print_rows(
            ("pack", "installed", "dim", "calibrated", "licence", "licence_note"),
            [
                (p.name, p.installed, p.embedding_dim, p.calibrated, p.licence, p.licence_note)
                for p in rows
            ],
        )
        return
    for p in rows:
        state = "[green]installed[/green]" if p.installed else "[red]not installed[/red]"
        console.print(
            f"[bold]{p.name}[/bold]  {state}  dim={p.embedding_dim}  "
            f"calibrated={'yes' if p.calibrated else 'no'}"
        )
        console.print(f"  {p.description}")
        console.print(f"  licence: {p.licence}")
        if p.licence_note:
            console.print(f"  [yellow]note:[/yellow] {p.licence_note}")
        for f in p.files:
            ok = {True: "sha256 ok", False: "SHA256 MISMATCH", None: "not checked"}[f.sha256_ok]
            console.print(f"  {f.role}: {f.path or 'missing'}  {f.expected_sha256[:16]}… {ok}")


@models_app.command("register")
def models_register(directory: Path, as_json: JsonOpt = False) -> None:
    """Register a custom pack directory (manifest.json + ONNX files)."""
    result = run_service(lambda: packs.register(get_settings(), directory))
    print_json(result) if as_json else console.print(f"registered pack {result.name}")
