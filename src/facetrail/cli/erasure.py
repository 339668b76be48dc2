"""A person's rights: ``erasure open|approve|show|decide|complete|cancel|verify-receipt``,
``erasure holds`` and ``erasure hold`` and ``retention run`` (``services.rights.erasure``,
``services.rights.legal_holds``, ``services.rights.retention``: gallery admins open and decide, the
agency head or a privacy officer approves and completes, the head decides legal holds; every step
and refusal audited). ``erasure verify-receipt`` needs no home and no
account: the log's public key and the receipt are all it reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from facetrail.cli.app import (
    JsonOpt,
    as_signed_in,
    erasure_app,
    retention_app,
    run_service,
    signed_in,
)
from facetrail.cli.outputs import OutputOf, outputs_writable, read_probe_bytes, write_output
from facetrail.cli.render import console, print_json, print_rows
from facetrail.errors import AuditInputError
from facetrail.governance.checkpoints import load_vkey
from facetrail.governance.receipts import open_receipt
from facetrail.services.rights import erasure, legal_holds, retention
from facetrail.services.rights.erasure import ErasureView
from facetrail.services.searching.search_model import ProbeImage


def _photo(path: Path) -> ProbeImage:
    data: bytes = run_service(lambda: read_probe_bytes(path))
    return ProbeImage(str(path), data)


def _show(view: ErasureView, as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    console.print(
        f"erasure {view.id} ({escape(view.reference)}): [bold]{view.status}[/bold]; identity "
        f"checked: {escape(view.identity_check)}; opt-out kept: "
        f"{'yes' if view.consent_blocklist else 'no'}"
    )
    if view.status == "requested":
        console.print(
            f"waits for the agency head or a privacy officer: facetrail erasure approve {view.id}"
            " --note TEXT (nothing is matched until then)"
        )
        return
    if view.approved_by:
        console.print(f"approved by {escape(view.approved_by)} at {view.approved_at}")
    print_rows(
        ["match", "gallery", "image", "face", "score", "FMR", "decision"],
        [
            [
                m.id,
                m.gallery,
                m.image_sha256[:16],
                m.face_index,
                f"{m.score:.3f}",
                f"{m.fmr:.1e}",
                m.decision or "(to decide)",
            ]
            for m in view.matches
        ],
        empty="no face of the person was found in any gallery",
    )
    if view.receipt_id:
        console.print(f"receipt {view.receipt_id}")


@erasure_app.command("open")
def erasure_open(
    photos: Annotated[list[Path], typer.Argument(help="Photos of the person (1 to 20).")],
    reference: Annotated[str, typer.Option(help="Your reference for the request.")],
    identity_check: Annotated[str, typer.Option(help="How the person's identity was checked.")],
    consent: Annotated[
        bool,
        typer.Option(
            "--consent/--no-consent",
            help="The person agrees that an opt-out template be kept to refuse re-enrolment.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Record a person's erasure request with their photos; it waits for the agency head or a
    privacy officer to approve it before any gallery is searched."""
    images = tuple(_photo(p) for p in photos)
    request = erasure.ErasureRequest(reference, identity_check, consent, images)
    view = as_signed_in(lambda ctx, me: erasure.open_erasure(ctx, me, request))
    _show(view, as_json)


@erasure_app.command("approve")
def erasure_approve(
    erasure_id: int,
    note: Annotated[str, typer.Option(help="Why it may go ahead (10+ characters, recorded).")],
    as_json: JsonOpt = False,
) -> None:
    """Let a request's matching run (the opener's agency head or a privacy officer, never the
    opener): the person's faces are found in every gallery. Counts against the agency's daily
    search limit; audited."""
    view = as_signed_in(lambda ctx, me: erasure.approve_erasure(ctx, me, erasure_id, note))
    _show(view, as_json)


@erasure_app.command("holds")
def erasure_holds(as_json: JsonOpt = False) -> None:
    """The legal holds of your agency (agency heads): images of open cases that an erasure or
    retention would remove."""
    holds = as_signed_in(legal_holds.list_holds)
    if as_json:
        print_json(holds)
        return
    print_rows(
        ["hold", "gallery", "image", "cases", "cause", "status"],
        [
            [h.id, h.gallery, h.image_sha256[:16], ", ".join(h.cases), h.cause, h.status]
            for h in holds
        ],
        empty="no legal hold",
    )


