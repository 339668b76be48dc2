"""Stored searches as people read them: results, a candidate's source image, exports, the
searches that wait for a decision.

Authorisation: the requester, or a supervisor, investigator, head or auditor of the search's
agency; pending searches by its supervisors. Audit: every view, source-image view and export is
an entry (refusals too). Another reviewer's call stays hidden from a viewer who has not yet
made their own (blind second review).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import (
    ErasedError,
    NotFoundError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Actor, Permission, may_read_search
from facetrail.governance.blind import call_visible
from facetrail.governance.credentials import Principal
from facetrail.governance.policy import Policy
from facetrail.governance.records import asked_grounds
from facetrail.models.calibration import false_match_rate
from facetrail.services.accounts import (
    as_utc,
    refuse,
)
from facetrail.services.context import AppContext
from facetrail.services.searching._matching import crop
from facetrail.services.searching.search_model import (
    Candidate,
    CandidateSource,
    ProbeFace,
    Producer,
    ReviewView,
    SearchResult,
    Tombstone,
)
from facetrail.services.unit_of_work import First, action, refusals_recorded, require
from facetrail.store.schema import (
    Agency,
    AuditEntryRow,
    PolicyVersion,
    Review,
    SearchCandidate,
    SearchRecord,
    User,
)


@contextmanager
def viewing(
    ctx: AppContext,
    actor: Principal,
    search_id: int,
    kind: str,
    details: dict[str, object] | None = None,
    *,
    first: First | None = None,
) -> Iterator[tuple[Session, SearchRecord]]:
    """One audited look at a search: an action (``<kind>``, refusals too) that refuses unless
    the actor as they are now may read it (``governance.authority.may_read_search``); another
    agency's search answers exactly as a missing one (never "not yours"). The caller appends
    its entry in the block. -> (session, the search). ``first``: ``unit_of_work.action``'s."""
    subject = f"search:{search_id}"
    with action(ctx, actor, kind, subject, Permission.USE_ACCOUNT, details, first=first) as (
        session,
        who,
    ):
        yield session, _readable(session, who, search_id)


def _readable(session: Session, who: Actor, search_id: int) -> SearchRecord:
    """The search, if ``who`` may read it; else not found, as a missing one answers."""
    record = session.get(SearchRecord, search_id)
    if record is None or not may_read_search(who, record.requester_id, record.agency_id):
        raise NotFoundError("no such search", subject=f"search:{search_id}")
    return record


def get_search(
    ctx: AppContext, actor: Principal, search_id: int, *, include_crops: bool = True
) -> SearchResult:
    """A stored search and its candidates; every view is an audit entry."""
    with viewing(ctx, actor, search_id, "search.view") as (session, _):
        append(session, AuditEvent(actor.username, "search.view", f"search:{search_id}"))
    return load_result(ctx, actor, search_id, include_crops=include_crops)


_CANDIDATE_COLUMNS = [c for c in SearchCandidate.__table__.columns if c.name not in ("search_id",)]


def load_result(
    ctx: AppContext, viewer: Principal, search_id: int, *, include_crops: bool
) -> SearchResult:
    """The stored search as ``viewer`` may see it; a stored photo found replaced on disk
    (``BlobMismatchError``) refuses the view, recorded as ``search.view.refused``."""
    with refusals_recorded(ctx, viewer.username, "search.view", f"search:{search_id}"):
        return _load_result(ctx, viewer, search_id, include_crops=include_crops)


