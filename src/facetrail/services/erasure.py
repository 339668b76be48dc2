"""Erasure on request: a person asks to be removed from every gallery, and gets a receipt.

1. ``open_erasure``: a gallery admin records the request (a reference, how the person's
   identity was checked, whether they consent to an opt-out template being kept) with their
   photos. facetrail finds their faces in every gallery at a strict threshold (a false match
   rate of at most ``ERASURE_MATCH_FMR``). The photos themselves are not kept; with consent,
   their templates are, until the request ends.
2. ``decide_matches``: the admin confirms or rejects each face found.
3. ``complete_erasure``: the confirmed faces' images go, with all their faces, templates,
   index entries and blobs (``services._purge``); search results that showed them keep a
   tombstone (when, which receipt); with consent the templates move to the blocklist (used
   only to refuse re-enrolment and to keep the person out of results), without it nothing of
   theirs is kept. The receipt lists what was removed by hash and is signed by the audit
   log's key: ``open_receipt`` checks it offline.

Authorisation: gallery admins and system admins. Audit: ``erasure.open``, ``erasure.decide``,
``erasure.done`` (hashes and counts, never a face or a template) and ``erasure.cancel``,
refusals too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError, NotFoundError, RecordMismatchError, StateError
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.governance.events import (
    ErasureCancelled,
    ErasureDecided,
    ErasureDone,
    ErasureOpened,
)
from facetrail.governance.receipts import receipt_id, sign_receipt
from facetrail.governance.records import erasure_problem
from facetrail.services._blocklist import ERASURE_MATCH_FMR
from facetrail.services._matching import probe_template, search_gallery
from facetrail.services._purge import apply_purge, plan_purge, scrub_after
from facetrail.services.audit import log_signer, public_key
from facetrail.services.authorization import require, utc_now
from facetrail.services.context import AppContext
from facetrail.services.search_model import ProbeImage
from facetrail.services.unit_of_work import action
from facetrail.store.schema import (
    BlocklistEntry,
    ErasureMatch,
    ErasureRow,
    Face,
    Gallery,
    TemplateRow,
    User,
)

__all__ = [
    "ERASURE_MATCH_FMR",
    "MAX_PHOTOS",
    "ErasureRequest",
    "ErasureView",
    "MatchView",
    "cancel_erasure",
    "complete_erasure",
    "decide_matches",
    "list_erasures",
    "may_open",
    "open_erasure",
    "show_erasure",
]

#: Photos one request may give.
MAX_PHOTOS = 20
#: Candidates looked at per gallery and photo.
_TOP = 50


@dataclass(frozen=True)
class ErasureRequest:
    #: the admin's reference for the request (a ticket number), not the person's name
    reference: str
    #: how the person's identity was checked
    identity_check: str
    consent_blocklist: bool
    photos: tuple[ProbeImage, ...]


@dataclass(frozen=True)
class MatchView:
    id: int
    gallery: str
    template_id: int
    image_sha256: str
    face_index: int
    score: float
    fmr: float
    decision: str | None


@dataclass(frozen=True)
class ErasureView:
    id: int
    reference: str
    identity_check: str
    consent_blocklist: bool
    status: str
    requested_by: str
    created_at: str
    completed_at: str | None
    matches: list[MatchView]
    receipt_id: str | None
    #: the signed receipt (a signed note), once done
    receipt: str | None


def may_open(ctx: AppContext, actor: Principal, reference: str) -> None:
    """Refuse (audited) anyone but a gallery admin or system admin, before a photo is read."""
    subject = f"erasure request {reference[:60]}"
    require(ctx, actor, "erasure.open", subject, Permission.MANAGE_GALLERIES)


def open_erasure(ctx: AppContext, actor: Principal, request: ErasureRequest) -> ErasureView:
    """Record a person's request and find their faces in every gallery (see the module)."""
    subject = f"erasure request {request.reference[:60]}"
    may_open(ctx, actor, request.reference)
    with action(ctx, actor.username, "erasure.open", subject) as session:
        reference = fields.check_name("reference", request.reference)
        check = fields.check_free_text("identity check", request.identity_check)
        if len(check) < 10:
            raise InvalidRequestError(
                "say how the person's identity was checked (10+ characters)",
                subject="identity_check",
            )
        if not 1 <= len(request.photos) <= MAX_PHOTOS:
            raise InvalidRequestError(
                f"give 1 to {MAX_PHOTOS} photos of the person", subject="photos"
            )
        galleries = list(session.scalars(select(Gallery).order_by(Gallery.name)))
    found = _find(ctx, galleries, request.photos)
    templates = _templates(ctx, galleries, request.photos) if request.consent_blocklist else None
    with action(ctx, actor.username, "erasure.open", subject) as session:
        row = ErasureRow(
            reference=reference,
            identity_check=check,
            consent_blocklist=request.consent_blocklist,
            status="open",
            requested_by=actor.user_id,
            pending_templates=json.dumps(templates) if templates is not None else None,
        )
        session.add(row)
        session.flush()
        for match in found.values():
            session.add(ErasureMatch(erasure_id=row.id, **match))
        event = ErasureOpened(
            actor=actor.username,
            agency=None,
            erasure_id=row.id,
            reference=reference,
            identity_check=check,
            consent_blocklist=request.consent_blocklist,
            photos=len(request.photos),
            matches=len(found),
        )
        append(session, event.entry())
        return _view(session, row)


