"""How the record checks (``governance.records``) read the audit entries a record is held
to: an entry's details as a dict, the entries of one kind about one subject, and the
process-wide memory of row contents already found to agree with their entries.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.store.schema import AuditEntryRow


def entry_details(entry: AuditEntryRow) -> dict[str, Any]:
    """What an entry's details hold, or {} when they are not a JSON object."""
    try:
        value = json.loads(entry.details)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def logged_entries(session: Session, subject: str, kind: str) -> list[AuditEntryRow]:
    """The entries of ``kind`` about ``subject``, oldest first."""
    return list(
        session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.subject == subject, AuditEntryRow.kind == kind)
            .order_by(AuditEntryRow.seq)
        )
    )


#: Row contents already found to agree with their entries, in this process. A key holds every
#: field the check compares, so an edited row is a new key and is checked afresh; entries
#: are append-only (``audit verify`` catches one that changed). Bounded: cleared when full.
_AGREED: set[tuple[object, ...]] = set()
_AGREED_MAX = 4096


def agreed(key: tuple[object, ...]) -> bool:
    """Whether a row with exactly these contents was found to agree in this process."""
    return key in _AGREED


def remember_agreed(key: tuple[object, ...]) -> None:
    """Note that a row with these contents agrees with its entry."""
    if len(_AGREED) >= _AGREED_MAX:
        _AGREED.clear()
    _AGREED.add(key)
