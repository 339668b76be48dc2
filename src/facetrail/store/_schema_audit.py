"""The tables of the audit log and its seals: the entries, the head that every append
locks, the signed checkpoints, the seal the log last gave each row, and the notes of rows a
transaction wrote until it seals them.
"""

from __future__ import annotations

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store._schema_base import Base, BigId


class AuditEntryRow(Base):
    """One entry of the append-only audit log; ``seq`` is its 1-based position (leaf seq-1).

    ``leaf_hash`` caches H(0x00 || canonical bytes); verification recomputes it from the
    columns, so editing any field is caught.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_agency_kind_at", "agency", "kind", "at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(80), index=True)
    subject: Mapped[str] = mapped_column(Text, index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    #: the agency the entry concerns (``governance.events``), hashed with the entry when set
    agency: Mapped[str | None] = mapped_column(String(200))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointRow(Base):
    """A signed statement of the log's size and root at a time (Ed25519)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigId)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class AuditHeadRow(Base):
    """The audit log's head: one row (id 1) that every append locks, so positions are taken
    one at a time, holding the size and the Merkle frontier (compact range) of the log so far
    so a checkpoint's root needs no re-read of the log."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigId)
    #: Roots of the frontier's perfect subtrees, 32 bytes each, left to right.
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


class AuditTileHashRow(Base):
    """The hash of each full tile of the log, as C2SP tlog-tiles names them: at ``level`` L
    (1 and up), ``idx`` n is the Merkle tree hash of entries n*256**L + 1 to (n+1)*256**L.
    Written by the append that completes the tile, in its transaction; proofs read O(log n) of
    them instead of every leaf (``governance.stored_tree``), and check what they make against
    a signed root before giving it."""

    __tablename__ = "audit_tile_hashes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class RowSeal(Base):
    """The seal the log last gave a row (``governance.seals``): which entry, the row's digest
    and its columns' digests (16 bytes each, in column-name order), so that a row can be held
    to the log where it is used and ``audit verify`` can name the column that changed. An
    index of the log, never its authority: ``audit verify`` rebuilds it from the entries."""

    __tablename__ = "row_seals"

    tbl: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(BigId)
    digest: Mapped[str] = mapped_column(String(32))
    columns: Mapped[bytes] = mapped_column(LargeBinary)


class SealNote(Base):
    """A row an acting transaction wrote, noted by a trigger until the transaction seals it
    (``store.sealing``): PostgreSQL's notes, by transaction id. SQLite keeps its notes in a
    TEMP table of the same shape per connection, which shadows this one."""

    __tablename__ = "seal_pending"

    txid: Mapped[int] = mapped_column(BigId, primary_key=True)
    tbl: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    #: the columns its updates changed ("a,b,"), or "*": inserted or deleted
    changed: Mapped[str] = mapped_column(Text, primary_key=True)
