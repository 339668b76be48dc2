"""Stored searches: listing, approval, audited viewing, review, outcome, export; cases and
their disclosure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from facetrail.cli.app import JsonOpt, as_signed_in, case_app, run_service, searches_app, signed_in
from facetrail.cli.outputs import OutputOf, outputs_writable, write_output
from facetrail.cli.render import (
    console,
    is_terminal,
    print_json,
    print_listing,
    print_rows,
    show_search_result,
)
from facetrail.services.searching import listings, results, review, review_queue, search
from facetrail.services.searching.disclosure_document import disclosure_pdf
from facetrail.services.views import plain
from facetrail.store.vocabulary import SEARCH_STATUSES

NoteOpt = Annotated[str, typer.Option(help="Why: recorded in the audit log.")]
#: the choices the review service takes (review.DECISIONS, review.OUTCOMES), for --help
Decision = Literal["possible_match", "not_a_match", "inconclusive"]
Outcome = Literal["lead", "no_lead"]

# --- lists ------------------------------------------------------------------------------


@searches_app.command("list")
def searches_list(
    mine: Annotated[bool, typer.Option("--mine", help="Only the searches you asked for.")] = False,
    case: Annotated[str | None, typer.Option(help="Only this case's searches.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Asked for on or after this ISO date or time (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Asked for on or before this ISO date or time (UTC).")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help=f"Only searches in this state: {', '.join(SEARCH_STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1..500).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Searches of your agency, newest first (its investigators, supervisors, head and
    auditors), or with --mine the ones you asked for. Each listing is audited."""
    query = listings.SearchQuery(mine, case, since, until, status, limit)
    found = as_signed_in(lambda ctx, me: listings.find_searches(ctx, me, query))
    print_listing(
        found,
        [
            ("search", "search_id"),
            ("requested", "requested_at"),
            "requester",
            ("case", "case_number"),
            "offense",
            "galleries",
            "status",
            "outcome",
        ],
        as_json=as_json,
        empty="no searches",
    )


# --- approval ---------------------------------------------------------------------------


@searches_app.command("pending")
def searches_pending(as_json: JsonOpt = False) -> None:
    """Searches of your agency that wait for a supervisor's decision, with the justification,
    the second reason an offense close to protected activity needs, whether it is a crowd
    probe, and the probe photos to weigh (supervisors; the listing is audited)."""
    waiting = as_signed_in(listings.approval_queue)
    if as_json:
        print_json(waiting)
        return
    print_rows(
        (
            "search",
            "requested",
            "requester",
            "case",
            "offense",
            "galleries",
            "probes",
            "justification",
            "second_reason",
            "crowd_faces",
            "yours_to_decide",
            "problem",
        ),
        [
            (
                s.search_id,
                s.requested_at,
                s.requester,
                s.case_number,
                s.offense,
                s.galleries,
                s.probe_names,
                s.justification,
                s.protected_reason or "",
                s.crowd_faces or "",
                s.decidable,
                s.problem,
            )
            for s in waiting
        ],
        empty="no searches wait for a decision",
    )


def _decide(search_id: int, approve: bool, note: str, as_json: bool) -> None:
    status = as_signed_in(lambda ctx, me: search.decide_search(ctx, me, search_id, approve, note))
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
        of = OutputOf(ctx, me.username, "search.view")
        run_service(lambda: show_search_result(result, crops, as_json, of))


@searches_app.command("image")
def searches_image(
    candidate_id: int,
    out: Annotated[Path, typer.Option(help="File to write the source image to.")],
) -> None:
    """Write the whole source image behind a candidate (each view audited)."""
    run_service(lambda: outputs_writable(files=[out]))
    with signed_in() as (ctx, me):
        name, data = run_service(lambda: results.candidate_image(ctx, me, candidate_id))
        of = OutputOf(ctx, me.username, "search.source_view")
        run_service(lambda: write_output(out, data, of))
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
        if out is not None:
            of = OutputOf(ctx, me.username, "search.export")
            run_service(lambda: write_output(out, text + "\n", of))
    if out is None:
        print(text)
    else:
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
    info = as_signed_in(
        lambda ctx, me: review.review_candidate(ctx, me, candidate_id, decision, note)
    )
    if as_json:
        print_json(info)
        return
    console.print(
        f"review {info.stage} of candidate {info.candidate_id} (search {info.search_id}): "
        f"{info.decision}"
        + ("; it waits for a second, independent review" if info.second_review_pending else "")
    )