def _find(
    ctx: AppContext, galleries: list[Gallery], photos: tuple[ProbeImage, ...]
) -> dict[int, dict[str, Any]]:
    """template id -> the match, for every gallery face of the person at the threshold."""
    found: dict[int, dict[str, Any]] = {}
    for gallery in galleries:
        for photo in photos:
            run = search_gallery(ctx, gallery.name, (photo,), _TOP, None)
            for c in run.candidates:
                fmr = c.false_match.fmr if c.false_match is not None else 1.0
                if fmr > ERASURE_MATCH_FMR:
                    continue
                best = found.get(c.template_id)
                if best is None or c.score > best["score"]:
                    found[c.template_id] = {
                        "gallery": gallery.name,
                        "template_id": c.template_id,
                        "image_sha256": c.image_sha256,
                        "face_index": c.face_index,
                        "score": c.score,
                        "fmr": fmr,
                    }
    return found


def _templates(
    ctx: AppContext, galleries: list[Gallery], photos: tuple[ProbeImage, ...]
) -> dict[str, list[str]]:
    """pack -> the photos' templates (base64 float32), for every pack a gallery uses."""
    packs = sorted({g.pack for g in galleries} | {ctx.settings.default_pack})
    return {
        pack: [
            base64.b64encode(probe_template(ctx, pack, (p,), None)[0].tobytes()).decode()
            for p in photos
        ]
        for pack in packs
    }


def decide_matches(
    ctx: AppContext,
    actor: Principal,
    erasure_id: int,
    confirmed: list[int],
    rejected: list[int],
) -> ErasureView:
    """The admin's call on each face found (match ids): confirmed ones will be removed."""
    subject = f"erasure:{erasure_id}"
    require(ctx, actor, "erasure.decide", subject, Permission.MANAGE_GALLERIES)
    with action(ctx, actor.username, "erasure.decide", subject) as session:
        row = _open_row(session, erasure_id)
        both = set(confirmed) & set(rejected)
        if both:
            raise InvalidRequestError(
                f"match {min(both)} is both confirmed and rejected", subject="matches"
            )
        matches = {
            m.id: m
            for m in session.scalars(select(ErasureMatch).where(ErasureMatch.erasure_id == row.id))
        }
        unknown = sorted((set(confirmed) | set(rejected)) - set(matches))
        if unknown:
            raise NotFoundError(f"no match {unknown[0]} in this request", subject=subject)
        for mid in confirmed:
            matches[mid].decision = "confirmed"
        for mid in rejected:
            matches[mid].decision = "rejected"
        event = ErasureDecided(
            actor=actor.username,
            agency=None,
            erasure_id=erasure_id,
            confirmed=sorted(confirmed),
            rejected=sorted(rejected),
        )
        append(session, event.entry())
        return _view(session, row)


