"""1:N search: the ONLY door to candidate results.

Every search is bound to a case: ``search`` takes a ``SearchRequest`` (who asks, case number,
offense category, justification, the requester's attestation, galleries, probes; for a network
operator, the member agency it runs for), checks the agency's policy *before any probe is
processed*, then counts the faces in the probes (a crowd probe is refused, or held for
approval, as the policy says: ``_crowd``), and then either runs it or leaves it pending until
a supervisor decides (``decide_search``). Results are stored with the pack and index that
produced them, read later through ``services.searching.results``: leads, never identifications.

Authorisation: searching needs the investigator role in the requester's own agency, or the
network operator role for a member agency of the operator's network; deciding needs a
supervisor of the search's agency who is not the requester. Audit: requests, refusals,
approvals, denials, runs and failures are entries, each in the same transaction as the action.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select

from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RecordMismatchError,
    StateError,
)
from facetrail.governance import fields
from facetrail.governance.attestation import ATTESTATION
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may_decide_search, may_follow_up_search
from facetrail.governance.credentials import Principal
from facetrail.governance.events import SearchApproved, SearchDenied
from facetrail.governance.records import search_problem
from facetrail.services.authorization import (
    inactive_reason,
    name_of_agency,
    utc_now,
)
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_users
from facetrail.services.searching._crowd import crowd_of
from facetrail.services.searching._matching import GalleryRun, run_galleries
from facetrail.services.searching._requests import store_request
from facetrail.services.searching._search_policy import RequestCheck, request_check
from facetrail.services.searching._search_store import (
    fresh_result,
    log_failure,
    mark_done,
    store_failure,
    store_runs,
)
from facetrail.services.searching.results import load_result, policy_of
from facetrail.services.searching.search_model import (
    LEAD_NOTICE,
    Candidate,
    CandidateSource,
    ProbeFace,
    ProbeImage,
    Producer,
    ReviewView,
    SearchRequest,
    SearchResult,
)
from facetrail.services.signin.authentication import TokenUse
from facetrail.services.unit_of_work import (
    ReadBefore,
    action,
    record_refusal,
    refusals_recorded,
    refuse,
    system_action,
)
from facetrail.store.schema import (
    Agency,
    SearchRecord,
    User,
)

__all__ = [
    "LEAD_NOTICE",
    "MIN_DECISION_NOTE",
    "Candidate",
    "CandidateSource",
    "ProbeFace",
    "ProbeImage",
    "Producer",
    "ReviewView",
    "SearchRequest",
    "SearchResult",
    "decide_search",
    "decision_note_problem",
    "resume_stranded",
    "run_approved",
    "search",
]

#: The shortest note a supervisor approves or denies a search with.
MIN_DECISION_NOTE = 10


def search(
    ctx: AppContext,
    request: SearchRequest,
    *,
    include_crops: bool = True,
    token_use: TokenUse | None = None,
    now: datetime | None = None,
) -> SearchResult:
    """Check policy, then run the search (or leave it pending for a supervisor) and record
    the request, what it returned and what produced it.

    Policy is checked before any probe is looked at; a refusal stores nothing and is audited
    as ``search.refused``. A search policy lets run now is then run, and stored in one locked
    transaction that checks the request again (so parallel searches cannot pass the daily
    limit) and records the request, its candidates and what produced them, or refuses it:
    nothing of a search is stored, or shown, unless all of it is. A search that needs
    approval is stored as pending (checked and stored in one locked transaction).
    ``token_use``: the bearer token the request came with (``authentication.check_token``),
    checked again, and its use recorded, in the storing transaction (or the refusal's)."""
    now = now or utc_now()
    request = replace(request, galleries=tuple(dict.fromkeys(request.galleries)))
    who = request.requester.username
    details: dict[str, object] = {
        "offense": request.offense,
        "galleries": list(request.galleries),
        "on_behalf_of": request.on_behalf_of,
        "attested": request.attested,
    }
    subject = request.case_number or "(no case number)"
    try:
        with ctx.reads() as session:
            checked: RequestCheck | None = request_check(session, request, now)
        assert checked is not None
        problem, policy = checked.problem, checked.policy
    except FacetrailError as raised:  # a record found tampered with: refused alike
        problem, checked = raised, None
    agency = None if checked is None or checked.agency is None else checked.agency.name
    if problem is not None:
        record_refusal(
            ctx, who, "search", subject, problem, details, first=token_use, agency=agency
        )
        raise problem
    crowd = crowd_of(ctx, request, policy)
    if crowd.is_crowd and crowd.action == "refuse":
        refused = crowd.refusal()
        faces = details | {"faces": list(crowd.faces)}
        record_refusal(ctx, who, "search", subject, refused, faces, first=token_use, agency=agency)
        raise refused
    if policy.needs_approval(request.offense) or crowd.is_crowd:
        runs: list[GalleryRun] | None = None
        error: FacetrailError | None = None
    else:
        started = time.perf_counter()
        galleries = list(request.galleries)
        refuse_poor = policy.low_quality_probes == "refuse"
        runs, error = run_galleries(
            ctx, galleries, request.probes, request.top, request.face, refuse_poor, crowd.analysed
        )
    known = (
        None
        if checked is None or checked.actor is None
        else ReadBefore(checked.actor, checked.log_size)
    )
    with action(
        ctx,
        request.requester,
        "search",
        subject,
        Permission.SEARCH,
        details,
        first=token_use,
        read_before=known,
    ) as (session, _):
        record, agency_name, pending, reason = store_request(
            ctx, session, request, now, runs, error, checked, crowd.faces
        )
        if pending or runs is None:
            pass  # not run (the policy asks for approval now, if it did not before)
        elif error is not None:
            log_failure(session, record, who, agency_name, error)
        else:
            seconds = time.perf_counter() - started
            ids = store_runs(session, record, runs, who, agency_name, seconds)
    if pending:
        deliver_outbox(ctx)
        return load_result(ctx, request.requester, record.id, include_crops=False)
    if runs is None:  # approval was needed when checked first, but no longer: run it now
        return _execute(ctx, record.id, who, include_crops=include_crops)
    if error is not None:
        raise error
    # Made once the lock is released: the stored run is what it shows (crops read from blobs).
    same = checked is not None and checked.version == record.policy_version
    likely = policy.likely_false_match_rate if same else None  # None: read it again
    fresh = fresh_result(ctx, record, agency_name, who, runs, ids, include_crops, seconds, likely)
    return replace(fresh, attestation=ATTESTATION, protected_reason=reason)


def decision_note_problem(note: str) -> InvalidRequestError | None:
    """Why a supervisor's note is too short to decide a search with, or None (the web sends
    a short one back with what was typed before asking to confirm)."""
    if len(note.strip()) >= MIN_DECISION_NOTE:
        return None
    return InvalidRequestError(
        f"say why in a note of at least {MIN_DECISION_NOTE} characters: the person who asked "
        "reads it, and so do the auditors",
        subject="note",
    )


def decide_search(
    ctx: AppContext, actor: Principal, search_id: int, approve: bool, note: str
) -> str:
    """A supervisor of the search's agency, not its requester, approves (it runs) or denies.
    Checked and decided in one locked transaction: of two supervisors deciding at once, the
    second finds the search decided and is refused. Another agency's search answers as not
    found. Audited, refusals too."""
    kind = "search.approve" if approve else "search.deny"
    subject = f"search:{search_id}"
    now = utc_now()
    with action(ctx, actor, kind, subject, Permission.USE_ACCOUNT) as (session, who):
        note = fields.check_free_text("note", note)
        if (short := decision_note_problem(note)) is not None:
            raise short
        record = session.get(SearchRecord, search_id)
        if record is None or record.agency_id != who.agency_id:
            raise NotFoundError("no such search", subject=subject)
        if record.requester_id == actor.user_id:
            raise PermissionDeniedError("no one approves their own search", subject=subject)
        if not may_decide_search(who, record.requester_id, record.agency_id):
            raise PermissionDeniedError(
                "only a supervisor of the search's agency decides", subject=subject
            )
        if record.status != "pending":
            raise StateError(f"search is {record.status}, not pending", subject=subject)
        if tampered := search_problem(session, record):
            raise RecordMismatchError(tampered, subject=subject)
        if approve:
            requester = session.get(User, record.requester_id)
            assert requester is not None
            inactive = inactive_reason(requester, now)
            if inactive is not None:
                raise inactive
        record.status = "approved" if approve else "denied"
        record.decided_by = actor.user_id
        record.decision_note = note
        notify_users(
            session,
            [record.requester_id],
            f"search {search_id} {'approved' if approve else 'denied'}",
            f"{actor.username}: {note}",
        )
        decided = SearchApproved if approve else SearchDenied
        event = decided(
            actor=actor.username,
            agency=name_of_agency(session, record.agency_id),
            search_id=search_id,
            note=note,
        )
        append(session, event.entry())
    deliver_outbox(ctx)
    if approve:
        _execute(ctx, search_id, actor.username, include_crops=False)
    return "approved" if approve else "denied"


def run_approved(ctx: AppContext, actor: Principal, search_id: int) -> SearchResult:
    """Run an approved search whose run never completed (a crash or a system fault in
    between): by its requester or a supervisor of its agency. Audited, refusals too."""
    subject = f"search:{search_id}"
    with action(ctx, actor, "search.rerun", subject, Permission.FOLLOW_UP_SEARCHES) as (
        session,
        who,
    ):
        record = session.get(SearchRecord, search_id)
        if record is None or record.agency_id != who.agency_id:
            raise NotFoundError("no such search", subject=subject)
        if not may_follow_up_search(who, record.requester_id):
            raise PermissionDeniedError(
                "only the requester or a supervisor runs it again", subject=subject
            )
        if record.status == "failed" and record.fault == "system":
            record.status = "approved"  # a system fault is not the requester's doing
        if record.status != "approved":
            raise StateError(f"search is {record.status}, not approved", subject=subject)
        append(session, AuditEvent(actor.username, "search.rerun", subject))
    return _execute(ctx, search_id, actor.username, include_crops=True)


def resume_stranded(ctx: AppContext, *, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Run approved searches whose run never stored a result (housekeeping): -> how many."""
    cutoff = utc_now() - older_than
    with ctx.sessions() as session:
        ids = list(
            session.scalars(
                select(SearchRecord.id).where(
                    SearchRecord.status == "approved", SearchRecord.created_at < cutoff
                )
            )
        )
    done = 0
    for search_id in ids:
        try:
            _execute(ctx, search_id, "system", include_crops=False)
            done += 1
        except FacetrailError:
            continue  # recorded by _execute (failed) or run meanwhile by someone else
    return done


#: A search, its agency's name and its requester's (built once, with a bound parameter).
_RECORD_AND_NAMES = (
    select(SearchRecord, Agency.name, User.username)
    .join(Agency, Agency.id == SearchRecord.agency_id)
    .join(User, User.id == SearchRecord.requester_id)
    .where(SearchRecord.id == bindparam("search_id"))
)


def _execute(
    ctx: AppContext,
    search_id: int,
    actor: str,
    *,
    include_crops: bool,
) -> SearchResult:
    """Run an approved search and store what it returned, with what produced it. The store
    re-checks, under the lock, that the search is still approved and not yet run, so a
    search runs (and is recorded) once however many processes try."""
    started = time.perf_counter()
    with ctx.sessions() as session:
        record = session.get(SearchRecord, search_id)
        if record is None or record.status != "approved":
            raise StateError("search is not waiting to run", subject=f"search:{search_id}")
        if tampered := search_problem(session, record):
            # Edited behind facetrail's back (another gallery, a skipped approval): refused.
            refuse(
                ctx,
                actor,
                "search.run",
                f"search:{search_id}",
                RecordMismatchError(tampered, subject=f"search:{search_id}"),
            )
        galleries = json.loads(record.galleries)
        # the probe approved, or none: a photo replaced on disk since is refused
        with refusals_recorded(ctx, actor, "search.run", f"search:{search_id}"):
            probes = tuple(
                ProbeImage(p["name"], ctx.blobs.get(p["sha256"])) for p in json.loads(record.probes)
            )
        top, face = record.top, record.face
        refuse_poor = policy_of(session, record).low_quality_probes == "refuse"
    runs, error = run_galleries(ctx, galleries, probes, top, face, refuse_poor)
    with system_action(ctx, "search.run", f"search:{search_id}", actor=actor) as session:
        # One round trip: the record and the names its result shows.
        found = session.execute(_RECORD_AND_NAMES, {"search_id": search_id}).first()
        assert found is not None
        record, agency_name, requester_name = found
        if record.status != "approved":
            raise StateError(f"search is {record.status} already", subject=f"search:{search_id}")
        if error is not None:
            store_failure(session, record, actor, agency_name, error)
        else:
            seconds = time.perf_counter() - started
            mark_done(record, runs)
            ids = store_runs(session, record, runs, actor, agency_name, seconds)
    if error is not None:
        raise error
    # Made once the lock is released: the stored run is what it shows (crops read from blobs).
    return fresh_result(ctx, record, agency_name, requester_name, runs, ids, include_crops, seconds)
