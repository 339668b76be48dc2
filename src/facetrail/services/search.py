"""1:N search and 1:1 verification: the ONLY door to candidate results.

Every search is bound to a case: ``search`` takes a ``SearchRequest`` (who asks, case number,
offense category, justification, galleries, probes; for a network operator, the member agency
it runs for), checks the agency's policy *before any probe is processed*, and then either runs
it or leaves it pending until a supervisor decides (``decide_search``). Results are stored with
the pack and index that produced them; viewing them (``get_search``), a candidate's source image
(``candidate_image``) and exporting (``export_search``) are each audited. Results are
investigative leads, never identifications.

Authorisation: searching needs the investigator role in the requester's own agency, or the
network operator role for a member agency of the operator's network; deciding needs a
supervisor of the search's agency who is not the requester; reading needs to be the requester
or a supervisor, investigator, head or auditor of the search's agency. Audit: requests,
refusals, approvals, denials, runs, failures, views, source views and exports are entries,
each in the same transaction as the action.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NoReturn

import cv2
import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    CaseNumberError,
    DailyLimitError,
    FaceIndexError,
    FacetrailError,
    GalleryNotAllowedError,
    InvalidRequestError,
    JustificationError,
    NoFaceError,
    NotFoundError,
    OffenseNotAllowedError,
    PackMismatchError,
    PermissionDeniedError,
    StateError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.policy import Policy
from facetrail.imaging.decode import decode_image
from facetrail.models.calibration import FalseMatchEstimate, false_match_rate
from facetrail.pipeline.faces import PLAIN, Face
from facetrail.services.accounts import (
    agency_by_name,
    as_utc,
    current_policy,
    inactive_reason,
    refuse,
    utc_now,
)
from facetrail.services.context import AppContext
from facetrail.services.galleries import get_gallery_row
from facetrail.services.indexing import open_index
from facetrail.services.notifications import deliver_outbox, notify_users
from facetrail.store.schema import (
    Agency,
    Image,
    Review,
    SearchCandidate,
    SearchRecord,
    Source,
    TemplateRow,
    User,
    UserRole,
)
from facetrail.store.schema import Face as FaceRow

LEAD_NOTICE = (
    "Results are investigative leads only, never an identification: "
    "they must be reviewed by trained people and corroborated."
)


@dataclass(frozen=True)
class ProbeImage:
    name: str
    data: bytes


@dataclass(frozen=True)
class ProbeFace:
    probe: str
    index: int
    bbox: tuple[float, float, float, float]
    detector_score: float
    inter_eye_px: float
    blur: float
    yaw_deg: float
    used: bool


@dataclass(frozen=True)
class CandidateSource:
    name: str
    kind: str
    legal_basis: str
    supplied_by: str
    collected_at: str


@dataclass(frozen=True)
class SearchRequest:
    requester: Principal
    case_number: str
    offense: str
    justification: str
    galleries: tuple[str, ...]
    probes: tuple[ProbeImage, ...]
    #: for a network operator: the member agency the search runs for
    on_behalf_of: str | None = None
    top: int = 50
    #: Face to search in each probe (0 = largest, the default).
    face: int | None = None


@dataclass(frozen=True)
class ReviewView:
    stage: int
    reviewer: str
    decision: str
    note: str
    at: str


@dataclass(frozen=True)
class Candidate:
    id: int
    gallery: str
    rank: int
    score: float
    false_match: FalseMatchEstimate | None
    template_id: int
    image_sha256: str
    image_name: str
    subject_ref: str | None
    face_index: int
    bbox: tuple[float, float, float, float]
    source: CandidateSource
    crop_jpeg: bytes | None
    #: the reviews this viewer may see (another reviewer's call stays hidden until the
    #: viewer has made their own)
    reviews: tuple[ReviewView, ...] = ()


@dataclass(frozen=True)
class Producer:
    """What produced one gallery's candidates."""

    pack: str
    index: str
    size: int


@dataclass(frozen=True)
class SearchResult:
    search_id: int
    #: pending | denied | failed | done
    status: str
    agency: str
    requester: str
    case_number: str
    offense: str
    galleries: list[str]
    produced_by: dict[str, Producer]
    probe_faces: list[ProbeFace]
    fused_probes: int
    candidates: list[Candidate]
    second_review: bool
    outcome: str | None
    seconds: float
    notice: str = LEAD_NOTICE


