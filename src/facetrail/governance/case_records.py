"""A case's searches as the log records them, held against the rows a disclosure is made
from: prosecutors get every search of the case, each as it was requested, run and reviewed,
or no disclosure at all.

The log's ``search.request`` entries name each search's agency and case; the searches of a
case are never deleted by facetrail (erasure tombstones candidates, retention purges probes),
so a search the log requested for the case whose row is gone, a row now naming the case that
the log requested for another, and a search whose rows disagree with their seals or entries
(``records.search_problem``) each make the disclosure a record tampered with.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.records import search_problem
from facetrail.store.schema import AuditEntryRow, SearchRecord

__all__ = ["case_problem"]


def requested_for(session: Session, agency: str, case_number: str) -> set[int]:
    """The ids of the searches the log records as requested by ``agency`` for the case."""
    found: set[int] = set()
    statement = select(AuditEntryRow.subject, AuditEntryRow.details).where(
        AuditEntryRow.kind == "search.request", AuditEntryRow.agency == agency
    )
    if case_number.isascii():  # written as is in the entry's JSON: narrowed in SQL first
        statement = statement.where(AuditEntryRow.details.contains(case_number))
    for subject, details in session.execute(statement):
        try:
            case = json.loads(details).get("case")
            search_id = int(str(subject).removeprefix("search:"))
        except (ValueError, AttributeError):
            continue  # an unreadable entry: audit verify names it
        if case == case_number:
            found.add(search_id)
    return found


def case_problem(
    session: Session, agency: str, case_number: str, records: list[SearchRecord]
) -> str | None:
    """Why the rows of a case's searches (``records``, of ``agency``) are not what the log
    says, or None."""
    logged = requested_for(session, agency, case_number)
    held = {r.id for r in records}
    if missing := sorted(logged - held):
        return f"search {missing[0]} of this case was removed or moved outside facetrail"
    if extra := sorted(held - logged):
        return f"search {extra[0]} was not requested for this case (changed outside facetrail)"
    for record in records:
        if problem := search_problem(session, record):
            return f"search {record.id}: {problem}"
    return None