@erasure_app.command("hold")
def erasure_hold(
    hold_id: int,
    release: Annotated[
        bool, typer.Option("--release/--keep", help="Let the image go, or keep it.")
    ],
    note: Annotated[str, typer.Option(help="Why (10+ characters, recorded).")],
    as_json: JsonOpt = False,
) -> None:
    """Decide a legal hold (the agency head): release the image, or keep it (the erasure or
    retention then goes on without it)."""
    view = as_signed_in(lambda ctx, me: legal_holds.decide_hold(ctx, me, hold_id, release, note))
    if as_json:
        print_json(view)
        return
    console.print(f"hold {view.id}: {view.status}")


@erasure_app.command("show")
def erasure_show(erasure_id: int, as_json: JsonOpt = False) -> None:
    """One request: the faces found, the decisions, the receipt once done."""
    view = as_signed_in(lambda ctx, me: erasure.show_erasure(ctx, me, erasure_id))
    _show(view, as_json)


@erasure_app.command("decide")
def erasure_decide(
    erasure_id: int,
    confirm: Annotated[list[int] | None, typer.Option(help="A match that is the person.")] = None,
    reject: Annotated[list[int] | None, typer.Option(help="A match that is not.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Confirm or reject the faces found (match ids, repeatable). Audited."""
    view = as_signed_in(
        lambda ctx, me: erasure.decide_matches(ctx, me, erasure_id, confirm or [], reject or [])
    )
    _show(view, as_json)


@erasure_app.command("complete")
def erasure_complete(
    erasure_id: int,
    receipt_out: Annotated[
        Path | None, typer.Option(help="Write the signed receipt here (for the person).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Confirm the decisions (the agency head or a privacy officer, not whoever decided):
    remove every confirmed face's images and all that came from them but those held for open
    cases; sign the receipt."""
    run_service(lambda: outputs_writable(files=[receipt_out]))
    with signed_in() as (ctx, me):
        view = run_service(lambda: erasure.complete_erasure(ctx, me, erasure_id))
        receipt = view.receipt
        if receipt_out is not None and receipt:
            of = OutputOf(ctx, me.username, "erasure.complete")
            run_service(lambda: write_output(receipt_out, receipt, of))
    _show(view, as_json)


@erasure_app.command("cancel")
def erasure_cancel(
    erasure_id: int,
    reason: Annotated[str, typer.Option(help="Why (recorded).")],
    as_json: JsonOpt = False,
) -> None:
    """Close an open request without removing anything; its kept templates go."""
    view = as_signed_in(lambda ctx, me: erasure.cancel_erasure(ctx, me, erasure_id, reason))
    _show(view, as_json)


@erasure_app.command("verify-receipt")
def erasure_verify_receipt(
    receipt: Annotated[Path, typer.Argument(help="The receipt file.")],
    key: Annotated[str, typer.Option(help="The log's public key: a vkey file or its text.")],
    as_json: JsonOpt = False,
) -> None:
    """Check a receipt offline against the log's public key; print what it says."""

    def check() -> tuple[str, dict[str, object]]:
        try:
            text = receipt.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditInputError(f"cannot read {receipt}: {exc}", subject=str(receipt)) from exc
        return open_receipt(text, load_vkey(key))

    rid, body = run_service(check)
    if as_json:
        print_json({"receipt_id": rid, "verified": True, "receipt": body})
        return
    console.print(f"[green]receipt {rid} verifies[/green]")
    console.print(escape(json.dumps(body, indent=2)))


@retention_app.command("run")
def retention_run(as_json: JsonOpt = False) -> None:
    """Purge what every source's retention period and every agency's probe retention say has
    expired (idempotent; the service also runs it on a schedule)."""
    report = as_signed_in(retention.retention_run)
    if as_json:
        print_json(report)
        return
    print_rows(
        ["gallery", "source", "days", "images", "faces", "templates", "tombstones"],
        [
            [s.gallery, s.source, s.retention_days, s.images, s.faces, s.templates, s.tombstones]
            for s in report.sources
        ],
        empty="no source had images past its retention period",
    )
    console.print(f"searches whose probes were purged: {report.searches_with_probes_purged}")