def probe_template(
    ctx: AppContext, pack: str, probes: tuple[ProbeImage, ...], face: int | None
) -> tuple[np.ndarray, list[ProbeFace]]:
    """Analyse every probe image, pick one face in each, fuse their templates (mean, renorm)."""
    if not probes:
        raise InvalidRequestError("at least one probe image is needed", subject="probes")
    pipeline = ctx.pipeline(pack)
    listed: list[ProbeFace] = []
    chosen: list[np.ndarray] = []
    for probe in probes:
        image = decode_image(probe.data, name=probe.name, limits=ctx.limits)
        faces = pipeline.analyse(image.bgr)
        if not faces:
            raise NoFaceError("no face found in the probe image", subject=probe.name)
        pick = 0 if face is None else face
        if not 0 <= pick < len(faces):
            raise FaceIndexError(
                f"face {pick} asked for, the probe has {len(faces)} (0..{len(faces) - 1})",
                subject=probe.name,
            )
        listed += [_probe_face(probe.name, f, f.index == pick) for f in faces]
        chosen.append(_template_of(faces[pick], pack))
    fused = np.mean(np.stack(chosen), axis=0)
    return (fused / max(float(np.linalg.norm(fused)), 1e-12)).astype(np.float32), listed


def _template_of(face: Face, pack: str) -> np.ndarray:
    template = face.template(PLAIN)
    if template.pack != pack:
        raise PackMismatchError(f"template from {template.pack}, gallery uses {pack}")
    return template.vector


