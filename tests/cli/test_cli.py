"""The CLI as a user types it: JSON output, typed errors, exit codes, sign-in required."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.terminal import OPERATORS, Terminal, first_photos, lfw_people, second_photo
from tests.conftest import needs_lfw
from tests.crowd import composed_photo


def _investigator_on(term: Terminal, gallery: str = "g") -> None:
    """The signed-in admin makes ivy an investigator of the operators' agency, lets the agency
    search ``gallery`` without prior approval, and hands over to ivy."""
    term.account("ivy", OPERATORS, "investigator")
    term(
        "policy",
        "set",
        OPERATORS,
        "--gallery",
        gallery,
        "--approval",
        "never",
        "--reason",
        "tests search this gallery",
    )
    term.login("ivy")


@needs_lfw
def test_gallery_ingest_search_verify(term: Terminal, tmp_path: Path) -> None:
    people = lfw_people(5)
    term.init()
    term.gallery(first_photos(tmp_path / "in", people))
    listed: Any = term.json("gallery", "list")
    assert listed[0]["name"] == "g" and listed[0]["images"] == 5
    templates = listed[0]["templates"]
    _investigator_on(term)

    probe = second_photo(people[1])
    out = json.loads(term.search(probe, top="2", crops=str(tmp_path / "crops"), flags=("--json",)))
    assert out["status"] == "done" and out["requester"] == "ivy"
    best = out["candidates"][0]
    assert best["image_name"].startswith(people[1].name) and best["gallery"] == "g"
    assert Path(best["crop_path"]).read_bytes()[:2] == b"\xff\xd8"
    assert best["false_match"] is None or 0 < best["false_match"]["fmr"] < 1e-3
    assert out["probe_faces"][0]["used"] is True
    assert out["produced_by"]["g"]["size"] == templates and out["produced_by"]["g"]["pack"]
    text = term.search(probe, top="2")
    assert "investigative leads" in text and f"{templates} templates" in text

    same: Any = term.json("verify", str(probe), str(sorted(people[1].glob("*.jpg"))[0]))
    other: Any = term.json("verify", str(probe), str(sorted(people[2].glob("*.jpg"))[0]))
    assert same["score"] > 0.3 > other["score"]

    out_text = term("index", "rebuild", "g", code=2)  # an investigator is no gallery admin
    assert "permission_denied" in out_text
    term.login("root")
    rebuilt: Any = term.json("index", "rebuild", "g")
    assert rebuilt["entries"] == templates


def test_acting_needs_sign_in(term: Terminal, tmp_path: Path) -> None:
    term.init()
    term("logout")
    out = term("gallery", "create", "g", code=2)
    assert "not_logged_in" in out
    out = term.search(tmp_path / "nope.jpg", code=2)  # the probe is read first
    assert "image_unreadable" in out and "nope.jpg" in out
    (tmp_path / "x.jpg").write_text("hello")
    out = term.search(tmp_path / "x.jpg", code=2)
    assert "not_logged_in" in out


def test_errors_are_typed_and_name_the_thing(term: Terminal, tmp_path: Path) -> None:
    term.init()
    term("gallery", "create", "g")
    out = term("gallery", "show", "missing", code=2)
    assert "gallery_not_found" in out and "missing" in out
    out = term("gallery", "create", "g2", "--pack", "r100", code=2)
    assert "model_pack_unknown" in out
    (tmp_path / "x.jpg").write_text("hello")
    out = term.search(tmp_path / "x.jpg", code=2)  # a system admin does not search
    assert "permission_denied" in out
    _investigator_on(term)
    out = term.search(tmp_path / "x.jpg", code=2)
    assert "image_not_an_image" in out and "x.jpg" in out
    out = term.search(tmp_path / "x.jpg", offense="littering", code=2)
    assert "offense_not_allowed" in out and "littering" in out
    out = term.search(tmp_path / "x.jpg", gallery="other", code=2)
    assert "gallery_not_allowed" in out and "other" in out
    out = term.search(tmp_path / "x.jpg", case="no", code=2)
    assert "case_number_invalid" in out


def test_models_lists_licences(term: Terminal) -> None:
    packs: Any = term.json("models")
    by_name = {p["name"]: p for p in packs}
    assert by_name["arcface-mbf"]["installed"] and by_name["sface"]["installed"]
    assert "non-commercial" in by_name["arcface-mbf"]["licence"]
    text = term("models", "--no-check")
    assert "non-commercial research" in text


@needs_lfw
def test_a_crowd_probe_is_held_then_refused_from_the_command_line(
    term: Terminal, tmp_path: Path
) -> None:
    """A photo of six people (issue 25): held for approval, saying why; once the policy (set
    from the command line too) refuses crowds, refused with its code."""
    people = lfw_people(6)
    term.init()
    term.gallery(first_photos(tmp_path / "in", people[:3]))
    _investigator_on(term)
    rally = tmp_path / "rally.jpg"
    rally.write_bytes(composed_photo([second_photo(p) for p in people]))
    held = " ".join(term.search(rally).split())
    assert "pending" in held and "a crowd probe: a photo holds" in held
    term.login("root")
    term("policy", "set", OPERATORS, "--crowd-probes", "refuse", "--reason", "no crowd searches")
    term.login("ivy")
    refused = " ".join(term.search(rally, case="2026-000901", code=2).split())
    assert "error [crowd_probe]" in refused and "more than the 5 the policy allows" in refused


@needs_lfw
def test_a_search_needs_the_attestation_and_a_marked_offense_a_second_reason(
    term: Terminal, tmp_path: Path
) -> None:
    """Without --attest no search runs (issue 25); once the policy (set from the command line)
    marks an offense as close to protected activity, a search under it needs
    --protected-reason, which the search's answer shows."""
    people = lfw_people(3)
    term.init()
    term.gallery(first_photos(tmp_path / "in", people))
    _investigator_on(term)
    probe = second_photo(people[1])
    refused = " ".join(term.search(probe, flags=("--no-attest",), code=2).split())
    assert "error [attestation_missing]" in refused and "exercising protected rights" in refused
    term.login("root")
    offenses = ["--offense", "armed-robbery", "--offense", "unlawful-assembly"]
    marked = ["--protected-offense", "unlawful-assembly"]
    term("policy", "set", OPERATORS, *offenses, *marked, "--reason", "protests are marked")
    term.login("ivy")
    asked = {"case": "2026-000911", "offense": "unlawful-assembly"}
    short = " ".join(term.search(probe, code=2, **asked).split())
    assert "error [attestation_missing]" in short and "second reason of at least 30" in short
    conduct = "Broke the windows of the bank at 3 Main St with a hammer."
    done = " ".join(term.search(probe, protected_reason=conduct, **asked).split())
    assert (
        f"second reason (unlawful-assembly is marked as close to protected activity): {conduct}"
        in done
    )
