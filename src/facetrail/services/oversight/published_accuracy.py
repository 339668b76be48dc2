"""A pack's measured accuracy, recorded for publication: the figures of an evaluation run
(``services.galleries.evaluation``) kept in the store with their ``evaluation.record`` entry, so
that transparency reports show what was measured, with and without masks, by group.

Authorisation: recording needs a gallery admin or a system admin (the people who choose the
packs); reading is public (reports). Audit: ``evaluation.record`` holds the figures, refusals
too.
"""

from __future__ import annotations

import math
from typing import Any

from facetrail.governance.audit import append, canonical_json
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.governance.events import EvaluationRecorded
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import action
from facetrail.services.views import plain
from facetrail.store.schema import EvaluationRow

__all__ = ["record_evaluation"]


def record_evaluation(ctx: AppContext, actor: Principal, figures: dict[str, Any]) -> int:
    """Keep an evaluation's figures as its pack's published accuracy: -> the record's id."""
    pack = str(figures.get("pack", ""))
    with action(ctx, actor, "evaluation.record", pack, Permission.MANAGE_GALLERIES) as (session, _):
        body: dict[str, Any] = _finite(plain(figures))
        dataset = str(body.get("dataset", "")).rstrip("/").rsplit("/", 1)[-1]
        row = EvaluationRow(
            pack=pack,
            dataset=dataset,
            mask=str(body.get("mask", "none")),
            figures=canonical_json(body),
            recorded_by=actor.username,
        )
        session.add(row)
        session.flush()
        event = EvaluationRecorded(
            actor=actor.username,
            agency=None,
            pack=pack,
            dataset=dataset,
            mask=row.mask,
            figures=body,
        )
        row.audit_seq = append(session, event.entry()).seq
        return row.id


def _finite(value: Any) -> Any:
    """NaN and infinities (a group with no probe) as None: the log holds strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
