"""A case's disclosure as a printable document (PDF, A4) for prosecutors and defence: the same
facts as the JSON (``review.case_disclosure``), laid out to be read on paper, with the lead
notice on every page and the disclosure's own audit entry in every footer.

Made from a ``Disclosure`` already read (and audited) by the service: this module reads
nothing and records nothing. The text is set in DejaVu Sans, the font matplotlib ships (a
dependency already), so any name or note in any script the font covers prints as typed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF, FontFace

from facetrail.services.searching.review import Disclosure

__all__ = ["disclosure_pdf"]

_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT = "DejaVu"
_LINE = 5.0
_HEADINGS = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))

#: store.vocabulary.SEARCH_STATUSES and the outcomes, in words
_STATES = {
    "pending": "waiting for approval",
    "approved": "approved, running",
    "denied": "denied",
    "failed": "failed",
    "done": "done",
}
_OUTCOMES = {"lead": "investigative lead", "no_lead": "no lead", None: "open"}


class _Document(FPDF):
    def __init__(self, disclosure: Disclosure) -> None:
        super().__init__(format="A4")
        self.disclosure = disclosure
        self.add_font(_FONT, "", str(_FONTS / "DejaVuSans.ttf"))
        self.add_font(_FONT, "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(f"Disclosure of case {disclosure.case_number}")
        self.set_author(disclosure.generated_by)
        self.set_creator("facetrail")

    def header(self) -> None:
        self.set_font(_FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.multi_cell(0, 4, self.disclosure.notice, align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(_FONT, "", 8)
        self.set_text_color(90, 90, 90)
        d = self.disclosure
        self.cell(
            0,
            4,
            f"Case {d.case_number}, {d.agency} · disclosed by {d.generated_by} at "
            f"{_when(d.generated_at)}, audit entry {d.audit_entry} · "
            f"page {self.page_no()} of {{nb}}",
            align="C",
        )

    def heading(self, text: str, size: int = 13) -> None:
        self.ln(2)
        self.set_font(_FONT, "B", size)
        self.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(1)
        self.set_font(_FONT, "", 10)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        """Label and value pairs, the value wrapped beside its label."""
        for label, value in rows:
            self.set_font(_FONT, "B", 10)
            self.cell(45, _LINE, label)
            self.set_font(_FONT, "", 10)
            self.multi_cell(0, _LINE, value or "none", align="L", new_x="LMARGIN", new_y="NEXT")

    def rows(self, titles: tuple[str, ...], widths: tuple[int, ...], rows: list[list[str]]) -> None:
        self.set_font(_FONT, "", 8)
        with self.table(
            col_widths=widths, headings_style=_HEADINGS, line_height=4, text_align="LEFT"
        ) as table:
            table.row(titles)
            for values in rows:
                table.row(values)
        self.set_font(_FONT, "", 10)
        self.ln(2)


def disclosure_pdf(disclosure: Disclosure) -> bytes:
    """The disclosure as a PDF document."""
    doc = _Document(disclosure)
    doc.add_page()
    doc.heading(f"Disclosure of case {disclosure.case_number}", 16)
    doc.facts(
        [
            ("Agency", disclosure.agency),
            ("Disclosed by", disclosure.generated_by),
            ("Disclosed at", _when(disclosure.generated_at)),
            ("Audit entry", str(disclosure.audit_entry)),
            ("Searches", str(len(disclosure.searches))),
            ("Refused searches", str(len(disclosure.refused))),
            ("Earlier disclosures", str(len(disclosure.disclosures))),
        ]
    )
    for item in disclosure.searches:
        _search(doc, item)
    if disclosure.refused:
        doc.heading("Searches refused by policy (never run)")
        doc.rows(
            ("Entry", "At", "By", "Why"),
            (14, 38, 28, 110),
            [
                [str(r["seq"]), _when(r["at"]), r["actor"], _reason(r["details"])]
                for r in disclosure.refused
            ],
        )
    doc.heading("Disclosures of this case")
    doc.rows(
        ("Entry", "At", "By"),
        (20, 60, 110),
        [[str(d["seq"]), _when(d["at"]), d["actor"]] for d in disclosure.disclosures]
        + [[str(disclosure.audit_entry), _when(disclosure.generated_at), disclosure.generated_by]],
    )
    return bytes(doc.output())


def _search(doc: _Document, item: dict[str, Any]) -> None:
    doc.heading(f"Search {item['search_id']}")
    decided = item.get("decided_by")
    approval = "not needed"
    if item.get("needed_approval"):
        approval = f"by {decided}: {item.get('decision_note') or ''}" if decided else "waiting"
    produced = item.get("produced_by") or {}
    doc.facts(
        [
            ("Asked by", str(item.get("requested_by"))),
            ("Asked at", _when(item.get("requested_at"))),
            ("Offense", str(item.get("offense"))),
            ("Justification", str(item.get("justification"))),
            *(
                [("Second reason (offense close to protected activity)", str(reason))]
                if (reason := item.get("second_reason"))
                else []
            ),
            *([("Crowd probe", f"{crowd} faces")] if (crowd := item.get("crowd_faces")) else []),
            (
                "Attestation",
                str(item.get("attestation") or "none recorded (asked before attestations were)"),
            ),
            ("Galleries", ", ".join(item.get("galleries", []))),
            ("Policy version", str(item.get("policy_version"))),
            ("State", _STATES.get(str(item.get("status")), str(item.get("status")))),
            ("Approval", approval),
            (
                "Searched with",
                "; ".join(
                    f"{g}: {p.get('pack')}, {p.get('index')}, {p.get('size')} faces"
                    for g, p in produced.items()
                ),
            ),
            ("Candidates returned", str(item.get("candidates_returned"))),
            ("Outcome", _outcome(item)),
        ]
    )
    reviewed = item.get("candidates_reviewed") or []
    if reviewed:
        doc.heading("Candidates reviewed", 11)
        doc.rows(
            ("Candidate", "Gallery", "Rank", "Score", "Image (SHA-256)", "Source"),
            (20, 26, 12, 16, 68, 48),
            [
                [
                    str(c["candidate"]),
                    c["gallery"],
                    str(c["rank"]),
                    f"{c['score']:.3f}",
                    c["image_sha256"],
                    str((c.get("source") or {}).get("name", "")),
                ]
                for c in reviewed
            ],
        )
    reviews = item.get("reviews") or []
    if reviews:
        doc.heading("Reviews", 11)
        doc.rows(
            ("Candidate", "Stage", "Reviewer", "At", "Call", "Note"),
            (20, 14, 24, 34, 30, 68),
            [
                [
                    str(r["candidate"]),
                    str(r["stage"]),
                    str(r["reviewer"]),
                    _when(r["at"]),
                    str(r.get("decision") or "hidden until reviewed"),
                    str(r.get("note") or r.get("hidden") or ""),
                ]
                for r in reviews
            ],
        )
    entries = item.get("audit_entries") or []
    if entries:
        doc.heading("Audit entries", 11)
        doc.rows(
            ("Entry", "Kind", "By", "At"),
            (18, 50, 50, 72),
            [[str(e["seq"]), e["kind"], e["actor"], _when(e["at"])] for e in entries],
        )


def _when(iso: object) -> str:
    """An ISO time as people read it: "2026-12-01 10:00 UTC" (every stored time is UTC)."""
    text = str(iso or "")
    return f"{text[:10]} {text[11:16]} UTC" if len(text) >= 16 else text


def _outcome(item: dict[str, Any]) -> str:
    words = _OUTCOMES.get(item.get("outcome"), str(item.get("outcome")))
    if item.get("outcome_by"):
        words += f", by {item['outcome_by']}"
    if item.get("outcome_note"):
        words += f": {item['outcome_note']}"
    return words


def _reason(details: dict[str, Any]) -> str:
    for key in ("reason", "error", "message"):
        if key in details:
            return str(details[key])
    return ", ".join(f"{k}: {v}" for k, v in sorted(details.items()))
