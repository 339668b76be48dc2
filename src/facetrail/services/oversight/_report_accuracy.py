"""The accuracy a public report shows: the latest evaluation of each pack the agencies use,
per mask, as the log's ``evaluation.record`` entries say. Private to ``reports``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.events import (
    EvaluationRecorded,
    read_events,
)
from facetrail.governance.policy import Policy
from facetrail.store.schema import (
    Gallery,
)

__all__ = ["PackEvaluation", "evaluations"]


@dataclass(frozen=True)
class PackEvaluation:
    """A pack's recorded accuracy under one mask condition (the latest recorded)."""

    pack: str
    mask: str
    dataset: str
    recorded_at: str
    rank1: float
    #: FNIR at FPIR 1 % and its threshold
    fnir_at_fpir_1pc: float
    threshold: float
    #: group key -> value -> {mated, nonmated, fnir, fpir, rank1}
    groups: dict[str, dict[str, dict[str, float]]]


def evaluations(session: Session, policies: list[Policy]) -> list[PackEvaluation]:
    """The latest recorded evaluation of each pack the agencies' galleries use, per mask, as
    the log's ``evaluation.record`` entries say: a figure edited, or a newer one deleted, in
    the database never reaches the public report."""
    granted = {g for p in policies for g in p.galleries}
    packs = set(session.scalars(select(Gallery.pack).where(Gallery.name.in_(granted))))
    latest: dict[tuple[str, str], EvaluationRecorded] = {}
    for event in read_events(session, [EvaluationRecorded]):
        if event.pack in packs:
            latest[(event.pack, event.mask)] = event
    out: list[PackEvaluation] = []
    for (pack, mask), event in sorted(latest.items()):
        figures: dict[str, Any] = event.figures
        point = figures.get("fnir_at_fpir", {}).get("0.01", {})
        out.append(
            PackEvaluation(
                pack,
                mask,
                event.dataset,
                datetime.fromisoformat(str(event.at)).isoformat(timespec="seconds"),
                float(figures.get("rank1", 0.0)),
                float(point.get("fnir", 0.0)),
                float(point.get("threshold", 0.0)),
                figures.get("groups", {}),
            )
        )
    return out
