"""A gallery admin's source work through the real CLI: a source corrected (each change shown
before and after), its photos listed with their provenance a page at a time, then the source
retired, after which an ingest into it is refused in words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.terminal import Terminal, first_photos, lfw_people
from tests.conftest import needs_lfw


@needs_lfw
def test_a_source_is_corrected_listed_and_retired(term: Terminal, tmp_path: Path) -> None:
    people = lfw_people(5)
    term.init()
    term.gallery(first_photos(tmp_path / "in", people[:3]))
    changed = term(
        "gallery",
        "edit-source",
        "g",
        "s",
        "--retention-days",
        "730",
        "--reason",
        "the order says two years",
    )
    assert "source s of g changed:" in changed and "retention days: 365 -> 730" in changed
    listed: Any = term.json("gallery", "photos", "g", "--order", "name")
    assert listed["total"] == 3 and [p["name"] for p in listed["photos"]] == sorted(
        p["name"] for p in listed["photos"]
    )
    assert all("thumbnail" not in p and p["source"] == "s" for p in listed["photos"])
    shown = term("gallery", "photos", "g")
    assert "page 1 of 1: 3 photos newest first" in shown
    retired = term("gallery", "retire-source", "g", "s", "--reason", "the supply ended")
    assert "its 3 images stay" in retired
    refused = term(
        "gallery",
        "ingest",
        str(first_photos(tmp_path / "more", people[3:])),
        "-g",
        "g",
        "-s",
        "s",
        code=2,
    )
    said = " ".join(refused.split())  # the terminal wraps long lines
    assert "error [wrong_state]" in said and "nothing more is ingested into it" in said
    assert (
        json.loads(term("gallery", "show", "g", "--json"))["sources"][0]["retired"]["by"] == "root"
    )
