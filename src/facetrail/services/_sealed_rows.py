"""Rows the product would act on by itself (a queued mail, an inbox message, a queued job),
held to their seals first: one written or changed outside facetrail is left alone (never
sent, shown or run) and logged once per process as ``<kind>`` (``notify.tampered``,
``job.tampered``), naming the row and how it disagrees with the log."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.seal_checks import rows_problems
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import system_action

__all__ = ["sealed_only"]


class _Keyed(Protocol):
    id: int


_Row = TypeVar("_Row", bound=_Keyed)

#: (database, table, key) of rows this process has logged as tampered with: logged once
_REPORTED: set[tuple[str, str, str]] = set()


def sealed_only(
    ctx: AppContext,
    session: Session,
    table: str,
    rows: list[_Row],
    kind: str,
    *,
    acting: Session | None = None,
) -> list[_Row]:
    """The ``rows`` of ``table`` (read in ``session``) that agree with the log; the others are
    logged as ``kind``, in ``acting`` (the caller's acting transaction) or in one of their
    own."""
    problems = rows_problems(session, table, rows) if rows else {}
    if not problems:
        return rows
    database = str(ctx.engine.url)
    new = {k: why for k, why in problems.items() if (database, table, k) not in _REPORTED}
    if new:
        if acting is not None:
            _log(acting, table, kind, new)
        else:
            with system_action(ctx, kind, table, actor="system") as own:
                _log(own, table, kind, new)
        _REPORTED.update((database, table, k) for k in new)
    return [row for row in rows if str(row.id) not in problems]


def _log(session: Session, table: str, kind: str, problems: dict[str, str]) -> None:
    for key, why in sorted(problems.items()):
        append(session, AuditEvent("system", kind, f"{table} {key}", {"problem": why}))
