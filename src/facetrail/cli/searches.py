"""Stored searches: approval, audited viewing, review, outcome, export; case disclosure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from facetrail.cli.app import JsonOpt, case_app, run_service, searches_app, signed_in
from facetrail.cli.outputs import outputs_writable
from facetrail.cli.render import (
    console,
    print_json,
    show_search_result,
)
from facetrail.services import results, review, search
from facetrail.services.views import plain

NoteOpt = Annotated[str, typer.Option(help="Why: recorded in the audit log.")]
#: the choices the review service takes (review.DECISIONS, review.OUTCOMES), for --help
Decision = Literal["possible_match", "not_a_match", "inconclusive"]
Outcome = Literal["lead", "no_lead"]

# --- approval ---------------------------------------------------------------------------


@searches_app.command("pending")
def searches_pending(as_json: JsonOpt = False) -> None:
    """Searches of your agency that wait for a supervisor's decision."""
    with signed_in() as (ctx, me):
        waiting = run_service(lambda: results.pending_searches(ctx, me))
    if as_json:
        print_json(waiting)
        return
    if not waiting:
        console.print("no searches wait for a decision")
        return
    table = Table("search", "requester", "case", "offense", "galleries", "probes")
    for s in waiting:
        table.add_row(
            str(s.search_id),
            escape(s.requester),
            escape(s.case_number),
            escape(s.offense),
            escape(", ".join(s.galleries)),
            str(s.fused_probes),
        )
    console.print(table)


def _decide(search_id: int, approve: bool, note: str, as_json: bool) -> None:
    with signed_in() as (ctx, me):
        status = run_service(lambda: search.decide_search(ctx, me, search_id, approve, note))
    if as_json:
        print_json({"search_id": search_id, "decision": status})
    elif approve:
        console.print(
            f"search {search_id} approved and run; its requester sees the results with "
            f"'facetrail searches show {search_id}'"
        )
    else:
        console.print(f"search {search_id} denied; its requester is told why")


@searches_app.command("approve")
def searches_approve(search_id: int, note: NoteOpt, as_json: JsonOpt = False) -> None:
    """Approve a pending search of your agency (not your own); it runs at once."""
    _decide(search_id, True, note, as_json)


@searches_app.command("deny")
def searches_deny(search_id: int, note: NoteOpt, as_json: JsonOpt = False) -> None:
    """Deny a pending search of your agency (not your own)."""
    _decide(search_id, False, note, as_json)


# --- viewing ----------------------------------------------------------------------------


@searches_app.command("show")
def searches_show(
    search_id: int,
    crops: Annotated[Path | None, typer.Option(help="Write candidate crops here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A stored search with its candidates and the reviews you may see (each view audited)."""
    run_service(lambda: outputs_writable(folders=[crops]))
    with signed_in() as (ctx, me):
        result = run_service(
            lambda: results.get_search(ctx, me, search_id, include_crops=crops is not None)
        )
    show_search_result(result, crops, as_json)


@searches_app.command("image")
def searches_image(
    candidate_id: int,
    out: Annotated[Path, typer.Option(help="File to write the source image to.")],
) -> None:
    """Write the whole source image behind a candidate (each view audited)."""
    run_service(lambda: outputs_writable(files=[out]))
    with signed_in() as (ctx, me):
        name, data = run_service(lambda: results.candidate_image(ctx, me, candidate_id))
    out.write_bytes(data)
    console.print(f"wrote {escape(name)} ({len(data)} bytes) to {escape(str(out))}")


@searches_app.command("export")
def searches_export(
    search_id: int,
    out: Annotated[Path | None, typer.Option(help="Write the JSON here (default: stdout).")] = None,
) -> None:
    """The search, its candidates (without images) and reviews as JSON (audited)."""
    run_service(lambda: outputs_writable(files=[out]))
    with signed_in() as (ctx, me):
        body = run_service(lambda: results.export_search(ctx, me, search_id))
    text = json.dumps(plain(body), indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        console.print(f"exported search {search_id} to {escape(str(out))}")


# --- review and outcome -----------------------------------------------------------------


@searches_app.command("review")
def searches_review(
    candidate_id: int,
    decision: Annotated[Decision, typer.Option(help="Your call on the candidate.")],
    note: NoteOpt,
    as_json: JsonOpt = False,
) -> None:
    """Your call on one candidate; where the policy asks, a second person reviews blind."""
    with signed_in() as (ctx, me):
        info = run_service(lambda: review.review_candidate(ctx, me, candidate_id, decision, note))
    if as_json:
        print_json(info)
        return
    console.print(
        f"review {info.stage} of candidate {info.candidate_id} (search {info.search_id}): "
        f"{info.decision}"
        + ("; it waits for a second, independent review" if info.second_review_pending else "")
    )


@searches_app.command("outcome")
def searches_outcome(
    search_id: int,
    outcome: Annotated[Outcome, typer.Argument(help="A lead, or no lead.")],
    note: NoteOpt,
    as_json: JsonOpt = False,
) -> None:
    """Close a search as a lead (needs a candidate confirmed by review) or no lead."""
    with signed_in() as (ctx, me):
        info = run_service(lambda: review.record_outcome(ctx, me, search_id, outcome, note))
    if as_json:
        print_json(info)
        return
    confirmed = ", ".join(str(c) for c in info.confirmed) or "none"
    console.print(f"search {info.search_id}: {info.outcome} (confirmed candidates: {confirmed})")
    console.print(f"[yellow]{escape(info.notice)}[/yellow]")


# --- case disclosure --------------------------------------------------------------------


@case_app.command("disclose")
def case_disclose(
    case: str,
    out: Annotated[Path | None, typer.Option(help="Write the JSON here (default: stdout).")] = None,
) -> None:
    """Every search of your agency for a case, its reviews, outcome and audit entries (audited)."""
    run_service(lambda: outputs_writable(files=[out]))
    with signed_in() as (ctx, me):
        disclosure = run_service(lambda: review.case_disclosure(ctx, me, case))
    text = disclosure.to_json()
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        console.print(
            f"disclosure of case {escape(case)}: {len(disclosure.searches)} searches, "
            f"audit entry {disclosure.audit_entry}, written to {escape(str(out))}"
        )