def _load_result(
    ctx: AppContext, viewer: Principal, search_id: int, *, include_crops: bool
) -> SearchResult:
    with ctx.sessions() as session:
        record = session.get(SearchRecord, search_id)
        assert record is not None
        agency = session.get(Agency, record.agency_id)
        requester = session.get(User, record.requester_id)
        assert agency is not None and requester is not None
        rows = session.execute(
            select(*_CANDIDATE_COLUMNS)
            .where(SearchCandidate.search_id == search_id)
            .order_by(SearchCandidate.gallery, SearchCandidate.rank)
        ).all()
        reviews = _review_views(session, viewer, [r.id for r in rows])
        producers = {g: Producer(**p) for g, p in json.loads(record.produced_by or "{}").items()}
        calibrations = {
            g: ctx.pipeline(p.pack).pack.manifest.calibration for g, p in producers.items()
        }
        candidates = [
            Candidate(
                id=r.id,
                gallery=r.gallery,
                rank=r.rank,
                score=r.score,
                false_match=false_match_rate(calibrations[r.gallery], r.score),
                template_id=r.template_id,
                image_sha256=r.image_sha256,
                image_name=r.image_name,
                subject_ref=r.subject_ref,
                face_index=r.face_index,
                bbox=(r.x1, r.y1, r.x2, r.y2),
                source=CandidateSource(**json.loads(r.source)),
                crop_jpeg=crop(ctx, r.image_sha256, (r.x1, r.y1, r.x2, r.y2))
                if include_crops and r.erased_at is None
                else None,
                reviews=reviews.get(r.id, ()),
                erased=_tombstone(r.erased_at, r.erasure_receipt),
            )
            for r in rows
        ]
        people = _usernames(session, (record.decided_by, record.outcome_by))
        asked = asked_grounds(session, record.id)
        return SearchResult(
            search_id=record.id,
            status=record.status,
            agency=agency.name,
            requester=requester.username,
            case_number=record.case_number,
            offense=record.offense,
            galleries=json.loads(record.galleries),
            produced_by=producers,
            probe_faces=[_probe_face_from(f) for f in json.loads(record.probe_faces or "[]")],
            fused_probes=len(json.loads(record.probes)),
            candidates=candidates,
            second_review=record.second_review,
            outcome=record.outcome,
            seconds=_search_seconds(session, record),
            withheld=record.withheld or 0,
            decided_by=people.get(record.decided_by),
            decision_note=record.decision_note,
            outcome_by=people.get(record.outcome_by),
            outcome_note=record.outcome_note,
            likely_false_match_rate=likely_rate(session, record),
            crowd_faces=asked.crowd_faces,
            attestation=asked.attestation,
            protected_reason=asked.protected_reason,
        )


def likely_rate(session: Session, record: SearchRecord) -> float:
    """The bar for a likely candidate in the policy version the search ran under."""
    return policy_of(session, record).likely_false_match_rate


def policy_of(session: Session, record: SearchRecord) -> Policy:
    """The policy version the search was asked under (its row as stored: ``search`` and
    ``decide_search`` checked it against the log when they acted)."""
    body = session.scalar(
        select(PolicyVersion.body).where(
            PolicyVersion.agency_id == record.agency_id,
            PolicyVersion.version == record.policy_version,
        )
    )
    return Policy.from_json(body) if body is not None else Policy()


