"""Rows held to their seals where the product is about to act on them (``governance.seals``):
a row agrees when its digest is that of its seal index entry and that entry is the log's."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import Table, inspect, select
from sqlalchemy.orm import Session

from facetrail.errors import RecordMismatchError
from facetrail.governance.seals import (
    CHUNK,
    SEAL_KIND,
    Sealed,
    changed_columns,
    read_with_index,
    seal_of,
)
from facetrail.store.schema import AuditEntryRow, Base
from facetrail.store.sealing import key_columns, key_text, noted, sealed_columns

__all__ = ["require_sealed", "row_problem", "rows_problems", "tampered"]

#: (database, seq) -> the seal entry's rows, parsed (entries never change: ``audit verify``
#: catches one that did). Bounded, least recently used dropped first.
_PARSED: OrderedDict[tuple[str, int], dict[str, dict[str, str | None]]] = OrderedDict()
_PARSED_MAX = 256


def _logged(session: Session, seqs: Iterable[int]) -> dict[int, dict[str, dict[str, str | None]]]:
    """The rows each of the ``row.seal`` entries ``seqs`` seals (table -> key -> digest); an
    entry that is missing, not a seal, or unreadable is left out. One statement, for the
    entries not parsed already (entries never change: ``audit verify`` finds one that did)."""
    found: dict[int, dict[str, dict[str, str | None]]] = {}
    missing: list[int] = []
    database = str(session.get_bind().engine.url)
    for seq in sorted(set(seqs)):
        if (parsed := _PARSED.get((database, seq))) is not None:
            _PARSED.move_to_end((database, seq))
            found[seq] = parsed
        else:
            missing.append(seq)
    for start in range(0, len(missing), CHUNK):
        part = missing[start : start + CHUNK]
        for seq, kind, details in session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.kind, AuditEntryRow.details).where(
                AuditEntryRow.seq.in_(part)
            )
        ):
            if kind != SEAL_KIND:
                continue
            try:
                parsed = dict(json.loads(details).get("rows", {}))
            except (ValueError, AttributeError):
                continue
            found[int(seq)] = _PARSED[(database, int(seq))] = parsed
            if len(_PARSED) > _PARSED_MAX:
                _PARSED.popitem(last=False)
    return found


#: (mapped class, table) -> the attribute names of its key columns, then of its sealed ones
_ATTRIBUTES: dict[tuple[type, str], tuple[list[str], int]] = {}


def _attributes(table: Table, row: Base) -> tuple[list[str], int]:
    """The attribute names of ``row`` for ``table``'s key columns, then its sealed columns, and
    how many key columns there are."""
    found = _ATTRIBUTES.get((type(row), table.name))
    if found is None:
        mapper = inspect(row).mapper
        keys = key_columns(table)
        columns = (*keys, *sealed_columns(table))
        found = [mapper.get_property_by_column(c).key for c in columns], len(keys)
        _ATTRIBUTES[(type(row), table.name)] = found
    return found


def _as_read(table: Table, row: Base) -> tuple[str, Sealed | None]:
    """(key, seal) of a row the session has just read, from its attributes; the seal is None
    when they may not be what the database holds (changed, expired or partly loaded): the row
    is then read again."""
    state = inspect(row)
    attrs, width = _attributes(table, row)
    loaded = state.dict
    key = key_text(tuple(loaded[a] if a in loaded else getattr(row, a) for a in attrs[:width]))
    if not state.persistent or state.modified or any(a not in loaded for a in attrs):
        return key, None
    names = [c.name for c in sealed_columns(table)]
    return key, seal_of(table, names, key, [loaded[a] for a in attrs[width:]])


def rows_problems(session: Session, table_name: str, keys: Iterable[object]) -> dict[str, str]:
    """For each of ``keys`` whose row disagrees with the log: why. A key is a primary key
    value, a tuple of them, or the row itself as this transaction just read it (its digest is
    then taken from what was read, without reading it again). A row agrees when its digest is
    that of its seal and the seal is the log's. A key with neither row nor seal is not reported
    (nothing is there to act on)."""
    table = Base.metadata.tables[table_name]
    now: dict[str, Sealed] = {}
    wanted: set[str] = set()
    for k in keys:
        if isinstance(k, Base):
            key, seal = _as_read(table, k)
            if seal is not None:
                now[key] = seal
        else:
            key = key_text(k if isinstance(k, tuple) else (k,))
        wanted.add(key)
    texts = sorted(wanted)
    if not texts:
        return {}
    # rows an acting transaction wrote are sealed as it commits
    texts = sorted(set(texts) - noted(session.connection(), table_name, texts))
    now, known = read_with_index(session, table, texts, now)
    logged = _logged(session, (index.seq for index in known.values()))
    problems: dict[str, str] = {}
    for key in texts:
        seal, index = now.get(key), known.get(key)
        if seal is None and index is None:
            continue
        if index is None:
            problems[key] = "it has no seal in the audit log (written outside facetrail)"
        elif seal is None:
            problems[key] = "it was deleted outside facetrail"
        elif seal.digest != index.digest:
            changed = changed_columns(table, seal.columns, index.columns)
            problems[key] = f"its {', '.join(changed) or 'content'} differ from its seal"
        elif logged.get(index.seq, {}).get(table_name, {}).get(key) != index.digest:
            problems[key] = f"its seal differs from the audit log's entry {index.seq}"
    return problems


def row_problem(session: Session, table_name: str, key: object) -> str | None:
    """Why one row disagrees with the log (``rows_problems``), or None."""
    return next(iter(rows_problems(session, table_name, [key]).values()), None)


def tampered(
    session: Session, what: str, rows: dict[str, Iterable[object]]
) -> RecordMismatchError | None:
    """The refusal to act on ``what`` (the account, the token ...) when one of its ``rows``
    (table -> keys) disagrees with the log, naming the row and how; None when all agree."""
    for table_name, keys in rows.items():
        problems = rows_problems(session, table_name, keys)
        if problems:
            key, problem = next(iter(problems.items()))
            return RecordMismatchError(
                f"{what} was changed outside facetrail and will not be used: {problem}",
                subject=f"{table_name} {key}",
            )
    return None


def require_sealed(session: Session, what: str, rows: dict[str, Iterable[object]]) -> None:
    """Raise ``tampered``'s refusal, if any."""
    if (error := tampered(session, what, rows)) is not None:
        raise error
