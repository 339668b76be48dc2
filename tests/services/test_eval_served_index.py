"""Issue 23: ``eval identification`` measures through the kind of index that serves a gallery
of its size, so the published accuracy is the served accuracy. Past ``exact_index_up_to`` the
candidates come from the inverted file (its short list re-scored exactly), and the figures say
which index made them."""

from __future__ import annotations

from pathlib import Path

from facetrail.config import Settings
from facetrail.services.context import AppContext
from facetrail.services.galleries.evaluation import EvalRequest, evaluate_identification
from tests.conftest import LFW, needs_lfw

pytestmark = needs_lfw


def _figures(tmp_path: Path, **settings: object) -> dict[str, object]:
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1, **settings))  # type: ignore[arg-type]
    try:
        request = EvalRequest(LFW, "arcface-mbf", "none", 1, 40)
        return evaluate_identification(ctx, request).figures
    finally:
        ctx.close()


def test_the_figures_are_those_of_the_index_a_gallery_of_that_size_is_served_by(
    tmp_path: Path,
) -> None:
    exact = _figures(tmp_path / "exact")
    approximate = _figures(tmp_path / "ivf", exact_index_up_to=10)
    assert "Flat" in str(exact["index"]) and "IVF" in str(approximate["index"])
    assert exact["gallery_size"] == approximate["gallery_size"]
    # The short list is re-scored exactly, so the mates an exact search finds at rank 1 are
    # found through the inverted file too (a 40-identity gallery: few lists, all probed).
    assert approximate["rank1"] == exact["rank1"]
    # The score distributions (and the calibration) are every probe against every template.
    assert approximate["scores"] == exact["scores"]
