"""Audit log commands: verify (offline), checkpoint, prove, consistency, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import (
    JsonOpt,
    audit_app,
    open_context,
    run_service,
)
from facetrail.cli.render import console, err_console, print_json
from facetrail.config import get_settings

# --- audit ------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    db: Annotated[
        Path | None, typer.Option(help="Database file (default: $FACETRAIL_HOME).")
    ] = None,
    public_key: Annotated[Path | None, typer.Option(help="PEM public key of the log.")] = None,
    published: Annotated[
        Path | None, typer.Option(help="Checkpoints published earlier (audit export).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every entry and check every checkpoint, offline. Exit 1 on any tampering."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from facetrail.governance.checkpoints import PUBLIC_KEY, load_public_key
    from facetrail.governance.verify import verify_log
    from facetrail.services.audit import load_published

    settings = get_settings()
    url = f"sqlite:///{db.resolve()}" if db else settings.db_url
    key_file = public_key or settings.home / "keys" / PUBLIC_KEY
    if db is not None and not db.exists():
        err_console.print(f"[red]error[/red] {escape(f'[audit_db_missing] {db}: no such file')}")
        raise typer.Exit(2)
    if not key_file.exists():
        err_console.print(f"[red]error[/red] {escape(f'[audit_key_missing] {key_file}')}")
        raise typer.Exit(2)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            report = verify_log(
                session,
                load_public_key(key_file),
                load_published(published.read_text()) if published else (),
            )
    finally:
        engine.dispose()
    if as_json:
        print_json(report)
    elif report.ok:
        console.print(
            f"audit log OK: {report.entries} entries, {report.checkpoints} "
            f"checkpoints verified, root {report.root}"
        )
    else:
        console.print(f"[red]AUDIT LOG FAILS VERIFICATION[/red]: {escape(report.problem or '')}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(as_json: JsonOpt = False) -> None:
    """Sign the current tree size and root (Ed25519) and store the checkpoint."""
    from facetrail.services import audit

    with open_context() as ctx:
        audit.ensure_keys(ctx)
        cp = run_service(lambda: audit.make_checkpoint(ctx))
    if as_json:
        print_json(cp.to_json())
    else:
        console.print(f"checkpoint: {cp.tree_size} entries, root {cp.root.hex()} at {cp.at}")


@audit_app.command("prove")
def audit_prove(entry: int, as_json: JsonOpt = False) -> None:
    """Inclusion proof of ENTRY in the latest checkpointed tree."""
    from facetrail.services import audit

    with open_context() as ctx:
        proof = run_service(lambda: audit.prove_entry(ctx, entry))
    print_json(proof) if as_json else console.print(
        f"entry {proof.entry} of {proof.tree_size}: leaf {proof.leaf_hash}\nroot {proof.root}"
        f"\npath " + " ".join(proof.path)
    )


@audit_app.command("consistency")
def audit_consistency(old: int, new: int, as_json: JsonOpt = False) -> None:
    """Consistency proof between stored checkpoints OLD and NEW (1-based)."""
    from facetrail.services import audit

    with open_context() as ctx:
        proof = run_service(lambda: audit.prove_consistency(ctx, old, new))
    if as_json:
        print_json(proof)
    else:
        console.print(
            f"{proof.old_size} -> {proof.new_size}: "
            f"{'consistent' if proof.verified else 'NOT CONSISTENT'}; path " + " ".join(proof.path)
        )
    if not proof.verified:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(out: Annotated[Path | None, typer.Argument()] = None) -> None:
    """Write the signed checkpoints as JSON, for publication outside the system."""
    from facetrail.services import audit

    with open_context() as ctx:
        text = audit.export_checkpoints(ctx)
    if out:
        out.write_text(text)
    else:
        print(text)