def _probe_face(name: str, f: Face, used: bool) -> ProbeFace:
    b = f.detection.bbox
    return ProbeFace(
        name,
        f.index,
        (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
        f.quality.detector_score,
        f.quality.inter_eye_px,
        f.quality.blur,
        f.quality.yaw_deg,
        used,
    )


def _crop(ctx: AppContext, sha256: str, bbox: tuple[float, float, float, float]) -> bytes:
    image = decode_image(ctx.blobs.get(sha256), name=sha256, limits=ctx.limits).bgr
    x1, y1, x2, y2 = bbox
    mx, my = (x2 - x1) * 0.25, (y2 - y1) * 0.25
    h, w = image.shape[:2]
    crop = image[
        max(0, int(y1 - my)) : min(h, int(y2 + my)), max(0, int(x1 - mx)) : min(w, int(x2 + mx))
    ]
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return bytes(buf) if ok else b""


# --- the governed door ----------------------------------------------------------------------


def _refuse_search(ctx: AppContext, request: SearchRequest, error: FacetrailError) -> NoReturn:
    refuse(
        ctx,
        request.requester.username,
        "search",
        request.case_number or "(no case number)",
        error,
        details={
            "offense": request.offense,
            "galleries": list(request.galleries),
            "on_behalf_of": request.on_behalf_of,
        },
    )


def _policy_problem(
    session: Session, request: SearchRequest, now: datetime
) -> tuple[FacetrailError | None, Agency | None, int, Policy]:
    """Everything checked before a probe is looked at: who, for whom, why, where, how often."""
    actor = request.requester
    user = session.get(User, actor.user_id)
    if user is None:
        return NotFoundError("no such user", subject=actor.username), None, 0, Policy()
    inactive = inactive_reason(user, now)
    if inactive is not None:
        return inactive, None, 0, Policy()
    roles = frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
    if request.on_behalf_of is not None:
        if Role.NETWORK_OPERATOR.value not in roles:
            return (
                PermissionDeniedError(
                    "only a network operator searches on behalf of another agency",
                    subject=request.on_behalf_of,
                ),
                None,
                0,
                Policy(),
            )
        agency = agency_by_name(session, request.on_behalf_of)
        own = session.get(Agency, user.agency_id)
        if own is None or own.network_id is None or own.network_id != agency.network_id:
            return (
                PermissionDeniedError(
                    "that agency is not a member of your network", subject=agency.name
                ),
                None,
                0,
                Policy(),
            )
    else:
        agency_row = session.get(Agency, user.agency_id)
        assert agency_row is not None
        agency = agency_row
        if Role.INVESTIGATOR.value not in roles:
            return (
                PermissionDeniedError("only investigators search", subject=actor.username),
                agency,
                0,
                Policy(),
            )
    version, policy = current_policy(session, agency.id)
    problem: FacetrailError | None = None
    case = request.case_number.strip()
    if not case:
        problem = CaseNumberError("a case number is required", subject="case_number")
    elif not re.fullmatch(policy.case_pattern, case):
        problem = CaseNumberError(
            f"{case!r} does not match the agency's case number pattern {policy.case_pattern!r}",
            subject="case_number",
        )
    elif request.offense not in policy.offenses:
        problem = OffenseNotAllowedError(
            f"offense category {request.offense!r} is not allowed by {agency.name}'s policy "
            f"(allowed: {', '.join(policy.offenses)})",
            subject="offense",
        )
    elif len(request.justification.strip()) < policy.min_justification:
        problem = JustificationError(
            f"justification needs at least {policy.min_justification} characters",
            subject="justification",
        )
    elif not request.galleries:
        problem = InvalidRequestError("name at least one gallery", subject="galleries")
    elif outside := [g for g in request.galleries if g not in policy.galleries]:
        problem = GalleryNotAllowedError(
            f"gallery {outside[0]!r} is outside {agency.name}'s policy", subject=outside[0]
        )
    elif not 1 <= request.top <= 1000:
        problem = InvalidRequestError("top must be between 1 and 1000", subject="top")
    elif not request.probes:
        problem = InvalidRequestError("at least one probe image is needed", subject="probes")
    else:
        today = session.scalar(
            select(func.count(SearchRecord.id)).where(
                SearchRecord.requester_id == user.id,
                SearchRecord.created_at >= now - timedelta(days=1),
            )
        )
        if (today or 0) >= policy.daily_limit:
            problem = DailyLimitError(
                f"{policy.daily_limit} searches in the last 24 hours: the daily limit",
                subject=actor.username,
            )
    return problem, agency, version, policy


def search(
    ctx: AppContext,
    request: SearchRequest,
    *,
    include_crops: bool = True,
    now: datetime | None = None,
) -> SearchResult:
    """Check policy, then run the search (or leave it pending for a supervisor) and record
    the request, what it returned and what produced it in one transaction."""
    now = now or utc_now()
    with ctx.sessions() as session:
        problem, agency, version, policy = _policy_problem(session, request, now)
    if problem is not None:
        _refuse_search(ctx, request, problem)
    assert agency is not None
    pending = policy.needs_approval(request.offense)
    # Blobs first: a crash leaves an unreferenced blob, never a record without its probe.
    probes = [{"name": p.name, "sha256": ctx.blobs.put(p.data)} for p in request.probes]
    started = time.perf_counter()
    runs: list[_GalleryRun] = []
    error: FacetrailError | None = None
    if not pending:
        try:
            runs = [
                _search_gallery(ctx, g, request.probes, request.top, request.face)
                for g in request.galleries
            ]
        except FacetrailError as exc:
            error = exc
    with ctx.transaction() as session:
        record = SearchRecord(
            agency_id=agency.id,
            requester_id=request.requester.user_id,
            case_number=request.case_number.strip(),
            offense=request.offense,
            justification=request.justification.strip(),
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
        if runs:  # ran already: inserted in its final state, no UPDATE needed
            _mark_done(record, runs)
        session.add(record)
        session.flush()
        search_id = record.id
        who = request.requester.username
        append(
            session,
            AuditEvent(
                who,
                "search.request",
                f"search:{search_id}",
                {
                    "agency": agency.name,
                    "case": record.case_number,
                    "offense": record.offense,
                    "justification": record.justification,
                    "galleries": list(request.galleries),
                    "probes": [p["sha256"] for p in probes],
                    "on_behalf_of": request.on_behalf_of,
                    "policy_version": version,
                    "needs_approval": pending,
                },
            ),
        )
        if pending:
            notify_users(
                session,
                _supervisors(session, agency.id, exclude=request.requester.user_id),
                f"search {search_id} awaits your approval",
                f"{who} asks to search {', '.join(request.galleries)} "
                f"for case {record.case_number} ({record.offense}): {record.justification}",
            )
        elif error is not None:
            _store_failure(session, record, who, error)
        else:
            seconds = time.perf_counter() - started
            ids = _store_runs(session, record, runs, who, seconds)
            result = _fresh_result(ctx, record, agency.name, who, runs, ids, include_crops, seconds)
    if pending:
        deliver_outbox(ctx)
        return _load(ctx, request.requester, search_id, include_crops=False)
    if error is not None:
        raise error
    return result


def _supervisors(session: Session, agency_id: int, exclude: int) -> list[int]:
    return list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.agency_id == agency_id,
                User.status == "active",
                UserRole.role == Role.SUPERVISOR.value,
                User.id != exclude,
            )
        )
    )


