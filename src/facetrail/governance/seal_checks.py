"""Rows held to their seals where the product is about to act on them (``governance.seals``):
a row agrees when its digest is that of its seal index entry and that entry is the log's."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import Column, Table, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import instance_state

from facetrail.errors import RecordMismatchError
from facetrail.governance.seal_digests import Sealed, changed_columns, logged_digest, seal_of
from facetrail.governance.seal_follower import deleted_by, last_seals, visible_end
from facetrail.governance.seal_reads import LoggedRows, current_seals, indexed, logged_rows
from facetrail.store.schema import Base
from facetrail.store.sealing import key_columns, key_text, noted_many, sealed_columns

__all__ = [
    "AsRead",
    "read_columns",
    "require_sealed",
    "row_problem",
    "rows_problems",
    "tables_problems",
    "tampered",
]


class AsRead(tuple[object, ...]):
    """A row's values as a statement just read them (its key's, then its sealed columns', in
    ``read_columns`` order; the statement may read other tables' beside them): its digest is
    taken from them, without reading the row again."""

    __slots__ = ()


def read_columns(table: Table) -> tuple[Column[object], ...]:
    """The columns a statement selects to hand a row of ``table`` to the checks as ``AsRead``."""
    return (*key_columns(table), *sealed_columns(table))


#: (mapped class, table) -> the attribute names of its key columns, then of its sealed ones;
#: how many key columns there are; the sealed columns' names
_ATTRIBUTES: dict[tuple[type, str], tuple[list[str], int, list[str]]] = {}


def _attributes(table: Table, row: Base) -> tuple[list[str], int, list[str]]:
    """The attribute names of ``row`` for ``table``'s key columns, then its sealed columns, how
    many key columns there are, and the sealed columns' names."""
    found = _ATTRIBUTES.get((type(row), table.name))
    if found is None:
        mapper = inspect(row).mapper
        keys = key_columns(table)
        columns = (*keys, *sealed_columns(table))
        attrs = [mapper.get_property_by_column(c).key for c in columns]
        found = attrs, len(keys), [c.name for c in sealed_columns(table)]
        _ATTRIBUTES[(type(row), table.name)] = found
    return found


def _as_read(table: Table, row: Base) -> tuple[str, Sealed | None]:
    """(key, seal) of a row the session has just read, from its attributes; the seal is None
    when they may not be what the database holds (changed, expired or partly loaded): the row
    is then read again."""
    state = instance_state(row)  # what ``inspect`` returns, without its dispatch per row
    attrs, width, names = _attributes(table, row)
    loaded = state.dict
    try:
        values = [loaded[a] for a in attrs]
    except KeyError:  # expired or partly loaded
        return key_text(tuple(getattr(row, a) for a in attrs[:width])), None
    key = key_text(tuple(values[:width]))
    if not state.persistent or state.modified:
        return key, None
    return key, _digested(table, key, names, values[width:])


def _as_given(table: Table, row: AsRead) -> tuple[str, Sealed]:
    """(key, seal) of a row handed over as read (``AsRead``)."""
    width, names = _layout(table)
    key = key_text(row[:width])
    return key, _digested(table, key, names, list(row[width:]))


@functools.cache
def _layout(table: Table) -> tuple[int, list[str]]:
    """How many key columns ``table`` has, and its sealed columns' names."""
    return len(key_columns(table)), [c.name for c in sealed_columns(table)]


def _digested(table: Table, key: str, names: list[str], sealed: list[object]) -> Sealed:
    """The seal of a row's sealed columns' values as read, taken from ``_DIGESTED`` when they
    are the values it last digested for that row."""
    known = _DIGESTED.get((table.name, key))
    if known is not None and known[0] == sealed:
        _DIGESTED.move_to_end((table.name, key))
        return known[1]
    seal = seal_of(table, names, key, sealed)
    _DIGESTED[(table.name, key)] = (sealed, seal)
    if len(_DIGESTED) > _DIGESTED_MAX:
        _DIGESTED.popitem(last=False)
    return seal


#: (table, key) -> the sealed columns' values of a row as last read here, and their digest:
#: a row read again with equal values has that digest (it depends on nothing else), so the
#: rows read at every search (candidates' templates, faces, images) are not hashed again.
#: Bounded, least recently used dropped first.
_DIGESTED: OrderedDict[tuple[str, str], tuple[list[object], Sealed]] = OrderedDict()
_DIGESTED_MAX = 8192


def rows_problems(session: Session, table_name: str, keys: Iterable[object]) -> dict[str, str]:
    """For each of ``keys`` whose row disagrees with the log: why. A key is a primary key
    value, a tuple of them, or the row itself as this transaction just read it (its digest is
    then taken from what was read, without reading it again). A row agrees when its digest is
    that of its seal and the seal is the log's (an ``AsRead`` row: likewise, from the values
    read). A key with neither row nor seal is not reported
    (nothing is there to act on)."""
    return tables_problems(session, {table_name: keys}).get(table_name, {})


