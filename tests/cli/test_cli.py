"""The CLI as a user types it: JSON output, typed errors, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import get_settings
from tests.conftest import lfw_people, needs_lfw

pytestmark = needs_lfw


@pytest.fixture()
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FACETRAIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACETRAIL_THREADS", "1")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    yield invoke
    get_settings.cache_clear()


def test_gallery_ingest_search_verify(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    people = lfw_people(5)
    folder = tmp_path / "in"
    folder.mkdir()
    for person in people:
        shutil.copy(sorted(person.glob("*.jpg"))[0], folder)
    run("gallery", "create", "g")
    run(
        "gallery",
        "add-source",
        "g",
        "s",
        "--kind",
        "booking photos",
        "--legal-basis",
        "statute",
        "--supplied-by",
        "sheriff",
        "--collected-at",
        "2026-02-01",
        "--retention-days",
        "365",
    )
    summary = json.loads(
        run("gallery", "ingest", str(folder), "-g", "g", "-s", "s", "--workers", "1", "--json")
    )
    assert summary["images_ingested"] == 5 and summary["failures"] == []
    listed = json.loads(run("gallery", "list", "--json"))
    assert listed[0]["name"] == "g" and listed[0]["images"] == 5

    probe = sorted(people[1].glob("*.jpg"))[1]
    out = json.loads(
        run(
            "search",
            str(probe),
            "-g",
            "g",
            "--top",
            "2",
            "--json",
            "--crops",
            str(tmp_path / "crops"),
        )
    )
    best = out["candidates"][0]
    assert best["image_name"].startswith(people[1].name)
    assert Path(best["crop_path"]).read_bytes()[:2] == b"\xff\xd8"
    assert best["false_match"] is None or 0 < best["false_match"]["fmr"] < 1e-3
    assert out["probe_faces"][0]["used"] is True

    same = json.loads(run("verify", str(probe), str(sorted(people[1].glob("*.jpg"))[0]), "--json"))
    other = json.loads(run("verify", str(probe), str(sorted(people[2].glob("*.jpg"))[0]), "--json"))
    assert same["score"] > 0.3 > other["score"]

    rebuilt = json.loads(run("index", "rebuild", "g", "--json"))
    assert rebuilt["entries"] == json.loads(run("gallery", "show", "g", "--json"))["templates"]


def test_errors_are_typed_and_name_the_thing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = run("search", str(tmp_path / "nope.jpg"), "-g", "g", code=2)
    assert "nope.jpg" in out
    (tmp_path / "x.jpg").write_text("hello")
    run("gallery", "create", "g")
    out = run("search", str(tmp_path / "x.jpg"), "-g", "g", code=2)
    assert "image_not_an_image" in out and "x.jpg" in out
    out = run("gallery", "show", "missing", code=2)
    assert "gallery_not_found" in out and "missing" in out
    out = run("gallery", "create", "g2", "--pack", "r100", code=2)
    assert "model_pack_unknown" in out


def test_models_lists_licences(run) -> None:  # type: ignore[no-untyped-def]
    packs = json.loads(run("models", "--json"))
    by_name = {p["name"]: p for p in packs}
    assert by_name["arcface-mbf"]["installed"] and by_name["sface"]["installed"]
    assert "non-commercial" in by_name["arcface-mbf"]["licence"]
    text = run("models", "--no-check")
    assert "non-commercial research" in text