@searches_app.command("waiting")
def searches_waiting(as_json: JsonOpt = False) -> None:
    """Searches of your agency with candidates waiting for your review, second reviews
    first (investigators and supervisors; counts only, never another reviewer's call; the
    listing is audited)."""
    waiting = as_signed_in(review_queue.review_queue)
    if as_json:
        print_json(waiting)
        return
    print_rows(
        ("search", "ran", "requester", "case", "offense", "second_reviews", "not_reviewed"),
        [
            (
                w.search_id,
                w.ran_at,
                w.requester,
                w.case_number,
                w.offense,
                w.second_reviews,
                w.first_reviews,
            )
            for w in waiting
        ],
        empty="no review waits for you",
    )


@searches_app.command("ask-review")
def searches_ask_review(
    search_id: int,
    colleague: Annotated[str, typer.Argument(help="Who you ask: a reviewer of your agency.")],
    as_json: JsonOpt = False,
) -> None:
    """Ask a named colleague for a search's second review; they are told in their inbox."""
    asked = as_signed_in(
        lambda ctx, me: review_queue.ask_second_review(ctx, me, search_id, colleague)
    )
    if as_json:
        print_json({"search_id": search_id, "asked": asked})
        return
    console.print(f"{asked} is asked for the second review of search {search_id}")


@searches_app.command("outcome")
def searches_outcome(
    search_id: int,
    outcome: Annotated[Outcome, typer.Argument(help="A lead, or no lead.")],
    note: NoteOpt,
    as_json: JsonOpt = False,
) -> None:
    """Close a search as a lead (needs a candidate confirmed by review) or no lead."""
    info = as_signed_in(lambda ctx, me: review.record_outcome(ctx, me, search_id, outcome, note))
    if as_json:
        print_json(info)
        return
    confirmed = ", ".join(str(c) for c in info.confirmed) or "none"
    console.print(f"search {info.search_id}: {info.outcome} (confirmed candidates: {confirmed})")
    console.print(f"[yellow]{escape(info.notice)}[/yellow]")


# --- cases ------------------------------------------------------------------------------


@case_app.command("list")
def case_list(as_json: JsonOpt = False) -> None:
    """The cases of your agency you may disclose (its supervisors, head and auditors: all;
    investigators: those they searched for), latest first. Each listing is audited."""
    found = as_signed_in(listings.list_cases)
    print_listing(
        found,
        [
            ("case", "case_number"),
            "searches",
            "pending",
            "leads",
            ("first_requested", "first_requested_at"),
            ("last_requested", "last_requested_at"),
        ],
        as_json=as_json,
        empty="no cases",
    )


@case_app.command("show")
def case_show(case: str, as_json: JsonOpt = False) -> None:
    """A case's disclosure: every search of your agency for it, who asked and why, who
    allowed it, its reviews and outcome (audited; 'case disclose' writes it to a file)."""
    disclosure = as_signed_in(lambda ctx, me: review.case_disclosure(ctx, me, case))
    if as_json:
        print_json(disclosure)
        return
    if is_terminal():
        console.print(
            f"case {escape(disclosure.case_number)} of {escape(disclosure.agency)}: "
            f"{len(disclosure.searches)} searches, {len(disclosure.refused)} refused; "
            f"disclosed by {escape(disclosure.generated_by)} (audit entry "
            f"{disclosure.audit_entry})"
        )
    print_rows(
        ("search", "requested", "by", "offense", "status", "decided_by", "candidates", "outcome"),
        [
            (
                s["search_id"],
                s["requested_at"],
                s["requested_by"],
                s["offense"],
                s["status"],
                s["decided_by"],
                s["candidates_returned"],
                s["outcome"],
            )
            for s in disclosure.searches
        ],
    )
    if is_terminal():
        console.print(f"[yellow]{escape(disclosure.notice)}[/yellow]")


@case_app.command("disclose")
def case_disclose(
    case: str,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write it here (default: JSON on stdout); a name ending in .pdf gets the "
            "printable document."
        ),
    ] = None,
) -> None:
    """Every search of your agency for a case, its reviews, outcome and audit entries (audited)."""
    run_service(lambda: outputs_writable(files=[out]))
    with signed_in() as (ctx, me):
        disclosure = run_service(lambda: review.case_disclosure(ctx, me, case))
        text = disclosure.to_json()
        if out is not None:
            of = OutputOf(ctx, me.username, "case.disclose")
            body: str | bytes = text + "\n"
            if out.suffix.lower() == ".pdf":
                body = disclosure_pdf(disclosure)
            run_service(lambda: write_output(out, body, of))
    if out is None:
        print(text)
    else:
        console.print(
            f"disclosure of case {escape(case)}: {len(disclosure.searches)} searches, "
            f"audit entry {disclosure.audit_entry}, written to {escape(str(out))}"
        )
