"""A case's disclosure as a printable document: every search on its pages, any script the
notes are written in, and no blank or broken document for a case of many searches."""

from __future__ import annotations

import re
import zlib

from facetrail.services.searching.disclosure_document import disclosure_pdf
from facetrail.services.searching.review import Disclosure


def _search(number: int, note: str) -> dict[str, object]:
    return {
        "search_id": number,
        "requested_by": "ivy",
        "requested_at": "2026-12-01T10:00:00+00:00",
        "offense": "armed-robbery",
        "justification": "Bank robbery on 3 Main St; " + "the lobby camera caught him. " * 8,
        "galleries": ["bookings", "dmv"],
        "policy_version": 3,
        "status": "done",
        "needed_approval": True,
        "decided_by": "sam",
        "decision_note": note,
        "produced_by": {"bookings": {"pack": "arcface-mbf", "index": "exact", "size": 1200}},
        "candidates_returned": 50,
        "candidates_reviewed": [
            {
                "candidate": number * 100 + rank,
                "gallery": "bookings",
                "rank": rank,
                "score": 0.61,
                "image_sha256": "ab" * 32,
                "source": {"name": "county bookings 2019"},
            }
            for rank in (1, 2)
        ],
        "reviews": [
            {
                "candidate": number * 100 + 1,
                "stage": 1,
                "reviewer": "ian",
                "at": "2026-12-01T11:00:00+00:00",
                "decision": "possible_match",
                "note": note,
            },
            {
                "candidate": number * 100 + 1,
                "stage": 2,
                "reviewer": "sam",
                "at": "2026-12-01T12:00:00+00:00",
                "decision": None,
                "note": None,
                "hidden": "hidden until you review it",
            },
        ],
        "outcome": "lead",
        "outcome_by": "ivy",
        "outcome_note": "interviewed; alibi checked",
        "audit_entries": [
            {"seq": number * 10 + i, "kind": "search.run", "actor": "ivy", "at": "2026-12-01"}
            for i in range(5)
        ],
    }


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def test_every_search_is_printed_in_any_script_over_as_many_pages_as_it_takes() -> None:
    notes = ["Zoë Ødegård saw him", "目撃者は彼を見た", "свидетель видел его", "شاهد رآه"]
    made = Disclosure(
        case_number="2026-000123",
        agency="county",
        generated_by="sam",
        generated_at="2026-12-06T10:00:00+00:00",
        searches=[_search(n, notes[n % len(notes)]) for n in range(1, 13)],
        refused=[
            {
                "seq": 7,
                "at": "2026-12-01T09:00:00+00:00",
                "actor": "ivy",
                "details": {"code": "policy_refused", "reason": "offense not allowed"},
            }
        ],
        audit_entry=999,
        disclosures=[{"seq": 500, "at": "2026-12-02T09:00:00+00:00", "actor": "aude"}],
    )
    pdf = disclosure_pdf(made)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    one = disclosure_pdf(
        Disclosure("2026-000123", "county", "sam", "2026-12-06T10:00:00+00:00", [], [], 5)
    )
    assert _pages(one) == 1
    assert _pages(pdf) > 4  # twelve searches do not fit on one page, nor are they cut off
    # The pages hold text (not an empty document with a title).
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    texts = b"".join(zlib.decompress(s) for s in streams if s[:1] == b"x")
    assert b"Tj" in texts or b"TJ" in texts