def decide_search(
    ctx: AppContext, actor: Principal, search_id: int, approve: bool, note: str
) -> str:
    """A supervisor of the search's agency, not its requester, approves (it runs) or denies."""
    kind = "search.approve" if approve else "search.deny"
    subject = f"search:{search_id}"
    now = utc_now()
    with ctx.sessions() as session:
        record = session.get(SearchRecord, search_id)
        problem: FacetrailError | None = None
        if record is None:
            problem = NotFoundError("no such search", subject=subject)
        elif record.requester_id == actor.user_id:
            problem = PermissionDeniedError("no one approves their own search", subject=subject)
        elif not actor.has(Role.SUPERVISOR) or actor.agency_id != record.agency_id:
            problem = PermissionDeniedError(
                "only a supervisor of the search's agency decides", subject=subject
            )
        elif record.status != "pending":
            problem = StateError(f"search is {record.status}, not pending", subject=subject)
        elif approve:
            requester = session.get(User, record.requester_id)
            assert requester is not None
            problem = inactive_reason(requester, now)
    if problem is not None:
        refuse(ctx, actor.username, kind, subject, problem)
    with ctx.transaction() as session:
        record = session.get(SearchRecord, search_id)
        assert record is not None
        record.status = "approved" if approve else "denied"
        record.decided_by = actor.user_id
        record.decision_note = note
        notify_users(
            session,
            [record.requester_id],
            f"search {search_id} {'approved' if approve else 'denied'}",
            f"{actor.username}: {note}",
        )
        append(session, AuditEvent(actor.username, kind, subject, {"note": note}))
    deliver_outbox(ctx)
    if approve:
        _execute(ctx, search_id, actor.username)
    return "approved" if approve else "denied"


def _execute(ctx: AppContext, search_id: int, actor: str) -> None:
    """Run an approved search and store what it returned, with what produced it."""
    started = time.perf_counter()
    with ctx.sessions() as session:
        record = session.get(SearchRecord, search_id)
        assert record is not None and record.status == "approved"
        galleries: list[str] = json.loads(record.galleries)
        probes = tuple(
            ProbeImage(p["name"], ctx.blobs.get(p["sha256"])) for p in json.loads(record.probes)
        )
        top, face = record.top, record.face
    error: FacetrailError | None = None
    try:
        runs = [_search_gallery(ctx, g, probes, top, face) for g in galleries]
    except FacetrailError as exc:
        error = exc
    with ctx.transaction() as session:
        record = session.get(SearchRecord, search_id)
        assert record is not None
        if error is not None:
            _store_failure(session, record, actor, error)
        else:
            _mark_done(record, runs)
            _store_runs(session, record, runs, actor, time.perf_counter() - started)
    if error is not None:
        raise error


def _store_failure(
    session: Session, record: SearchRecord, actor: str, error: FacetrailError
) -> None:
    record.status = "failed"
    record.completed_at = utc_now()
    append(
        session,
        AuditEvent(
            actor,
            "search.failed",
            f"search:{record.id}",
            {"code": error.code, "reason": str(error)},
        ),
    )


def _mark_done(record: SearchRecord, runs: list[_GalleryRun]) -> None:
    record.status = "done"
    record.completed_at = utc_now()
    record.produced_by = json.dumps({r.gallery: r.producer.__dict__ for r in runs})
    record.probe_faces = json.dumps([asdict(f) for f in runs[0].probe_faces])


