"""What ``audit verify`` finds of the rows: the log's ``row.seal`` entries replayed into the
rows that must exist and their digests (``governance.seals.expected_rows``), every stored row
digested and compared, and the seal index held to the log too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from facetrail.governance.seals import (
    Sealed,
    changed_columns,
    columns_hash,
    current_seals,
    expected_rows,
)
from facetrail.store.schema import RowSeal
from facetrail.store.sealing import sealed_tables

__all__ = ["RowFinding", "row_findings"]


@dataclass(frozen=True)
class RowFinding:
    """A row that disagrees with the log: ``missing`` (sealed, gone), ``extra`` (never
    sealed), ``different`` (its ``columns`` changed; empty when they cannot be named)."""

    table: str
    key: str
    how: str
    columns: tuple[str, ...] = ()
    #: the entry that last sealed it (None for an extra row)
    seq: int | None = None

    def __str__(self) -> str:
        where = f"{self.table} {self.key}"
        if self.how == "missing":
            return f"{where} is missing (sealed by entry {self.seq})"
        if self.how == "extra":
            return f"{where} is not in the audit log (added outside facetrail)"
        named = f" (column {', '.join(self.columns)})" if self.columns else ""
        return f"{where} differs from its seal in entry {self.seq}{named}"


def row_findings(
    session: Session,
    limit: int = 1000,
    *,
    seals: Sequence[tuple[int, dict[str, Any]]] | None = None,
) -> list[RowFinding]:
    """Every row (up to ``limit``) that disagrees with the log's seals, table by table: the
    log is replayed into the rows that must exist and their digests, and every stored row is
    digested and compared. The seal index (``row_seals``) must agree with the log too.
    ``seals``: the ``row.seal`` entries' details as ``audit verify`` parsed them (else read
    here)."""
    expected = expected_rows(session, seals)
    findings: list[RowFinding] = []
    for table in sealed_tables():
        findings += _table_findings(session, table, expected.get(table.name, {}))
        if len(findings) >= limit:
            return findings[:limit]
    findings += _index_findings(session, expected)
    return findings[:limit]


def _table_findings(
    session: Session, table: Table, expected: dict[str, tuple[str, int, str | None]]
) -> list[RowFinding]:
    findings: list[RowFinding] = []
    seen: set[str] = set()
    for key, seal in current_seals(session, table):
        seen.add(key)
        want = expected.get(key)
        if want is None:
            findings.append(RowFinding(table.name, key, "extra"))
        elif want[0] != seal.digest:
            index = session.get(RowSeal, (table.name, key))
            named = _named(table, key, seal, want[0], index)
            findings.append(RowFinding(table.name, key, "different", named, want[1]))
    for key in sorted(set(expected) - seen):
        findings.append(RowFinding(table.name, key, "missing", (), expected[key][1]))
    return findings


def _index_findings(
    session: Session, expected: dict[str, dict[str, tuple[str, int, str | None]]]
) -> list[RowFinding]:
    """Seal index rows that are not the log's latest seal of their row: its digest and seq,
    and its column digests where the log holds their hash."""
    findings: list[RowFinding] = []
    indexed: set[tuple[str, str]] = set()
    for name, key, digest, seq, columns in session.execute(
        select(RowSeal.tbl, RowSeal.key, RowSeal.digest, RowSeal.seq, RowSeal.columns)
    ):
        indexed.add((name, key))
        want = expected.get(name, {}).get(key)
        if (
            want is None
            or want[:2] != (digest, seq)
            or (want[2] is not None and want[2] != columns_hash(bytes(columns)))
        ):
            findings.append(RowFinding("row_seals", f"{name} {key}", "different", (), seq))
    for name, keyed in expected.items():
        for key, (_digest, seq, _columns) in keyed.items():
            if (name, key) not in indexed:
                findings.append(RowFinding("row_seals", f"{name} {key}", "missing", (), seq))
    return findings


def _named(
    table: Table, key: str, now: Sealed, digest: str, index: RowSeal | None
) -> tuple[str, ...]:
    """The columns that changed, read from the seal index's column digests when its entry
    for the row holds the log's digest (else none are named: the row still is)."""
    if index is None or index.digest != digest:
        return ()
    return tuple(changed_columns(table, now.columns, bytes(index.columns)))
