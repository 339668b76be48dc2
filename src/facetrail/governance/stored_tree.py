"""The audit log's Merkle tree as the database keeps it, for proofs in O(log n) reads: the
entries' leaf hashes, and the hash of every full tile (``audit_tile_hashes``: at level L,
the hash of 256**L consecutive entries, written by the append that completes them).

A proof needs the hashes of O(log n) subtrees (``merkle.inclusion_path`` and
``consistency_path`` ask for them); each is read here as at most 128 stored hashes of one
level and hashed together: 256**L entries are one row at level L. A tile hash missing (a
log older than the table, a row deleted) is made from the level below, so a proof is never
refused for it, only slower; a tile hash edited gives a proof that does not verify, which the
caller checks against the signed root before giving it (``services.audit.log``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.merkle import EMPTY_ROOT, node_hash, root
from facetrail.store.schema import AuditEntryRow, AuditTileHashRow

__all__ = ["StoredTree"]

#: Bits of one tile level (256 hashes a tile).
LEVEL_BITS = 8


class StoredTree:
    """Subtree hashes of the log read from ``session``; ``reads`` counts the queries made."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.reads = 0

    def leaves(self, lo: int, hi: int) -> list[bytes]:
        """The leaf hashes of entries ``lo`` to ``hi`` (0-based, exclusive)."""
        self.reads += 1
        found = self.session.scalars(
            select(AuditEntryRow.leaf_hash)
            .where(AuditEntryRow.seq > lo, AuditEntryRow.seq <= hi)
            .order_by(AuditEntryRow.seq)
        ).all()
        if len(found) != hi - lo:
            raise LookupError(f"entries {lo + 1} to {hi} are not all in the log")
        return [bytes(value) for value in found]

    def range_hash(self, lo: int, hi: int) -> bytes:
        """MTH of entries ``lo`` to ``hi``: the perfect subtrees it is made of (``lo`` is a
        multiple of the largest, as in every range a proof asks for), folded from the right."""
        if hi <= lo:
            return EMPTY_ROOT
        parts, at = [], lo
        for height in range((hi - lo).bit_length() - 1, -1, -1):
            if (hi - lo) >> height & 1:
                parts.append(self.perfect(height, at >> height))
                at += 1 << height
        value = parts[-1]
        for left in reversed(parts[:-1]):
            value = node_hash(left, value)
        return value

    def perfect(self, height: int, index: int) -> bytes:
        """The hash of the ``index``-th subtree of 2**``height`` entries."""
        level, rest = divmod(height, LEVEL_BITS)
        first, count = index << rest, 1 << rest
        if level == 0:
            return root(self.leaves(first, first + count))
        self.reads += 1
        rows = self.session.execute(
            select(AuditTileHashRow.idx, AuditTileHashRow.hash)
            .where(
                AuditTileHashRow.level == level,
                AuditTileHashRow.idx >= first,
                AuditTileHashRow.idx < first + count,
            )
            .order_by(AuditTileHashRow.idx)
        ).all()
        if [idx for idx, _ in rows] == list(range(first, first + count)):
            return root([bytes(value) for _, value in rows])
        # Not stored (a log older than the table): from the two halves below.
        return node_hash(
            self.perfect(height - 1, 2 * index), self.perfect(height - 1, 2 * index + 1)
        )
