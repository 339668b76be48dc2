"""Erasure and retention through the real CLI (issue 14, under four eyes since issue 21): an
admin opens a request with the person's photos, a privacy officer approves it (only then are
the faces found), the admin confirms the faces found, the officer completes it and the receipt
is handed over, which verifies offline against the log's public key (and is refused once
altered); retention runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.terminal import OPERATORS, Terminal, first_photos, lfw_people
from tests.conftest import needs_lfw


@needs_lfw
def test_erasure_from_request_to_receipt(term: Terminal, tmp_path: Path) -> None:
    people = lfw_people(4)
    term.init()
    term.gallery(first_photos(tmp_path / "in", people))
    term.account("pia", OPERATORS, "privacy_officer")
    person = sorted(people[2].glob("*.jpg"))[0]  # the gallery's photo of them

    opened: Any = term.json(
        "erasure",
        "open",
        str(person),
        "--reference",
        "REQ-7",
        "--identity-check",
        "passport seen at the desk",
        "--no-consent",
    )
    assert opened["status"] == "requested" and opened["matches"] == []
    number = str(opened["id"])
    # The opener cannot let their own request's matching run.
    assert "never the opener" in term("erasure", "approve", number, "--note", "x" * 12, code=2)
    term.login("pia")
    approved: Any = term.json("erasure", "approve", number, "--note", "identity check seen")
    assert approved["status"] == "open" and len(approved["matches"]) == 1
    assert approved["approved_by"] == "pia"
    match = approved["matches"][0]["id"]
    assert "confirm or reject" in term("erasure", "complete", number, code=2)
    term.login("root")
    term("erasure", "decide", number, "--confirm", str(match))
    # Whoever decided does not confirm their own decisions.
    assert "privacy officer" in term("erasure", "complete", number, code=2)
    term.login("pia")
    receipt = tmp_path / "receipt.txt"
    done: Any = term.json("erasure", "complete", number, "--receipt-out", str(receipt))
    assert done["status"] == "done" and receipt.read_text().startswith("facetrail erasure receipt")

    vkey = next((term.home / "keys").glob("*.vkey"), None) or next((term.home / "keys").iterdir())
    checked: Any = term.json("erasure", "verify-receipt", str(receipt), "--key", str(vkey))
    assert checked["verified"] and checked["receipt_id"] == done["receipt_id"]
    assert len(checked["receipt"]["removed"]["images"]) == 1
    forged = tmp_path / "forged.txt"
    forged.write_text(receipt.read_text().replace("REQ-7", "REQ-8"))
    assert "does not verify" in term(
        "erasure", "verify-receipt", str(forged), "--key", str(vkey), code=2
    )

    term.login("root")
    ran: Any = term.json("retention", "run")
    assert ran["sources"] == [] and ran["index_entries_written"] == 0
    gallery: Any = term.json("gallery", "show", "g")
    assert gallery["images"] == 3  # of four
