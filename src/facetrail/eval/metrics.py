"""NIST FRVT/FRTE 1:N identification metrics with a rank-1 candidate list.

Definitions follow the lfw-dev protocol (``/work/shared/data/README.md``), which follows
NIST: a search returns only its rank-1 candidate and that candidate's score.

- Rank-1 identification rate: share of mated probes whose rank-1 candidate is their mate.
- FPIR(t): share of non-mated probes whose top score is >= t. A non-mated probe that failed
  to template (FTT) returns no candidate, so it never alarms, but it stays in the denominator.
- FNIR(t): share of mated probes whose mate is *not* returned at rank 1 with score >= t.
  A mated FTT is a miss at every threshold.

The module is pure (numpy only) so that the same numbers come out of the CLI, the benchmark
and the tests. Empty denominators give NaN rather than an error: a demographic group with no
non-mated probes simply has no FPIR.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from facetrail.errors import InvalidRequestError

__all__ = [
    "FnirAtFpir",
    "GroupFigures",
    "ProbeOutcome",
    "det_curve",
    "fnir",
    "fnir_at_fpir",
    "fpir",
    "genuine_and_impostor_scores",
    "group_breakdown",
    "rank1_rate",
    "threshold_at_fpir",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe search returned, reduced to what the 1:N metrics need."""

    mated: bool
    #: Best gallery score; ``None`` = failure to template (no candidate returned).
    top_score: float | None
    #: The rank-1 candidate is this probe's mate (always False for non-mated probes and FTT).
    top_is_mate: bool
    #: Score against its own mate if the mate is enrolled (the genuine distribution).
    mate_score: float | None = None
    #: Demographic labels, e.g. ``{"gender": "male", "race": "african"}``.
    group: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # An inconsistent outcome would silently inflate the hit count, so refuse it here.
        if self.top_is_mate and not self.mated:
            raise InvalidRequestError("a non-mated probe cannot have its mate at rank 1")
        if self.top_is_mate and self.top_score is None:
            raise InvalidRequestError("a probe without a candidate cannot have its mate at rank 1")
        for name in ("top_score", "mate_score"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise InvalidRequestError(f"{name} must be finite, got {value}")


@dataclass(frozen=True)
class FnirAtFpir:
    """FNIR at the threshold where FPIR first drops to the target."""

    fpir_target: float
    #: t_p, the smallest threshold with FPIR(t_p) <= fpir_target.
    threshold: float
    fnir: float
    #: FPIR actually reached at ``threshold`` (<= target; ties and small N make it lower).
    fpir_actual: float


@dataclass(frozen=True)
class GroupFigures:
    """Figures for one demographic group at a fixed (global) threshold."""

    mated: int
    nonmated: int
    fnir: float
    fpir: float
    rank1: float


@dataclass(frozen=True)
class _Scores:
    """The outcomes as arrays, so every metric is a vectorised count."""

    nonmated: FloatArray  # top scores of non-mated probes that returned a candidate, sorted
    n_nonmated: int  # all non-mated probes, FTT included
    hits: FloatArray  # top scores of mated probes whose rank-1 is the mate, sorted
    mated_top: FloatArray  # top scores of mated probes that returned a candidate
    n_mated: int  # all mated probes, FTT included


def _scores(outcomes: Iterable[ProbeOutcome]) -> _Scores:
    items = outcomes if isinstance(outcomes, Sequence) else list(outcomes)
    nonmated: list[float] = []
    hits: list[float] = []
    mated_top: list[float] = []
    n_nonmated = n_mated = 0
    for o in items:
        if o.mated:
            n_mated += 1
            if o.top_score is not None:
                mated_top.append(o.top_score)
                if o.top_is_mate:
                    hits.append(o.top_score)
        else:
            n_nonmated += 1
            if o.top_score is not None:
                nonmated.append(o.top_score)
    return _Scores(
        nonmated=np.sort(np.asarray(nonmated, dtype=np.float64)),
        n_nonmated=n_nonmated,
        hits=np.sort(np.asarray(hits, dtype=np.float64)),
        mated_top=np.asarray(mated_top, dtype=np.float64),
        n_mated=n_mated,
    )


def _share(count: int, total: int) -> float:
    return count / total if total else math.nan


def rank1_rate(outcomes: Iterable[ProbeOutcome]) -> float:
    """Share of mated probes whose rank-1 candidate is their mate (no threshold); NaN if none."""
    s = _scores(outcomes)
    return _share(len(s.hits), s.n_mated)


def fpir(outcomes: Iterable[ProbeOutcome], t: float) -> float:
    """False positive identification rate at threshold ``t``; NaN without non-mated probes."""
    s = _scores(outcomes)
    return _share(int(np.count_nonzero(s.nonmated >= t)), s.n_nonmated)


def fnir(outcomes: Iterable[ProbeOutcome], t: float) -> float:
    """False negative identification rate at threshold ``t``; NaN without mated probes."""
    s = _scores(outcomes)
    return _share(s.n_mated - int(np.count_nonzero(s.hits >= t)), s.n_mated)


def _allowed_alarms(p: float, n: int) -> int:
    """The largest alarm count c with c / n <= p, as ``fpir`` computes it.

    ``floor(p * n)`` alone can be off by one when ``p * n`` rounds (0.29 * 100 is
    28.999...), which would make the threshold one score too strict.
    """
    c = min(n, math.floor(p * n))
    while c < n and (c + 1) / n <= p:
        c += 1
    while c > 0 and c / n > p:
        c -= 1
    return c


def threshold_at_fpir(outcomes: Iterable[ProbeOutcome], p: float) -> float:
    """t_p: the smallest threshold with FPIR(t_p) <= p.

    It lies just above the (allowed + 1)-th highest non-mated top score, where allowed =
    floor(p * N_nonmated) false alarms. With fewer non-mated scores than that (few probes,
    or many FTT), every score may pass and the threshold is ``-inf``.
    """
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise InvalidRequestError(f"FPIR target must be in [0, 1], got {p}", subject="fpir")
    s = _scores(outcomes)
    allowed = _allowed_alarms(p, s.n_nonmated)
    if len(s.nonmated) <= allowed:
        return -math.inf
    boundary = float(s.nonmated[len(s.nonmated) - 1 - allowed])
    return math.nextafter(boundary, math.inf)


def fnir_at_fpir(outcomes: Iterable[ProbeOutcome], p: float) -> FnirAtFpir:
    """FNIR at t_p (see ``threshold_at_fpir``), with the FPIR actually reached there."""
    items = list(outcomes)
    t = threshold_at_fpir(items, p)
    return FnirAtFpir(fpir_target=p, threshold=t, fnir=fnir(items, t), fpir_actual=fpir(items, t))


def det_curve(outcomes: Iterable[ProbeOutcome]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(thresholds, FPIR, FNIR) at every distinct non-mated and mated top score, ascending.

    Vectorised with ``searchsorted`` so 10^5 probes take milliseconds. Each value equals
    ``fpir(outcomes, t)`` / ``fnir(outcomes, t)`` exactly, because the same integer
    counts are divided the same way.
    """
    s = _scores(outcomes)
    thresholds = np.unique(np.concatenate([s.nonmated, s.mated_top]))
    # count(score >= t) = len - count(score < t); the arrays are sorted.
    alarms = len(s.nonmated) - np.searchsorted(s.nonmated, thresholds, side="left")
    found = len(s.hits) - np.searchsorted(s.hits, thresholds, side="left")
    nan = np.full(thresholds.shape, math.nan)
    fpir_values = alarms / s.n_nonmated if s.n_nonmated else nan
    fnir_values = (s.n_mated - found) / s.n_mated if s.n_mated else nan
    return thresholds, fpir_values.astype(np.float64), fnir_values.astype(np.float64)


def genuine_and_impostor_scores(
    outcomes: Iterable[ProbeOutcome],
) -> tuple[FloatArray, FloatArray]:
    """(genuine, impostor) scores for a score-distribution plot.

    Genuine: each mated probe's score against its own mate, where known. Impostor: the top
    score of each non-mated probe that returned a candidate, i.e. the scores FPIR counts.
    """
    items = list(outcomes)
    genuine = [o.mate_score for o in items if o.mated and o.mate_score is not None]
    impostor = [o.top_score for o in items if not o.mated and o.top_score is not None]
    return np.asarray(genuine, dtype=np.float64), np.asarray(impostor, dtype=np.float64)


def group_breakdown(
    outcomes: Iterable[ProbeOutcome],
    threshold: float,
    keys: Sequence[str] = ("gender", "race"),
) -> dict[str, dict[str, GroupFigures]]:
    """Per label key, per label value: counts, FNIR and FPIR at ``threshold``, rank-1.

    The threshold is a single global one, as in NIST's demographic reports: an operator
    sets one threshold, and the question is how error rates differ between groups at it.
    Probes without a label (missing or empty) are left out of that key's breakdown.
    """
    items = list(outcomes)
    result: dict[str, dict[str, GroupFigures]] = {}
    for key in keys:
        by_value: dict[str, list[ProbeOutcome]] = {}
        for o in items:
            value = o.group.get(key, "")
            if value:
                by_value.setdefault(value, []).append(o)
        figures: dict[str, GroupFigures] = {}
        for value in sorted(by_value):
            s = _scores(by_value[value])
            figures[value] = GroupFigures(
                mated=s.n_mated,
                nonmated=s.n_nonmated,
                fnir=_share(s.n_mated - int(np.count_nonzero(s.hits >= threshold)), s.n_mated),
                fpir=_share(int(np.count_nonzero(s.nonmated >= threshold)), s.n_nonmated),
                rank1=_share(len(s.hits), s.n_mated),
            )
        result[key] = figures
    return result
