"""The hashes of the audit log's full tiles

Revision ID: 0011_tile_hashes
Revises: 0010_protected_activity

``audit_tile_hashes``: the Merkle tree hash of each full tile of the log (c2sp.org/tlog-tiles:
level L >= 1, index n covers entries n*256**L + 1 to (n+1)*256**L), so that a proof reads
O(log n) stored hashes instead of every leaf. Filled here from the entries' leaf hashes, read
in order in batches (memory does not grow with the log); afterwards each append that
completes a tile writes its hash. Undone, the table is dropped: it is derived data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.governance.merkle import CompactRange

revision = "0011_tile_hashes"
down_revision = "0010_protected_activity"
branch_labels = None
depends_on = None

_BATCH = 10_000


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    table = op.create_table(
        "audit_tile_hashes",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", big, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
    )
    bind = op.get_bind()
    compact, after = CompactRange(), 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT seq, leaf_hash FROM audit_entries WHERE seq > :after ORDER BY seq "
                "LIMIT :batch"
            ),
            {"after": after, "batch": _BATCH},
        ).all()
        if not rows:
            return
        made: list[dict[str, object]] = []
        for seq, digest in rows:
            tiles: list[tuple[int, bytes]] = []
            compact.push(bytes(digest), tiles)
            made += [
                {"level": level, "idx": (seq >> (8 * level)) - 1, "hash": value}
                for level, value in tiles
            ]
            after = seq
        if made:
            bind.execute(sa.insert(table), made)


def downgrade() -> None:
    op.drop_table("audit_tile_hashes")
