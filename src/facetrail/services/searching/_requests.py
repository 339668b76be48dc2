"""A search request stored: checked again under the action's lock (unless nothing was
committed since it was checked first), then recorded with its probes and its
``search.request`` entry, pending for a supervisor or done (private to ``search``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from facetrail.errors import FacetrailError
from facetrail.governance import fields
from facetrail.governance.attestation import ATTESTATION, protected_reason_asked
from facetrail.governance.audit import append, size_at_lock
from facetrail.governance.credentials import Role
from facetrail.governance.events import SearchRequested
from facetrail.services.context import AppContext
from facetrail.services.notifications import notify_users, role_holders
from facetrail.services.searching._crowd import Crowd
from facetrail.services.searching._matching import GalleryRun
from facetrail.services.searching._search_policy import RequestCheck, request_problem
from facetrail.services.searching._search_store import insert_search, mark_done, mark_failed
from facetrail.services.searching.search_model import SearchRequest
from facetrail.store.schema import (
    SearchRecord,
)

__all__ = ["store_request"]


def store_request(
    ctx: AppContext,
    session: Session,
    request: SearchRequest,
    now: datetime,
    runs: list[GalleryRun] | None = None,
    error: FacetrailError | None = None,
    checked: RequestCheck | None = None,
    faces: tuple[int, ...] = (),
) -> tuple[SearchRecord, str, bool, str | None]:
    """Inside the locked action: check the request again, then store it with its probes and
    its ``search.request`` entry -> (the record, its agency's name, whether it awaits
    approval: then its approvers are notified, and the second reason its offense needed,
    when the policy marks it). ``runs`` or ``error``: what the search returned, or how it
    failed, when it ran already: unless it now awaits approval, it is stored done or failed
    at once (its candidates, or its failure's entry, are the caller's to add). Raises the
    request's problem (a refusal). ``checked``: the check made before the search ran; it
    stands if nothing was committed since (the log is the size it was). ``faces``: the
    searchable faces counted in each probe, judged against the policy read here (a crowd
    probe is refused, or held for approval, as it says)."""
    who = request.requester.username
    if (
        checked is not None
        and checked.log_size is not None
        and checked.log_size == size_at_lock(session)
    ):
        problem, agency, version, policy = checked[:4]
    else:
        problem, agency, version, policy = request_problem(session, request, now)
    if problem is not None:
        raise problem
    assert agency is not None
    crowd = Crowd(faces, policy.crowd_faces, policy.crowd_probes)
    if crowd.is_crowd and crowd.action == "refuse":
        raise crowd.refusal()
    pending = policy.needs_approval(request.offense) or crowd.is_crowd
    # Only once policy allows it is a probe stored (never read before).
    probes = [{"name": p.name, "sha256": ctx.blobs.put(p.data)} for p in request.probes]
    record = SearchRecord(
        agency_id=agency.id,
        requester_id=request.requester.user_id,
        case_number=fields.check_case_number(request.case_number),
        offense=request.offense,
        justification=fields.check_free_text("justification", request.justification),
        galleries=json.dumps(list(request.galleries)),
        probes=json.dumps(probes),
        top=request.top,
        face=request.face,
        policy_version=version,
        status="pending" if pending else "approved",
        needs_approval=pending,
        second_review=policy.second_reviewer,
        probe_purge_after=now + timedelta(days=policy.probe_retention_days),
        created_at=now,
    )
    if not pending and error is not None:
        mark_failed(record, error)  # stored as it ends: no second write of the row
    elif not pending and runs is not None:
        mark_done(record, runs)
    insert_search(session, record)
    marked = protected_reason_asked(policy, record.offense)
    requested = SearchRequested(
        actor=who,
        agency=agency.name,
        search_id=record.id,
        case=record.case_number,
        offense=record.offense,
        justification=record.justification,
        galleries=list(request.galleries),
        probes=[p["sha256"] for p in probes],
        on_behalf_of=request.on_behalf_of,
        policy_version=version,
        needs_approval=pending,
        second_review=record.second_review,
        top=record.top,
        face=record.face,
        faces=list(faces),
        crowd=crowd.is_crowd,
        attestation=ATTESTATION,
        protected=marked,
        protected_reason=(
            fields.check_free_text("protected_reason", request.protected_reason) if marked else None
        ),
    )
    second_reason = requested.protected_reason
    append(session, requested.entry())
    if pending:
        notify_users(
            session,
            role_holders(session, agency.id, (Role.SUPERVISOR,), exclude=request.requester.user_id),
            f"search {record.id} awaits your approval",
            f"{who} asks to search {', '.join(request.galleries)} "
            f"for case {record.case_number} ({record.offense}): {record.justification}"
            + (f"\n\nIt is {crowd.in_words()}." if crowd.is_crowd else ""),
        )
    return record, agency.name, pending, second_reason
