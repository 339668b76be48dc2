"""Audit log commands: verify (offline), checkpoint, public-key, witness, prove, consistency,
export; and reading its entries (signed in)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import (
    JsonOpt,
    as_signed_in,
    audit_app,
    in_context,
    report_error,
    run_service,
)
from facetrail.cli.render import (
    OUTPUT,
    console,
    err_console,
    print_error,
    print_json,
    print_listing,
)
from facetrail.config import get_settings
from facetrail.errors import FacetrailError, WitnessRefusedError

#: Exit codes of ``audit verify`` and ``audit witness``.
EXIT_TAMPERED = 1
EXIT_UNREADABLE = 2


def _unreadable(exc: FacetrailError) -> typer.Exit:
    report_error(exc)
    return typer.Exit(EXIT_UNREADABLE)


@audit_app.command(
    "verify",
    epilog="Exit status: 0 the log verifies; 1 tampering found (an entry altered, missing, "
    "not in canonical form, or a checkpoint that does not match); 2 the input cannot be read "
    "(no such database, not a database, an unreadable or malformed key or checkpoint file).",
)
def audit_verify(
    db: Annotated[
        str | None,
        typer.Option(
            help="A SQLite file or a PostgreSQL URL, read-only (default: the configured database)."
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(help="The log's vkey, or a file holding it (audit public-key)."),
    ] = None,
    published: Annotated[
        Path | None, typer.Option(help="Checkpoints published earlier (audit export).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every entry, check its stored bytes are canonical, and check every
    checkpoint, offline. Exit 1 when tampering is found, 2 when the input cannot be read."""
    from facetrail.governance.checkpoints import PUBLIC_KEY, load_vkey
    from facetrail.services.audit.log import default_database, load_published, verify_database

    settings = get_settings()
    try:
        verifier = load_vkey(public_key or settings.home / "keys" / PUBLIC_KEY)
        extra = load_published(_read(published)) if published else []
        report = verify_database(db or default_database(settings), verifier, extra)
    except FacetrailError as exc:
        raise _unreadable(exc) from exc
    if as_json:
        print_json(report)
    elif report.ok:
        console.print(
            f"audit log OK: {report.entries} entr{'y' if report.entries == 1 else 'ies'}, "
            f"{report.checkpoints} checkpoint{'' if report.checkpoints == 1 else 's'} "
            f"verified, root {report.root}"
        )
    else:
        console.print(f"[red]AUDIT LOG FAILS VERIFICATION[/red]: {escape(report.problem or '')}")
        for finding in report.rows:
            console.print(f"  {escape(str(finding))}")
    if not report.ok:
        raise typer.Exit(EXIT_TAMPERED)


def _read(path: Path) -> str:
    from facetrail.errors import AuditInputError

    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditInputError("cannot read this file", subject=str(path)) from exc


@audit_app.command("checkpoint")
def audit_checkpoint(as_json: JsonOpt = False) -> None:
    """Sign the current tree size and root as a C2SP checkpoint and push it to the witnesses.

    Needs the signing key (FACETRAIL_SIGNING_KEY_DIR): run it as the checkpointer, e.g. from
    cron. Other commands never read the key."""
    from facetrail.services.audit import log as audit

    cp = in_context(audit.make_checkpoint)
    if as_json:
        print_json(cp.to_json())
    else:
        print(cp.note(), end="")  # byte for byte: a signed note must not be re-wrapped


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the log's public key (a C2SP vkey) to hand to verifiers and witnesses."""
    from facetrail.services.audit import log as audit

    key = in_context(audit.public_key)
    print(key.encode())