def tables_problems(
    session: Session, rows: dict[str, Iterable[object]]
) -> dict[str, dict[str, str]]:
    """``rows_problems`` for the rows of several tables (table -> keys), by table then key:
    the seal index and the log are read once for all of them."""
    now: dict[str, dict[str, Sealed]] = {}
    wanted: dict[str, list[str]] = {}
    for table_name, keys in rows.items():
        table = Base.metadata.tables[table_name]
        read: dict[str, Sealed] = {}
        texts: set[str] = set()
        for k in keys:
            if isinstance(k, AsRead):
                key, given = _as_given(table, k)
                read[key] = given
            elif isinstance(k, Base):
                key, seal = _as_read(table, k)
                if seal is not None:
                    read[key] = seal
            else:
                key = key_text(k if isinstance(k, tuple) else (k,))
            texts.add(key)
        if texts:
            now[table_name], wanted[table_name] = read, sorted(texts)
    if not wanted:
        return {}
    # rows an acting transaction wrote are sealed as it commits
    written = noted_many(session.connection(), wanted)
    wanted = {t: [k for k in keys if k not in written.get(t, ())] for t, keys in wanted.items()}
    for table_name, keys in wanted.items():
        unread = [k for k in keys if k not in now[table_name]]
        if unread:
            table = Base.metadata.tables[table_name]
            now[table_name].update(current_seals(session, table, unread))
    last = last_seals(session, wanted)
    logged = logged_rows(
        session, (seq for seqs in last.values() for seq in seqs.values() if seq >= 0)
    )
    problems: dict[str, dict[str, str]] = {}
    for table_name, keys in wanted.items():
        table = Base.metadata.tables[table_name]
        found = _problems(session, table, keys, now[table_name], last.get(table_name, {}), logged)
        if found:
            problems[table_name] = found
    return problems


def _problems(
    session: Session,
    table: Table,
    keys: list[str],
    now: dict[str, Sealed],
    last: dict[str, int],
    logged: dict[int, LoggedRows],
) -> dict[str, str]:
    """Each row held to the entry that last sealed it (``last``). A row that differs from it
    but that the caller's session read before that entry was committed is held to its seal
    index entry instead (the seal it could see), so that a row changed by facetrail meanwhile
    is not taken for a tampered one."""
    problems: dict[str, str] = {}
    seen: int | None = None
    for key in keys:
        seal, seq = now.get(key), last.get(key)
        if seq is None:
            if seal is not None:
                problems[key] = "it has no seal in the audit log (written outside facetrail)"
            continue
        if (gone := deleted_by(seq)) is not None:
            if seal is not None:
                problems[key] = (
                    f"the audit log's entry {gone} sealed it as deleted, and it was put back "
                    "outside facetrail"
                )
            continue
        expected = logged_digest(logged.get(seq, {}).get(table.name, {}).get(key))
        if seal is not None and seal.digest == expected:
            continue
        seen = visible_end(session) if seen is None else seen
        if seq >= seen:  # sealed after this session's read: held to what it could see
            problem = _indexed_problem(session, table, key, seal, logged)
            if problem is not None:
                problems[key] = problem
        elif seal is None:
            problems[key] = "it was deleted outside facetrail"
        else:
            problems[key] = _difference(session, table, key, seal, seq, expected)
    return problems


def _difference(
    session: Session, table: Table, key: str, seal: Sealed, seq: int, expected: str | None
) -> str:
    """How a row differs from its last seal: the columns, named from the seal index's column
    digests when its entry is that seal (an older entry put back names none)."""
    index = indexed(session, table.name, [key]).get(key)
    if index is None or index.seq != seq or index.digest != expected:
        return f"it is not as the audit log's entry {seq} last sealed it"
    changed = changed_columns(table, seal.columns, index.columns)
    return f"its {', '.join(changed) or 'content'} differ from its seal"


def _indexed_problem(
    session: Session, table: Table, key: str, seal: Sealed | None, logged: dict[int, LoggedRows]
) -> str | None:
    """The row held to its seal index entry and that entry to the log (the index as the
    caller's session sees it)."""
    index = indexed(session, table.name, [key]).get(key)
    if index is None:
        return None if seal is None else "it has no seal in the audit log"
    if seal is None:
        return "it was deleted outside facetrail"
    if seal.digest != index.digest:
        changed = changed_columns(table, seal.columns, index.columns)
        return f"its {', '.join(changed) or 'content'} differ from its seal"
    entry = logged.get(index.seq) or logged_rows(session, [index.seq]).get(index.seq, {})
    if logged_digest(entry.get(table.name, {}).get(key)) != index.digest:
        return f"its seal differs from the audit log's entry {index.seq}"
    return None


def row_problem(session: Session, table_name: str, key: object) -> str | None:
    """Why one row disagrees with the log (``rows_problems``), or None."""
    return next(iter(rows_problems(session, table_name, [key]).values()), None)


def tampered(
    session: Session, what: str, rows: dict[str, Iterable[object]]
) -> RecordMismatchError | None:
    """The refusal to act on ``what`` (the account, the token ...) when one of its ``rows``
    (table -> keys) disagrees with the log, naming the row and how; None when all agree."""
    for table_name, problems in tables_problems(session, rows).items():
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
