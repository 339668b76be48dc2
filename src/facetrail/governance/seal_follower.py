"""The log's last seal of every row, followed in memory: what a row must agree with.

A row agrees with the log when it is as the entry that *last* sealed it says. The seal index
(``row_seals``) names an entry for each row, but an insider who can write the database can
put back an older row with the older index entry of that row: both agree with a seal the log
really holds, only not with the last one (a suspension undone, erased faces put back). So the
point-of-use checks and the writer ask this follower which entry last sealed each row: it
replays the log's ``row.seal`` entries once per process and database, then reads only the
entries appended since, on the caller's session (so only what that session can see, and never
its own uncommitted entries).

Kept per database, for the few databases a process uses at once (least recently used
dropped): table -> key -> seq of the last seal (``~seq``, negative: sealed as deleted).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.governance.audit import appended_in
from facetrail.governance.seal_reads import SEAL_KIND
from facetrail.store.schema import AuditEntryRow

__all__ = ["deleted_by", "last_seals", "live_keys", "visible_end"]


class _Follower:
    def __init__(self) -> None:
        #: the first seq not read yet
        self.upto = 0
        self.last: dict[str, dict[str, int]] = {}
        self.lock = threading.Lock()

    def follow(self, session: Session) -> None:
        """Read the seal entries appended since, as far as ``session`` sees committed ones."""
        own = appended_in(session)
        # this transaction's own entries are not committed yet
        end = own.first if own is not None else None
        connection = session.connection()
        mark = "?" if connection.dialect.name == "sqlite" else "%s"
        sql = f"SELECT seq, details FROM audit_entries WHERE kind = {mark} AND seq >= {mark}"
        params: list[object] = [SEAL_KIND, self.upto]
        if end is not None:
            sql += f" AND seq < {mark}"
            params.append(end)
        driver = connection.connection.driver_connection
        assert driver is not None
        # The driver's own cursor: on every check's path, usually finding nothing new.
        cursor = driver.cursor()
        try:
            cursor.execute(sql + " ORDER BY seq", params)
            found = cursor.fetchall()
        finally:
            cursor.close()
        last = self.last
        for seq, details in found:
            seq = int(seq)
            try:
                rows = json.loads(details).get("rows", {})
            except (ValueError, AttributeError):
                rows = {}  # an unreadable entry: audit verify names it
            for table, keyed in rows.items():
                held = last.setdefault(table, {})
                for key, value in keyed.items():
                    held[key] = seq if value is not None else ~seq
            self.upto = seq + 1


_FOLLOWERS: OrderedDict[str, _Follower] = OrderedDict()
_FOLLOWERS_MAX = 8
_GUARD = threading.Lock()


def _follower(session: Session) -> _Follower:
    database = str(session.get_bind().engine.url)
    with _GUARD:
        follower = _FOLLOWERS.get(database)
        if follower is None:
            follower = _FOLLOWERS[database] = _Follower()
            if len(_FOLLOWERS) > _FOLLOWERS_MAX:
                _FOLLOWERS.popitem(last=False)
        else:
            _FOLLOWERS.move_to_end(database)
        return follower


def last_seals(session: Session, wanted: Mapping[str, Iterable[str]]) -> dict[str, dict[str, int]]:
    """table -> key -> the seq of the entry that last sealed the row (``~seq``, negative:
    sealed as deleted), for the keys of ``wanted`` the log has ever sealed."""
    follower = _follower(session)
    with follower.lock:
        follower.follow(session)
        found: dict[str, dict[str, int]] = {}
        for table, keys in wanted.items():
            held = follower.last.get(table, {})
            mine = {key: seq for key in keys if (seq := held.get(key)) is not None}
            if mine:
                found[table] = mine
        return found


def live_keys(session: Session, table: str) -> set[str]:
    """The keys of every row of ``table`` the log says must exist (sealed, not as deleted):
    what a table read whole must hold, no more and no fewer."""
    follower = _follower(session)
    with follower.lock:
        follower.follow(session)
        return {key for key, seq in follower.last.get(table, {}).items() if seq >= 0}


def deleted_by(last: int) -> int | None:
    """The seq of the entry that sealed a row as deleted, or None when it sealed it live."""
    return ~last if last < 0 else None


def visible_end(session: Session) -> int:
    """One past the last entry ``session`` sees: a seal at or after it is newer than what the
    session read (its snapshot, or its statement, began before that seal was committed)."""
    found = session.scalar(select(func.max(AuditEntryRow.seq)))
    return 0 if found is None else int(found) + 1
