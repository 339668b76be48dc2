"""Evaluation plots: DET curves and genuine/impostor score distributions.

Figures are built with ``matplotlib.figure.Figure`` directly, never through ``pyplot``:
no global figure registry to leak into, no backend to select, safe in threads and servers.
A figure is dropped as soon as it is written, so there is nothing to close. The file is a
new one of the person who asked for it (``facetrail._new_file``): never one already there.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

from facetrail._new_file import write_new_file

__all__ = ["plot_det", "plot_score_distributions"]

#: The operating points the lfw-dev protocol reports (FNIR @ FPIR = p).
REPORTED_FPIR = (0.003, 0.01)


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = io.BytesIO()
    fig.savefig(image, format=path.suffix[1:].lower() or "png", dpi=120)
    write_new_file(path, image.getvalue())


def plot_det(
    curves: dict[str, tuple[NDArray[np.floating], NDArray[np.floating]]],
    path: Path,
    title: str,
) -> None:
    """FNIR against FPIR (log x axis), one line per label, e.g. per model or mask style.

    Points with FPIR = 0 cannot sit on a log axis and are dropped; the x range starts one
    decade below the smallest positive FPIR seen so the low-FPIR end stays readable.
    """
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    smallest = 1.0
    for label, (fpir, fnir) in curves.items():
        x = np.asarray(fpir, dtype=np.float64)
        y = np.asarray(fnir, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
        x, y = x[keep], y[keep]
        # Walk the thresholds from high to low: FPIR rising, FNIR falling (also among equal
        # FPIR values), so the step plot is a clean staircase without spikes.
        order = np.lexsort((-y, x))
        ax.plot(x[order], y[order], drawstyle="steps-post", label=label)
        if len(x):
            smallest = min(smallest, float(x.min()))
    for p in REPORTED_FPIR:
        ax.axvline(p, color="0.6", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(max(smallest / 10, 1e-6), 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("FPIR (false positive identification rate)")
    ax.set_ylabel("FNIR (false negative identification rate)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if curves:
        ax.legend(loc="upper right")
    _save(fig, path)


def _histogram(ax: Axes, scores: NDArray[np.float64], bins: list[float], label: str) -> None:
    if len(scores):
        ax.hist(scores, bins=bins, density=True, alpha=0.5, label=f"{label} (n={len(scores)})")


def plot_score_distributions(
    genuine: NDArray[np.floating],
    impostor: NDArray[np.floating],
    path: Path,
    title: str,
    thresholds: dict[str, float] | None = None,
) -> None:
    """Density histograms of genuine (mate) and impostor (non-mated top) scores.

    Densities rather than counts, because lfw-dev has 2.5 times more mated than non-mated
    probes; one set of bins for both, so the overlap is read off directly. Thresholds
    (e.g. t at FPIR = 0.01) are drawn as labelled vertical lines.
    """
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    g, i = g[np.isfinite(g)], i[np.isfinite(i)]
    both = np.concatenate([g, i])
    lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 61).tolist()
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    _histogram(ax, g, bins, "genuine")
    _histogram(ax, i, bins, "impostor")
    for n, (label, t) in enumerate((thresholds or {}).items()):
        if np.isfinite(t):
            ax.axvline(
                t, color=f"C{n + 2}", linestyle="--", linewidth=1.2, label=f"{label}: {t:.3f}"
            )
    ax.set_xlabel("score (higher = more similar)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left")
    _save(fig, path)