def _open_row(session: Session, erasure_id: int) -> ErasureRow:
    row = session.get(ErasureRow, erasure_id, with_for_update=True)
    if row is None:
        raise NotFoundError("no such erasure request", subject=f"erasure:{erasure_id}")
    if row.status != "open":
        raise StateError(f"the request is {row.status}", subject=f"erasure:{erasure_id}")
    return row


def complete_erasure(ctx: AppContext, actor: Principal, erasure_id: int) -> ErasureView:
    """Remove every confirmed face's image and all that came from it, keep tombstones, keep
    the blocklist entry only with consent, and sign the receipt (see the module)."""
    subject = f"erasure:{erasure_id}"
    require(ctx, actor, "erasure.complete", subject, Permission.MANAGE_GALLERIES)
    signer = log_signer(ctx)
    now = utc_now()
    with action(ctx, actor.username, "erasure.complete", subject) as session:
        row = _open_row(session, erasure_id)
        # The faces it removes are those the log says were confirmed: a decision changed in
        # the database would erase someone else.
        if tampered := erasure_problem(session, row):
            raise RecordMismatchError(tampered, subject=subject)
        matches = list(
            session.scalars(select(ErasureMatch).where(ErasureMatch.erasure_id == row.id))
        )
        undecided = [m.id for m in matches if m.decision is None]
        if undecided:
            raise StateError(
                f"confirm or reject every face found first (match {undecided[0]} is open)",
                subject=subject,
            )
        confirmed = [m.template_id for m in matches if m.decision == "confirmed"]
        image_ids = list(
            session.scalars(
                select(Face.image_id)
                .join(TemplateRow, TemplateRow.face_id == Face.id)
                .where(TemplateRow.id.in_(confirmed))
            )
        )
        plan = plan_purge(session, image_ids)
        blocklisted = bool(row.consent_blocklist and row.pending_templates)
        body = {
            "erasure": row.id,
            "reference": row.reference,
            "completed_at": now.isoformat(timespec="seconds"),
            "log": public_key(ctx).name,
            "galleries": sorted(plan.galleries.values()),
            "removed": {
                "images": plan.image_hashes,
                "faces": len(plan.face_ids),
                "templates": plan.template_hashes,
                "index_entries": len(plan.template_ids),
            },
            "tombstones": plan.tombstones,
            "opt_out_kept": blocklisted,
        }
        rid = receipt_id(body)
        apply_purge(session, plan, rid, now)
        kept: list[bytes] = []
        if blocklisted:
            for pack, vectors in json.loads(row.pending_templates or "{}").items():
                for vector in vectors:
                    kept.append(base64.b64decode(vector))
                    session.add(BlocklistEntry(pack=pack, vector=kept[-1], erasure_id=row.id))
        if blocklisted:  # every worker's blocklist view is stale from this commit on
            session.execute(update(Gallery).values(templates_version=Gallery.templates_version + 1))
        row.pending_templates = None
        row.status = "done"
        row.completed_at = now
        row.receipt = sign_receipt(body, signer)
        row.receipt_id = rid
        event = ErasureDone(
            actor=actor.username,
            agency=None,
            erasure_id=row.id,
            receipt_id=rid,
            galleries=sorted(plan.galleries.values()),
            images=plan.image_hashes,
            faces=len(plan.face_ids),
            templates=len(plan.template_ids),
            tombstones=plan.tombstones,
            blocklisted=blocklisted,
            blocklist_entries=len(kept),
            blocklist=sorted(hashlib.sha256(v).hexdigest() for v in kept),
        )
        append(session, event.entry())
        view = _view(session, row)
    scrub_after(ctx, [plan])
    return view