@audit_app.command(
    "witness",
    epilog="Exit status: 0 cosigned (or nothing new); 1 the log was refused: shorter than "
    "what this witness saw, wiped, rewritten, or not signed by the log's key; 2 the input "
    "cannot be read.",
)
def audit_witness(
    state: Annotated[Path, typer.Option(help="This witness's own folder (key, what it saw).")],
    log_key: Annotated[str, typer.Option(help="The log's vkey, or a file holding it.")],
    request: Annotated[
        Path | None, typer.Option(help="One add-checkpoint request body (c2sp tlog-witness).")
    ] = None,
    restore: Annotated[
        Path | None,
        typer.Option(help="With --request: the log's signed restore statement sent with it."),
    ] = None,
    inbox: Annotated[
        Path | None, typer.Option(help="A witness inbox the log pushes requests to.")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="The log's database (or a copy) to monitor: a SQLite file or a PostgreSQL URL."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="This witness's key name (first run only).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the log against the last checkpoint this witness cosigned, and cosign the new one.

    Give exactly one of --request, --inbox, --db. Prints the cosignature lines (a
    c2sp.org/tlog-cosignature); the witness's own vkey is in STATE/witness.vkey."""
    from facetrail.governance.checkpoints import load_vkey
    from facetrail.governance.witness import Witness
    from facetrail.services.audit import witness as service

    if sum(x is not None for x in (request, inbox, db)) != 1:
        print_error("invalid_request", "give exactly one of --request, --inbox, --db")
        raise typer.Exit(EXIT_UNREADABLE)
    try:
        key = load_vkey(log_key)
        this = Witness.open(state, name)
        if request is not None:
            statement = _read(restore) if restore is not None else None
            report = service.witness_request(this, key, _read(request), statement)
        elif inbox is not None:
            report = service.witness_inbox(this, key, inbox)
        else:
            assert db is not None
            report = service.witness_database(this, key, db)
    except WitnessRefusedError as exc:
        if OUTPUT.json:
            report_error(exc)
        else:
            err_console.print(f"[red]WITNESS REFUSES THE LOG[/red] {escape(f'[{exc.code}] {exc}')}")
        raise typer.Exit(EXIT_TAMPERED) from exc
    except FacetrailError as exc:
        raise _unreadable(exc) from exc
    except OSError as exc:
        print_error("audit_input_unreadable", str(exc))
        raise typer.Exit(EXIT_UNREADABLE) from exc
    if as_json:
        print_json(report)
    else:
        for line in report.cosigned:
            print(line, end="")
        for done in report.restores:
            err_console.print(
                f"[yellow]THE LOG WAS RESTORED FROM A BACKUP[/yellow]: {done['lost']} entries "
                f"lost: it held {done['previous_size']}, and restarts from the backup's "
                f"{done['backup_size']} by its signed restore statement (kept in the witness "
                "folder's restores/)",
                highlight=False,
            )
        err_console.print(
            f"witness {escape(report.witness_key)}: {report.origin} at {report.latest_size} "
            f"entries ({len(report.cosigned)} cosigned, {len(report.already_seen)} seen before)"
        )


@audit_app.command("prove")
def audit_prove(entry: int, as_json: JsonOpt = False) -> None:
    """Inclusion proof of ENTRY in the latest checkpointed tree."""
    from facetrail.services.audit import log as audit

    proof = in_context(lambda ctx: audit.prove_entry(ctx, entry))
    print_json(proof) if as_json else console.print(
        f"entry {proof.entry} of {proof.tree_size}: leaf {proof.leaf_hash}\nroot {proof.root}"
        f"\npath " + " ".join(proof.path)
    )


@audit_app.command("consistency")
def audit_consistency(old: int, new: int, as_json: JsonOpt = False) -> None:
    """Consistency proof between stored checkpoints OLD and NEW (1-based)."""
    from facetrail.services.audit import log as audit

    proof = in_context(lambda ctx: audit.prove_consistency(ctx, old, new))
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
    from facetrail.cli.outputs import outputs_writable, write_output
    from facetrail.services.audit import log as audit

    run_service(lambda: outputs_writable(files=[out]))
    text = in_context(audit.export_checkpoints)
    if out:
        run_service(lambda: write_output(out, text))
    else:
        print(text)


@audit_app.command("entries")
def audit_entries(
    actor: Annotated[str | None, typer.Option(help="Only entries by this username.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="A kind, or the start of kinds ('search.' for all).")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Only entries about this subject.")] = None,
    since: Annotated[str | None, typer.Option(help="At or after this ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="At or before this ISO time.")] = None,
    after: Annotated[int, typer.Option(help="Entries after this position (a cursor).")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many (1..500).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The log's entries, oldest first, with filters (auditors and agency heads: the entries
    of their agency's people; system admins: all). Reading them is itself audited."""
    from facetrail.services.audit import audit_entries as service

    query = service.AuditEntryQuery(actor, kind, subject, since, until, after, limit)
    found = as_signed_in(lambda ctx, me: service.list_entries(ctx, me, query))
    print_listing(
        found,
        ["seq", "at", "actor", "kind", "subject", "details"],
        as_json=as_json,
        empty="no entries",
    )
