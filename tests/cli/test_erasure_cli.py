"""Erasure and retention through the real CLI (issue 14): a gallery admin opens a request with
the person's photos, confirms the faces found, completes it and hands over the receipt, which
verifies offline against the log's public key (and is refused once altered); retention runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.terminal import Terminal, first_photos, lfw_people
from tests.conftest import needs_lfw


@needs_lfw
def test_erasure_from_request_to_receipt(term: Terminal, tmp_path: Path) -> None:
    people = lfw_people(4)
    term.init()
    term.gallery(first_photos(tmp_path / "in", people))
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
    assert opened["status"] == "open" and len(opened["matches"]) == 1
    match = opened["matches"][0]["id"]
    assert "confirm or reject" in term("erasure", "complete", str(opened["id"]), code=2)
    term("erasure", "decide", str(opened["id"]), "--confirm", str(match))
    receipt = tmp_path / "receipt.txt"
    done: Any = term.json("erasure", "complete", str(opened["id"]), "--receipt-out", str(receipt))
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

    ran: Any = term.json("retention", "run")
    assert ran["sources"] == [] and ran["index_entries_written"] == 0
    gallery: Any = term.json("gallery", "show", "g")
    assert gallery["images"] == 3  # of four