def _store_runs(
    session: Session, record: SearchRecord, runs: list[_GalleryRun], actor: str, seconds: float
) -> list[int]:
    """Store the candidates of a search marked done (-> their ids, in order); log the run."""
    rows = [
        {
            "search_id": record.id,
            "gallery": run.gallery,
            "rank": c.rank,
            "score": c.score,
            "template_id": c.template_id,
            "image_sha256": c.image_sha256,
            "image_name": c.image_name,
            "subject_ref": c.subject_ref,
            "face_index": c.face_index,
            "x1": c.bbox[0],
            "y1": c.bbox[1],
            "x2": c.bbox[2],
            "y2": c.bbox[3],
            "source": json.dumps(c.source.__dict__),
        }
        for run in runs
        for c in run.candidates
    ]
    ids: list[int] = []
    if rows:  # one plain executemany (RETURNING would go row by row on SQLite), then the ids
        session.execute(insert(SearchCandidate), rows)
        assigned = {
            (gallery, rank): cid
            for cid, gallery, rank in session.execute(
                select(SearchCandidate.id, SearchCandidate.gallery, SearchCandidate.rank).where(
                    SearchCandidate.search_id == record.id
                )
            )
        }
        ids = [assigned[(run.gallery, c.rank)] for run in runs for c in run.candidates]
    produced = {r.gallery: r.producer.__dict__ for r in runs}
    append(
        session,
        AuditEvent(
            actor,
            "search.run",
            f"search:{record.id}",
            {
                "produced_by": produced,
                "candidates": {
                    r.gallery: [[c.template_id, round(c.score, 6)] for c in r.candidates]
                    for r in runs
                },
                "seconds": round(seconds, 4),
            },
        ),
    )
    return ids


def _fresh_result(
    ctx: AppContext,
    record: SearchRecord,
    agency: str,
    requester: str,
    runs: list[_GalleryRun],
    ids: list[int],
    include_crops: bool,
    seconds: float,
) -> SearchResult:
    """The result of a search that just ran, from memory (no one has reviewed it yet)."""
    candidates = [c for run in runs for c in run.candidates]
    return SearchResult(
        search_id=record.id,
        status=record.status,
        agency=agency,
        requester=requester,
        case_number=record.case_number,
        offense=record.offense,
        galleries=[r.gallery for r in runs],
        produced_by={r.gallery: r.producer for r in runs},
        probe_faces=runs[0].probe_faces,
        fused_probes=len(json.loads(record.probes)),
        candidates=[
            replace(
                c,
                id=cid,
                crop_jpeg=_crop(ctx, c.image_sha256, c.bbox) if include_crops else None,
            )
            for c, cid in zip(candidates, ids, strict=True)
        ],
        second_review=record.second_review,
        outcome=None,
        seconds=seconds,
    )


@dataclass(frozen=True)
class _GalleryRun:
    gallery: str
    producer: Producer
    probe_faces: list[ProbeFace]
    candidates: list[Candidate]


