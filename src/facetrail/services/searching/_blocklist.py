"""The blocklist of erased people who consented to it: their opt-out templates, used only to
refuse their re-enrolment (ingest) and to keep them out of results (search), never searched
themselves. A face is theirs at the erasure's strict threshold (``ERASURE_MATCH_FMR``).

A worker keeps each gallery's view of the blocklist with the gallery's templates version it
read it at: completing an erasure that adds to the blocklist moves every gallery's version
on, so no search reads the blocklist table unless it changed.

Authorisation and audit: the callers'.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import RecordMismatchError
from facetrail.governance.seal_checks import rows_problems
from facetrail.governance.seal_follower import live_keys
from facetrail.models.calibration import score_at_fmr
from facetrail.models.registry import get_pack
from facetrail.services.context import AppContext
from facetrail.store.schema import BlocklistEntry, Gallery

__all__ = ["ERASURE_MATCH_FMR", "blocked", "blocked_by", "blocklist_of"]

#: A face is an erased person's when its score's false match rate is at most this.
ERASURE_MATCH_FMR = 1e-4


def blocklist_of(
    ctx: AppContext, session: Session, gallery: Gallery
) -> tuple[np.ndarray, np.ndarray]:
    """The blocklist's templates of the gallery's pack (rows; none: shape (0, 0)) and the
    erasure request that put each there."""
    cached = ctx.blocklists.get(gallery.id)
    if cached is not None and cached[0] == gallery.templates_version:
        return cached[1], cached[2]
    entries = list(session.scalars(select(BlocklistEntry).order_by(BlocklistEntry.id)))
    if problem := _list_problem(session, entries):
        # Deleted, changed or planted entries would show an opted-out person, or hide anyone.
        raise RecordMismatchError(
            f"the opt-out list was changed outside facetrail and will not be used: {problem}",
            subject="blocklist",
        )
    rows = [(e.vector, e.erasure_id) for e in entries if e.pack == gallery.pack]
    vectors = (
        np.stack([np.frombuffer(bytes(v), np.float32) for v, _ in rows])
        if rows
        else np.zeros((0, 0), np.float32)
    )
    erasures = np.array([int(e) for _, e in rows], np.int64)
    ctx.blocklists[gallery.id] = (gallery.templates_version, vectors, erasures)
    return vectors, erasures


def _list_problem(session: Session, entries: list[BlocklistEntry]) -> str | None:
    """Why the opt-out list as read is not the log's: an entry that disagrees with its seal,
    or one the log holds that is gone."""
    for key, why in rows_problems(session, "blocklist", entries).items():
        return f"entry {key}: {why}"
    if missing := sorted(live_keys(session, "blocklist") - {str(e.id) for e in entries}):
        return f"entry {missing[0]} was deleted outside facetrail"
    return None


def blocked_by(
    ctx: AppContext, pack: str, blocklist: np.ndarray, vectors: np.ndarray
) -> np.ndarray:
    """For each row of ``vectors`` (templates of ``pack``): the blocklist row of the person
    it is, or -1."""
    if blocklist.size == 0 or vectors.size == 0:
        return np.full(len(vectors), -1, np.int64)
    calibration = get_pack(pack, ctx.settings.home).manifest.calibration
    threshold = score_at_fmr(calibration, ERASURE_MATCH_FMR)
    if threshold is None:
        threshold = 0.5  # a pack with no calibration: a cosine no stranger reaches
    scores = vectors.astype(np.float32) @ blocklist.T
    best = scores.argmax(axis=1)
    return np.where(scores.max(axis=1) >= threshold, best, -1).astype(np.int64)


def blocked(ctx: AppContext, pack: str, blocklist: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """For each row of ``vectors`` (templates of ``pack``): whether it is a blocklisted
    person's."""
    return np.asarray(blocked_by(ctx, pack, blocklist, vectors) >= 0)
