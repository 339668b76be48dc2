"""Score -> false match rate, from the impostor scores a pack's evaluation measured.

The table is built by ``facetrail eval identification --calibration-out`` and shipped in the
pack manifest, so the mapping is measured, never guessed. Between table points the FMR is
interpolated in log space; above the highest impostor score it is only known to be below
1 / (number of impostor pairs), which is reported as an upper bound.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facetrail.models.manifest import Calibration


@dataclass(frozen=True)
class FalseMatchEstimate:
    fmr: float
    #: True when the score is above every measured impostor: the FMR is below ``fmr``.
    upper_bound: bool


def build_calibration(
    impostor: npt.NDArray[np.float32],
    genuine_pairs: int,
    dataset: str,
    measured_with: str,
    points: int = 200,
) -> Calibration:
    """Summarise impostor scores as (score, FMR) points spaced evenly in log FMR."""
    scores = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    n = len(scores)
    fmrs = np.unique(np.concatenate([np.geomspace(1.0 / n, 1.0, points), [1.0 / n, 1.0]]))
    table: dict[float, float] = {}
    for fmr in fmrs:
        k = max(1, round(fmr * n))
        s = float(scores[k - 1])
        # FMR at s counts every impostor >= s (ties included).
        table[round(s, 6)] = float(np.count_nonzero(scores >= s)) / n
    keys = sorted(table)
    return Calibration(
        dataset=dataset,
        impostor_pairs=n,
        genuine_pairs=genuine_pairs,
        scores=tuple(keys),
        fmr=tuple(table[k] for k in keys),
        measured_with=measured_with,
    )


@functools.lru_cache(maxsize=32)
def _curve(calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(calibration.scores), np.log(np.asarray(calibration.fmr))


def false_match_rate(calibration: Calibration | None, score: float) -> FalseMatchEstimate | None:
    if calibration is None or not calibration.scores:
        return None
    xs, ys = _curve(calibration)
    if score > xs[-1]:
        return FalseMatchEstimate(1.0 / calibration.impostor_pairs, True)
    if score <= xs[0]:
        return FalseMatchEstimate(float(calibration.fmr[0]), False)
    return FalseMatchEstimate(float(math.exp(np.interp(score, xs, ys))), False)


def score_at_fmr(calibration: Calibration | None, fmr: float) -> float | None:
    """The lowest measured score whose false match rate is at most ``fmr`` (a strict
    threshold), or None without a calibration."""
    if calibration is None or not calibration.scores:
        return None
    for score, rate in zip(calibration.scores, calibration.fmr, strict=True):
        if rate <= fmr:
            return float(score)
    return float(calibration.scores[-1])