def _search_gallery(
    ctx: AppContext, gallery_name: str, probes: tuple[ProbeImage, ...], top: int, face: int | None
) -> _GalleryRun:
    """The bare search of one gallery: probes -> fused template -> top-k candidates.

    No policy and no audit here: ``search`` and ``decide_search`` are the only callers (and
    ``bench/audit_cost.py``, which measures what governance adds on top of this).
    """
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, gallery_name)
        pack = ctx.pipeline(gallery.pack).pack
        query, probe_faces = probe_template(ctx, gallery.pack, probes, face)
        index, _ = open_index(ctx, session, gallery)
        scores, ids = index.search(query[None], top)
        hits = [(float(sc), int(i)) for sc, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        rows = {
            int(t.id): (f, img, src)
            for t, f, img, src in session.execute(
                select(TemplateRow, FaceRow, Image, Source)
                .join(FaceRow, TemplateRow.face_id == FaceRow.id)
                .join(Image, FaceRow.image_id == Image.id)
                .join(Source, Image.source_id == Source.id)
                .where(TemplateRow.id.in_([i for _, i in hits]))
            )
        }
        candidates = []
        for rank, (score, tid) in enumerate(hits, start=1):
            f, img, src = rows[tid]
            candidates.append(
                Candidate(
                    id=0,
                    gallery=gallery.name,
                    rank=rank,
                    score=score,
                    false_match=false_match_rate(pack.manifest.calibration, score),
                    template_id=tid,
                    image_sha256=img.sha256,
                    image_name=img.original_name,
                    subject_ref=img.subject_ref,
                    face_index=f.face_index,
                    bbox=(f.x1, f.y1, f.x2, f.y2),
                    source=CandidateSource(
                        src.name, src.kind, src.legal_basis, src.supplied_by, src.collected_at
                    ),
                    crop_jpeg=None,
                )
            )
        producer = Producer(gallery.pack, index.describe(), len(index))
    return _GalleryRun(gallery.name, producer, probe_faces, candidates)


def _may_read(actor: Principal, record: SearchRecord) -> bool:
    return actor.user_id == record.requester_id or (
        actor.agency_id == record.agency_id
        and actor.has_any(Role.SUPERVISOR, Role.INVESTIGATOR, Role.AGENCY_HEAD, Role.AUDITOR)
    )


def _readable(ctx: AppContext, actor: Principal, search_id: int, kind: str) -> SearchRecord:
    with ctx.sessions() as session:
        record = session.get(SearchRecord, search_id)
        if record is None:
            raise NotFoundError("no such search", subject=f"search:{search_id}")
        if not _may_read(actor, record):
            refuse(
                ctx,
                actor.username,
                kind,
                f"search:{search_id}",
                PermissionDeniedError("not a search of your agency", subject=f"search:{search_id}"),
            )
        return record


def get_search(
    ctx: AppContext, actor: Principal, search_id: int, *, include_crops: bool = True
) -> SearchResult:
    """A stored search and its candidates; every view is an audit entry."""
    _readable(ctx, actor, search_id, "search.view")
    with ctx.transaction() as session:
        append(session, AuditEvent(actor.username, "search.view", f"search:{search_id}"))
    return _load(ctx, actor, search_id, include_crops=include_crops)


_CANDIDATE_COLUMNS = [c for c in SearchCandidate.__table__.columns if c.name not in ("search_id",)]


def _load(
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
        reviews = _reviews_seen_by(session, viewer, [r.id for r in rows])
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
                crop_jpeg=_crop(ctx, r.image_sha256, (r.x1, r.y1, r.x2, r.y2))
                if include_crops
                else None,
                reviews=reviews.get(r.id, ()),
            )
            for r in rows
        ]
        completed = as_utc(record.completed_at)
        created = as_utc(record.created_at)
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
            seconds=(completed - created).total_seconds() if completed and created else 0.0,
        )


def _probe_face_from(body: dict[str, Any]) -> ProbeFace:
    body = dict(body)
    body["bbox"] = tuple(body["bbox"])
    return ProbeFace(**body)


def _reviews_seen_by(
    session: Session, viewer: Principal, candidate_ids: list[int]
) -> dict[int, tuple[ReviewView, ...]]:
    """Blind review: another person's call stays hidden from a viewer who has not yet made
    their own call on that candidate, until both stages are in."""
    by_candidate: dict[int, list[tuple[Review, str]]] = {}
    for review, name in session.execute(
        select(Review, User.username)
        .join(User, User.id == Review.reviewer_id)
        .where(Review.candidate_id.in_(candidate_ids))
        .order_by(Review.stage)
    ):
        by_candidate.setdefault(review.candidate_id, []).append((review, name))
    seen: dict[int, tuple[ReviewView, ...]] = {}
    for cid, items in by_candidate.items():
        complete = len(items) >= 2
        mine = any(r.reviewer_id == viewer.user_id for r, _ in items)
        shown = [(r, n) for r, n in items if complete or mine or r.reviewer_id == viewer.user_id]
        seen[cid] = tuple(
            ReviewView(r.stage, n, r.decision, r.note, r.created_at.isoformat()) for r, n in shown
        )
    return seen


def candidate_image(ctx: AppContext, actor: Principal, candidate_id: int) -> tuple[str, bytes]:
    """The whole source image behind a candidate (name, bytes); each view is audited."""
    with ctx.sessions() as session:
        row = session.get(SearchCandidate, candidate_id)
        if row is None:
            raise NotFoundError("no such candidate", subject=f"candidate:{candidate_id}")
        search_id, sha, name = row.search_id, row.image_sha256, row.image_name
    _readable(ctx, actor, search_id, "search.source_view")
    data = ctx.blobs.get(sha)
    with ctx.transaction() as session:
        append(
            session,
            AuditEvent(
                actor.username,
                "search.source_view",
                f"search:{search_id}",
                {"candidate": candidate_id, "image": sha},
            ),
        )
    return name, data


