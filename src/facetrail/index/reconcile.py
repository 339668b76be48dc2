"""Holding an index to the store's truth: ids added and removed, vectors and scores checked.

The store (the database's templates) is the truth and the index is derived from it, so an
index is only ever believed where it agrees with the store: its ids are reconciled with the
store's, and every score it returns is recomputed from the stored template before anyone
sees it (``rescore``). An index edited to put one person's vector under another's id would
otherwise show the innocent person at rank 1 with the guilty one's score.

An approximate index (``base.Quantised``) returns scores from its codes: they are held to its
own bound (``score_tolerance``), and what it holds is checked code by code: each stored
template encoded by the index's own quantiser must give exactly the code held under its id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facetrail.index.base import Ids, Quantised, VectorIndex, Vectors

#: How far an exact index's score may stray from the stored template's (float32 rounding is
#: ~1e-6).
SCORE_TOLERANCE = 1e-4


def score_tolerance(index: VectorIndex) -> float:
    """How far ``index``'s scores may stray from the stored templates' (``rescore``'s
    ``tolerance``): float rounding for an exact index, its own bound for a quantised one."""
    return float(index.score_tolerance) if isinstance(index, Quantised) else SCORE_TOLERANCE


@dataclass(frozen=True)
class Rescored:
    """Hits scored from the stored templates, best first, and how many the index got wrong."""

    hits: list[tuple[float, int]]
    checked: int
    disagreed: int


def rescore(
    query: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    ids: Ids,
    stored: Mapping[int, npt.NDArray[np.float32]],
    tolerance: float = SCORE_TOLERANCE,
    top: int | None = None,
) -> Rescored:
    """Score each returned id with its stored template; an id with no template, an id
    returned twice, or a score off by more than ``tolerance`` (``score_tolerance``) is a
    disagreement. The best ``top`` are kept (all by default): an approximate index returns a
    short list longer than the hits asked for, and only the stored templates rank it."""
    hits: list[tuple[float, int]] = []
    seen: set[int] = set()
    disagreed = 0
    for index_score, raw_id in zip(scores.tolist(), ids.tolist(), strict=True):
        tid = int(raw_id)
        if tid < 0:
            continue
        vector = stored.get(tid)
        if vector is None or tid in seen:
            disagreed += 1
            continue
        seen.add(tid)
        true_score = float(np.dot(vector, query))
        if not abs(true_score - float(index_score)) <= tolerance:
            disagreed += 1
        hits.append((true_score, tid))
    hits.sort(key=lambda hit: -hit[0])
    return Rescored(hits[:top], int(np.count_nonzero(ids >= 0)), disagreed)


def reconcile(
    index: VectorIndex, truth: Ids, fetch: Callable[[Ids], tuple[Ids, Vectors]]
) -> tuple[int, int]:
    """Make the index's ids the store's ``truth``: extras removed, missing ones fetched and
    added. -> (added, removed)."""
    have = index.ids()
    removed = index.remove(np.setdiff1d(have, truth))
    ids, vectors = fetch(np.setdiff1d(truth, have))
    index.add(ids, vectors)
    return len(ids), removed


def disagreeing_vectors(index: VectorIndex, ids: Ids, stored: Vectors) -> int:
    """How many entries of the index are not exactly the store's: ids it lacks or holds
    beyond ``ids``, and vectors that are not the stored ones (a full check, as ``index
    check`` runs it: it reads every template). A quantised index holds codes: each must be
    the code its stored template gets from the index's own quantiser, in a nearest list, so
    quantisation is no disagreement but any edited code is."""
    have = index.ids()
    present = np.isin(ids, have)
    extra = int(np.setdiff1d(have, ids).size)
    if not present.any():
        return extra + len(ids)
    if isinstance(index, Quantised):
        held_lists, held_codes = index.held_codes(ids[present])
        lists, codes = index.codes_for(held_lists, stored[present])
        differs = (held_lists != lists) | np.any(held_codes != codes, axis=1)
    else:
        differs = np.any(index.vectors(ids[present]) != stored[present], axis=1)
    return extra + int(np.count_nonzero(~present)) + int(np.count_nonzero(differs))
