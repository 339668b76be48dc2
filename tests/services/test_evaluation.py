"""`facetrail eval identification` on a small slice of lfw-dev, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import get_settings
from tests.conftest import LFW, needs_lfw

pytestmark = needs_lfw


@pytest.mark.parametrize("mask", ["none", "synthetic"])
def test_eval_writes_required_keys_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mask: str
) -> None:
    monkeypatch.setenv("FACETRAIL_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "identification",
            "--dataset",
            str(LFW),
            "--pack",
            "sface",
            "--mask",
            mask,
            "--json",
            str(out),
            "--plot",
            str(tmp_path / "det.png"),
            "--scores-plot",
            str(tmp_path / "scores.png"),
            "--workers",
            "1",
            "--limit-identities",
            "60",
        ],
    )
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    fig = json.loads(out.read_text())
    for key in (
        "pack",
        "gallery_size",
        "mated_probes",
        "nonmated_probes",
        "failure_to_template_rate",
        "rank1",
        "fnir_at_fpir",
        "faces_per_second",
        "groups",
    ):
        assert key in fig
    assert set(fig["fnir_at_fpir"]) == {"0.01", "0.003"}
    assert fig["mated_probes"] > 20 and fig["nonmated_probes"] > 5
    assert fig["rank1"] > (0.9 if mask == "none" else 0.5)
    assert fig["groups"]["gender"]["male"]["mated"] > 0
    for png in ("det.png", "scores.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