def export_search(ctx: AppContext, actor: Principal, search_id: int) -> dict[str, Any]:
    """The search, its candidates (without images) and reviews as JSON-able data; audited."""
    _readable(ctx, actor, search_id, "search.export")
    with ctx.transaction() as session:
        entry = append(session, AuditEvent(actor.username, "search.export", f"search:{search_id}"))
    result = _load(ctx, actor, search_id, include_crops=False)
    body = asdict(result)
    body["audit_entry"] = entry.seq
    return body


def pending_searches(ctx: AppContext, actor: Principal) -> list[SearchResult]:
    """Searches of the actor's agency that wait for a supervisor's decision."""
    if not actor.has(Role.SUPERVISOR):
        raise PermissionDeniedError("only supervisors decide searches", subject=actor.username)
    with ctx.sessions() as session:
        ids = list(
            session.scalars(
                select(SearchRecord.id)
                .where(SearchRecord.agency_id == actor.agency_id, SearchRecord.status == "pending")
                .order_by(SearchRecord.id)
            )
        )
    return [_load(ctx, actor, i, include_crops=False) for i in ids]


def purge_expired_probes(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Delete probe images kept as long as their agency's policy allowed when the search was
    made. An image that is also in a gallery, or the probe of a search still within its
    retention, stays. Returns how many searches had their probes purged; audited."""
    now = now or utc_now()
    with ctx.transaction() as session:
        due = list(
            session.scalars(
                select(SearchRecord).where(
                    SearchRecord.probes_purged.is_(False), SearchRecord.probe_purge_after <= now
                )
            )
        )
        if not due:
            return 0
        shas = {p["sha256"] for r in due for p in json.loads(r.probes)}
        kept = set(session.scalars(select(Image.sha256).where(Image.sha256.in_(shas))))
        for probes in session.scalars(
            select(SearchRecord.probes).where(
                SearchRecord.probes_purged.is_(False), SearchRecord.probe_purge_after > now
            )
        ):
            kept |= {p["sha256"] for p in json.loads(probes)} & shas
        for record in due:
            record.probes_purged = True
        gone = sorted(shas - kept)
        append(
            session,
            AuditEvent(
                "system",
                "search.probes.purge",
                "probes",
                {"searches": [r.id for r in due], "images": gone},
            ),
        )
    for sha in gone:  # after commit: a crash leaves an orphan file, never a dangling row
        ctx.blobs.delete(sha)
    return len(due)


@dataclass(frozen=True)
class VerifyRequest:
    a: ProbeImage
    b: ProbeImage
    pack: str | None = None
    face_a: int | None = None
    face_b: int | None = None


@dataclass(frozen=True)
class VerifyResult:
    pack: str
    score: float
    false_match: FalseMatchEstimate | None
    faces_a: list[ProbeFace]
    faces_b: list[ProbeFace]
    notice: str = LEAD_NOTICE


def verify(ctx: AppContext, actor: Principal, request: VerifyRequest) -> VerifyResult:
    """1:1 comparison of two images' faces with the calibrated false match rate of the score.

    Needs an investigator or supervisor; every comparison is audited.
    """
    if not actor.has_any(Role.INVESTIGATOR, Role.SUPERVISOR):
        refuse(
            ctx,
            actor.username,
            "verify",
            "verify",
            PermissionDeniedError("only investigators compare faces", subject=actor.username),
        )
    pack = request.pack or ctx.settings.default_pack
    ta, fa = probe_template(ctx, pack, (request.a,), request.face_a)
    tb, fb = probe_template(ctx, pack, (request.b,), request.face_b)
    score = float(np.dot(ta, tb))
    calibration = ctx.pipeline(pack).pack.manifest.calibration
    with ctx.transaction() as session:
        append(
            session,
            AuditEvent(
                actor.username,
                "verify.run",
                pack,
                {
                    "a": hashlib.sha256(request.a.data).hexdigest(),
                    "b": hashlib.sha256(request.b.data).hexdigest(),
                    "score": round(score, 6),
                },
            ),
        )
    return VerifyResult(pack, score, false_match_rate(calibration, score), fa, fb)
