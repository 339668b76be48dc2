"""Plots are written as real PNGs, for ordinary and degenerate inputs alike."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrail.eval.metrics import ProbeOutcome, det_curve
from facetrail.eval.plots import plot_det, plot_score_distributions


def _is_png(path: Path) -> bool:
    img = cv2.imread(str(path))
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and img is not None and img.size > 0


def test_det_plot_from_metrics_output(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    outcomes = [
        ProbeOutcome(mated=True, top_score=float(s), top_is_mate=bool(s > 0.35))
        for s in rng.normal(0.6, 0.15, 400)
    ] + [
        ProbeOutcome(mated=False, top_score=float(s), top_is_mate=False)
        for s in rng.normal(0.2, 0.1, 300)
    ]
    _, fpir, fnir = det_curve(outcomes)
    path = tmp_path / "nested" / "det.png"
    plot_det({"sface": (fpir, fnir), "sface masked": (fpir, np.minimum(fnir * 2, 1))}, path, "DET")
    assert _is_png(path)


@pytest.mark.parametrize(
    "curves",
    [
        {},
        {"all zero fpir": (np.zeros(3), np.array([0.1, 0.2, 0.3]))},
        {"empty": (np.array([]), np.array([]))},
        {"nan": (np.array([math.nan, 0.5]), np.array([0.2, math.nan]))},
    ],
    ids=["no curves", "zero fpir", "empty", "nan"],
)
def test_det_plot_degenerate_curves(
    tmp_path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    # pytest runs with filterwarnings=error, so a log-axis warning would fail here.
    path = tmp_path / "det.png"
    plot_det(curves, path, "degenerate")
    assert _is_png(path)


def test_score_distribution_plot_with_thresholds(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "scores.png"
    plot_score_distributions(
        rng.normal(0.6, 0.1, 1000),
        rng.normal(0.1, 0.1, 500),
        path,
        "sface on lfw-dev",
        thresholds={"FPIR=0.01": 0.487, "FPIR=0.003": 0.509, "unreachable": -math.inf},
    )
    assert _is_png(path)


@pytest.mark.parametrize(
    ("genuine", "impostor"),
    [([], []), ([0.5], []), ([0.5, 0.5], [0.5]), ([math.nan, 0.4], [0.1])],
    ids=["empty", "one score", "all equal", "nan"],
)
def test_score_distribution_plot_degenerate(
    tmp_path: Path, genuine: list[float], impostor: list[float]
) -> None:
    path = tmp_path / "scores.png"
    plot_score_distributions(np.array(genuine), np.array(impostor), path, "degenerate")
    assert _is_png(path)


def test_plots_leave_no_global_pyplot_state(tmp_path: Path) -> None:
    plot_det({}, tmp_path / "a.png", "a")
    plot_score_distributions(np.array([0.1]), np.array([0.2]), tmp_path / "b.png", "b")
    # pyplot keeps every figure alive until closed; the plots must not go through it.
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
