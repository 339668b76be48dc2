"""The scale benchmark's measurement (``eval.scale``): distractors that look like the real
templates, an index searched as served against exact search in the same run, and erased
faces never returned again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import InvalidRequestError
from facetrail.eval.scale import RealTemplates, distractors, measure_scale
from tests.index.test_ivf_index import face_like

pytestmark = pytest.mark.database_free

KEYS = {
    "size", "index", "build_seconds", "bytes_per_face", "p50_ms", "p99_ms", "qps",
    "rank1_ann", "rank1_exact", "fnir_ann", "fnir_exact",
}  # fmt: skip


def _real(people: int = 300) -> RealTemplates:
    """A gallery of ``people`` (one template each), a second sample of each as a mated probe
    (every fifth fails to template) and strangers as non-mated probes."""
    vectors, _, sample = face_like(people + 100, 1, seed=21)
    second = sample(np.arange(people))  # type: ignore[operator]
    mated = [(None if i % 5 == 4 else second[i], i) for i in range(people)]
    return RealTemplates(vectors[:people], mated, list(vectors[people:]))


def test_distractors_follow_the_real_templates_not_uniform_noise() -> None:
    real = _real().gallery
    drawn = np.concatenate(list(distractors(real, 5000, seed=1)))
    assert drawn.shape == (5000, real.shape[1])
    np.testing.assert_allclose(np.linalg.norm(drawn, axis=1), 1.0, atol=1e-5)
    # They share the real faces' mean direction (uniform unit vectors would score ~0 with it).
    direction = real.mean(axis=0) / np.linalg.norm(real.mean(axis=0))
    assert abs(float((drawn @ direction).mean()) - float((real @ direction).mean())) < 0.05
    # and their similarity to one another is that of real impostors.
    real_pairs = (real[:150] @ real[150:300].T).mean()
    drawn_pairs = (drawn[:150] @ drawn[150:300].T).mean()
    assert abs(float(real_pairs - drawn_pairs)) < 0.05


def test_the_index_is_measured_against_exact_search_in_the_same_run(tmp_path: Path) -> None:
    real = _real()
    figures = measure_scale(real, 4000, "ivfpq", tmp_path, erase=200, nprobes=(1, 10**6), threads=1)
    assert set(figures) >= KEYS and figures["size"] == 4000
    assert "PQ64" in figures["index"] and figures["p99_ms"] >= figures["p50_ms"] > 0
    # Every fifth mated probe failed to template: a miss for both, so rank-1 is at most 0.8.
    assert figures["rank1_exact"] == pytest.approx(0.8, abs=0.01)
    assert figures["rank1_ann"] <= figures["rank1_exact"] + 1e-9
    assert figures["exact_rank1_lost"] == 0 and figures["rank1_ann"] == figures["rank1_exact"]
    assert 0.2 <= figures["fnir_exact"] <= 1.0  # the failures are misses at every threshold
    few, every = figures["nprobe_sweep"]  # one list, then all of them (capped at nlist)
    assert few["nprobe"] == 1 and every["nprobe"] == every["nlist"]
    assert few["rank1_ann"] <= every["rank1_ann"] and every["exact_rank1_lost"] == 0
    erased = figures["after_erasure"]
    assert erased["erased"] == 200 and erased["erased_returned"] == 0
    assert erased["rank1_ann"] == figures["rank1_ann"]  # only distractors were erased


def test_exact_against_itself_loses_nothing(tmp_path: Path) -> None:
    figures = measure_scale(_real(100), 500, "exact", tmp_path, exact_probes=50, threads=1)
    assert figures["exact_probes"] == 50
    assert figures["rank1_ann"] == figures["rank1_exact"] and figures["exact_rank1_lost"] == 0
    assert "Flat" in figures["index"]


def test_a_size_smaller_than_the_real_gallery_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="smaller than the real gallery"):
        measure_scale(_real(100), 50, "auto", tmp_path)