def cancel_erasure(ctx: AppContext, actor: Principal, erasure_id: int, reason: str) -> ErasureView:
    """Close an open request without removing anything; its kept templates go."""
    subject = f"erasure:{erasure_id}"
    require(ctx, actor, "erasure.cancel", subject, Permission.MANAGE_GALLERIES)
    with action(ctx, actor.username, "erasure.cancel", subject) as session:
        reason = fields.check_free_text("reason", reason, min_len=1)
        row = _open_row(session, erasure_id)
        row.pending_templates = None
        row.status = "cancelled"
        row.completed_at = utc_now()
        event = ErasureCancelled(
            actor=actor.username, agency=None, erasure_id=erasure_id, reason=reason
        )
        append(session, event.entry())
        return _view(session, row)


def show_erasure(ctx: AppContext, actor: Principal, erasure_id: int) -> ErasureView:
    """One request with the faces found and, once done, its receipt (gallery admins and
    system admins; audited as ``erasure.view``, refusals too)."""
    subject = f"erasure:{erasure_id}"
    require(ctx, actor, "erasure.view", subject, Permission.MANAGE_GALLERIES)
    with action(ctx, actor.username, "erasure.view", subject) as session:
        row = session.get(ErasureRow, erasure_id)
        if row is None:
            raise NotFoundError("no such erasure request", subject=subject)
        view = _view(session, row)
        append(session, AuditEvent(actor.username, "erasure.view", subject))
    return view


def _view(session: Session, row: ErasureRow) -> ErasureView:
    """The request as it stands in ``session`` (each step answers with it, in its own
    transaction: no second, audited read)."""
    matches = session.scalars(
        select(ErasureMatch).where(ErasureMatch.erasure_id == row.id).order_by(ErasureMatch.id)
    )
    by = session.scalar(select(User.username).where(User.id == row.requested_by)) or ""
    return ErasureView(
        row.id,
        row.reference,
        row.identity_check,
        row.consent_blocklist,
        row.status,
        by,
        row.created_at.isoformat(timespec="seconds"),
        row.completed_at.isoformat(timespec="seconds") if row.completed_at else None,
        [
            MatchView(
                m.id,
                m.gallery,
                m.template_id,
                m.image_sha256,
                m.face_index,
                m.score,
                m.fmr,
                m.decision,
            )
            for m in matches
        ],
        row.receipt_id,
        row.receipt,
    )


@dataclass(frozen=True)
class ErasureSummary:
    id: int
    reference: str
    status: str
    requested_by: str
    created_at: str
    matches: int
    receipt_id: str | None


def list_erasures(ctx: AppContext, actor: Principal) -> list[ErasureSummary]:
    """Every erasure request, newest first (gallery admins and system admins; audited as
    ``erasure.list``, refusals too)."""
    require(ctx, actor, "erasure.list", "erasures", Permission.MANAGE_GALLERIES)
    with action(ctx, actor.username, "erasure.list", "erasures") as session:
        rows = session.execute(
            select(ErasureRow, User.username)
            .join(User, User.id == ErasureRow.requested_by)
            .order_by(ErasureRow.id.desc())
        ).all()
        counts = dict(
            session.execute(
                select(ErasureMatch.erasure_id, func.count(ErasureMatch.id)).group_by(
                    ErasureMatch.erasure_id
                )
            ).all()
        )
        append(session, AuditEvent(actor.username, "erasure.list", "erasures"))
        return [
            ErasureSummary(
                r.id,
                r.reference,
                r.status,
                by,
                r.created_at.isoformat(timespec="seconds"),
                int(counts.get(r.id, 0)),
                r.receipt_id,
            )
            for r, by in rows
        ]
