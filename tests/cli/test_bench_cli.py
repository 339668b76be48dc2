"""``facetrail bench scale`` as an operator runs it: the real gallery of a dataset among
synthetic distractors, figures on the terminal and in --json, templates kept between runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.terminal import Terminal
from tests.conftest import LFW, needs_lfw

pytestmark = [needs_lfw, pytest.mark.one_backend]

KEYS = {
    "size", "index", "build_seconds", "bytes_per_face", "p50_ms", "p99_ms", "qps",
    "rank1_ann", "rank1_exact", "fnir_ann", "fnir_exact",
}  # fmt: skip


def test_bench_scale_measures_the_index_against_exact_search(
    term: Terminal, tmp_path: Path
) -> None:
    templates, first, second = tmp_path / "t.npz", tmp_path / "a.json", tmp_path / "b.json"
    common = ["--dataset", str(LFW), "--limit-identities", "15", "--templates", str(templates)]
    out = term("bench", "scale", "--size", "1500", "--index", "ivfpq", "--json", str(first),
               "--erase", "50", *common)  # fmt: skip
    figures = json.loads(first.read_text())
    assert set(figures) >= KEYS and figures["size"] == 1500 and "PQ64" in figures["index"]
    assert figures["exact_rank1_lost"] == 0 and figures["rank1_exact"] > 0.5
    assert figures["after_erasure"]["erased_returned"] == 0
    assert "rank-1" in out and "FNIR@FPIR=0.01" in out and "returned again: 0" in out
    assert templates.exists()  # kept: the second run does not template the photos again
    term("bench", "scale", "--size", "1500", "--index", "exact", "--json", str(second), *common)
    again = json.loads(second.read_text())
    assert again["rank1_exact"] == figures["rank1_exact"] and "Flat" in again["index"]
    refused = term("bench", "scale", "--size", "10", *common, code=2)
    assert "smaller than the real gallery" in refused
    bad = term("bench", "scale", "--size", "1500", "--nprobe", "8,lots", *common, code=2)
    assert "--nprobe takes positive whole numbers" in bad