def _usernames(session: Session, ids: Iterable[int | None]) -> dict[int | None, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def _search_seconds(session: Session, record: SearchRecord) -> float:
    """How long the search ran, as its ``search.run`` entry says (the time between asking and
    completing would count the wait for a supervisor's approval too)."""
    if record.status != "done":
        return 0.0
    details = session.scalar(
        select(AuditEntryRow.details).where(
            AuditEntryRow.subject == f"search:{record.id}", AuditEntryRow.kind == "search.run"
        )
    )
    if details is None:
        return 0.0
    seconds = json.loads(details).get("seconds")
    return float(seconds) if isinstance(seconds, int | float) else 0.0


def _tombstone(erased_at: datetime | None, receipt: str | None) -> Tombstone | None:
    when = as_utc(erased_at)
    if when is None:
        return None
    return Tombstone(when.isoformat(timespec="seconds"), receipt or "")


def _probe_face_from(body: dict[str, Any]) -> ProbeFace:
    body = dict(body)
    body["bbox"] = tuple(body["bbox"])
    body["warnings"] = tuple(body.get("warnings", ()))
    return ProbeFace(**body)


def reviews_seen_by(
    session: Session, viewer_id: int, candidate_ids: Sequence[int]
) -> tuple[dict[int, list[tuple[Review, str]]], set[int]]:
    """The calls on ``candidate_ids`` the viewer may see (candidate -> (review, reviewer's
    name) by stage), and the candidates whose calls are hidden from them (blind review:
    ``governance.blind``). Every path that shows a call goes through here."""
    by_candidate: dict[int, list[tuple[Review, str]]] = {}
    needed: dict[int, int] = {}
    for review, name, second in session.execute(
        select(Review, User.username, SearchRecord.second_review)
        .join(User, User.id == Review.reviewer_id)
        .join(SearchRecord, SearchRecord.id == Review.search_id)
        .where(Review.candidate_id.in_(list(candidate_ids)))
        .order_by(Review.candidate_id, Review.stage)
    ):
        by_candidate.setdefault(review.candidate_id, []).append((review, name))
        needed[review.candidate_id] = 2 if second else 1
    seen: dict[int, list[tuple[Review, str]]] = {}
    hidden: set[int] = set()
    for cid, items in by_candidate.items():
        if call_visible(viewer_id, [r.reviewer_id for r, _ in items], needed[cid]):
            seen[cid] = items
        else:
            hidden.add(cid)
    return seen, hidden


def _review_views(
    session: Session, viewer: Principal, candidate_ids: list[int]
) -> dict[int, tuple[ReviewView, ...]]:
    seen, _hidden = reviews_seen_by(session, viewer.user_id, candidate_ids)
    return {
        cid: tuple(
            ReviewView(r.stage, n, r.decision, r.note, r.created_at.isoformat()) for r, n in items
        )
        for cid, items in seen.items()
    }


def candidate_image(ctx: AppContext, actor: Principal, candidate_id: int) -> tuple[str, bytes]:
    """The whole source image behind a candidate (name, bytes); each view is audited, and so
    is a refusal (another agency's candidate answers as not found)."""
    row = _viewed_candidate(ctx, actor, candidate_id, "search.source_view")
    subject = f"candidate:{candidate_id}"
    with refusals_recorded(ctx, actor.username, "search.source_view", subject):
        return row.image_name, ctx.blobs.get(row.image_sha256)


def candidate_crop(ctx: AppContext, actor: Principal, candidate_id: int) -> bytes:
    """The candidate's face cut from its source image, as JPEG (what a reviewer compares with
    the probe). Audited as ``search.crop_view``, refusals too."""
    row = _viewed_candidate(ctx, actor, candidate_id, "search.crop_view")
    subject = f"candidate:{candidate_id}"
    with refusals_recorded(ctx, actor.username, "search.crop_view", subject):
        return crop(ctx, row.image_sha256, (row.x1, row.y1, row.x2, row.y2))


def _viewed_candidate(
    ctx: AppContext, actor: Principal, candidate_id: int, kind: str
) -> SearchCandidate:
    subject = f"candidate:{candidate_id}"
    with ctx.sessions() as session:
        search_id = session.scalar(
            select(SearchCandidate.search_id).where(SearchCandidate.id == candidate_id)
        )
    if search_id is None:
        refuse(
            ctx, actor.username, kind, subject, NotFoundError("no such candidate", subject=subject)
        )
    with viewing(ctx, actor, search_id, kind, {"candidate": candidate_id}) as (session, _):
        row = session.get(SearchCandidate, candidate_id)
        if row is None:
            raise NotFoundError("no such candidate", subject=subject)
        if row.erased_at is not None:
            stone = _tombstone(row.erased_at, row.erasure_receipt)
            assert stone is not None
            raise ErasedError(
                f"this person was erased on {stone.erased_at} (receipt {stone.receipt_id}): "
                "only the candidate's record is kept",
                subject=subject,
            )
        append(
            session,
            AuditEvent(
                actor.username,
                kind,
                f"search:{row.search_id}",
                {"candidate": candidate_id, "image": row.image_sha256},
            ),
        )
        session.expunge(row)
    return row


def export_search(ctx: AppContext, actor: Principal, search_id: int) -> dict[str, Any]:
    """The search, its candidates (without images) and reviews as JSON-able data; audited."""
    with viewing(ctx, actor, search_id, "search.export") as (session, _):
        entry = append(session, AuditEvent(actor.username, "search.export", f"search:{search_id}"))
    result = load_result(ctx, actor, search_id, include_crops=False)
    body = asdict(result)
    body["audit_entry"] = entry.seq
    return body


def pending_searches(ctx: AppContext, actor: Principal) -> list[SearchResult]:
    """Searches of the actor's agency that wait for a supervisor's decision."""
    who = require(ctx, actor, "search.pending", actor.username, Permission.DECIDE_SEARCHES)
    with ctx.sessions() as session:
        ids = list(
            session.scalars(
                select(SearchRecord.id)
                .where(SearchRecord.agency_id == who.agency_id, SearchRecord.status == "pending")
                .order_by(SearchRecord.id)
            )
        )
    return [load_result(ctx, actor, i, include_crops=False) for i in ids]
