"""Completing an erasure request: the second person's confirmation of the decisions, legal
holds, the removal, the opt-out list and the signed receipt (see ``services.rights.erasure``)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from facetrail.errors import (
    PermissionDeniedError,
    RecordMismatchError,
    StateError,
)
from facetrail.governance.audit import append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.governance.events import (
    ErasureDone,
)
from facetrail.governance.note import SignerKey
from facetrail.governance.receipts import receipt_id, sign_receipt
from facetrail.governance.records import erasure_problem
from facetrail.services.audit.log import log_signer, public_key
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.rights._purge import (
    PurgePlan,
    apply_purge,
    plan_purge,
    scrub_after,
)
from facetrail.services.rights.erasure._access import acting_on, agency_of
from facetrail.services.rights.erasure._views import (
    ErasureView,
    erasure_view,
)
from facetrail.services.rights.legal_holds import Gate, gate
from facetrail.services.unit_of_work import action, refuse
from facetrail.store.schema import (
    BlocklistEntry,
    ErasureMatch,
    ErasureRow,
    Face,
    Gallery,
    Image,
    TemplateRow,
)

__all__ = ["complete_erasure"]


def complete_erasure(ctx: AppContext, actor: Principal, erasure_id: int) -> ErasureView:
    """A second person confirms the decisions: remove every confirmed face's image and all
    that came from it but those held for open cases, keep tombstones, keep the opt-out
    templates only with consent, and sign the receipt (see the module)."""
    subject = f"erasure:{erasure_id}"
    signer = log_signer(ctx)
    now = utc_now()
    waiting: list[int] = []
    with action(ctx, actor, "erasure.complete", subject, Permission.READ_ERASURES) as (
        session,
        who,
    ):
        row, who = acting_on(
            session, who, erasure_id, ("open",), approving="completing an erasure request"
        )
        if who.user_id == row.decided_by:
            raise PermissionDeniedError(
                "completing confirms the decisions: it is someone else's than whoever decided",
                subject=subject,
            )
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
        image_ids = sorted(
            set(
                session.scalars(
                    select(Face.image_id)
                    .join(TemplateRow, TemplateRow.face_id == Face.id)
                    .where(TemplateRow.id.in_(confirmed))
                )
            )
        )
        holds = gate(session, actor.username, image_ids, subject, now)
        waiting = holds.waiting
        if not waiting:
            view, plan = _erase(ctx, session, actor, row, holds, bool(matches), signer, now)
    if waiting:  # the holds raised stand (committed above); the erasure waits for the heads
        refuse(
            ctx,
            actor.username,
            "erasure.complete",
            subject,
            StateError(
                f"{_images(len(waiting))} candidates or leads of open cases: held until the "
                "agency head decides (their heads and investigators are told)",
                subject=subject,
            ),
        )
    scrub_after(ctx, [plan])
    return view


def _images(count: int) -> str:
    return "1 image is one of the" if count == 1 else f"{count} images are"


def _erase(
    ctx: AppContext,
    session: Session,
    actor: Principal,
    row: ErasureRow,
    holds: Gate,
    found_any: bool,
    signer: SignerKey,
    now: datetime,
) -> tuple[ErasureView, PurgePlan]:
    """The removal itself, in the completing transaction."""
    plan = plan_purge(session, holds.go)
    held = sorted(set(session.scalars(select(Image.sha256).where(Image.id.in_(holds.kept)))))
    # The opt-out list holds the faces the second person just confirmed as the person's; only
    # when no face was found at all, the request photos, approved for matching (faces found
    # and rejected are someone else's: their photos never hide anyone).
    opt_out: list[tuple[str, bytes]] = []
    if row.consent_blocklist:
        opt_out = [
            (pack, bytes(vector))
            for pack, vector in session.execute(
                select(TemplateRow.pack, TemplateRow.vector).where(
                    TemplateRow.id.in_(plan.template_ids)
                )
            )
        ]
        if not opt_out and not found_any:
            opt_out = [
                (pack, base64.b64decode(v))
                for pack, vectors in json.loads(row.pending_templates or "{}").items()
                for v in vectors
            ]
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
        "opt_out_kept": bool(opt_out),
    }
    if held:
        body["held_for_open_cases"] = held
    rid = receipt_id(body)
    photos = tuple(json.loads(row.photos or "[]"))
    row.photos = None  # no longer held by the request: they go with the images
    session.flush()
    apply_purge(session, plan, rid, now, photos)
    for pack, vector in opt_out:
        session.add(BlocklistEntry(pack=pack, vector=vector, erasure_id=row.id))
    if opt_out:  # every worker's blocklist view is stale from this commit on
        session.execute(update(Gallery).values(templates_version=Gallery.templates_version + 1))
    row.pending_templates = None
    row.status = "done"
    row.completed_at = now
    row.receipt = sign_receipt(body, signer)
    row.receipt_id = rid
    event = ErasureDone(
        actor=actor.username,
        agency=agency_of(session, row),
        erasure_id=row.id,
        receipt_id=rid,
        galleries=sorted(plan.galleries.values()),
        images=plan.image_hashes,
        faces=len(plan.face_ids),
        templates=len(plan.template_ids),
        tombstones=plan.tombstones,
        blocklisted=bool(opt_out),
        blocklist_entries=len(opt_out),
        blocklist=sorted(hashlib.sha256(v).hexdigest() for _, v in opt_out),
        held=held,
    )
    append(session, event.entry())
    return erasure_view(session, row), plan
