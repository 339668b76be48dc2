"""Every row sealed by the log: the seal index and the capture of the rows an action writes

Revision ID: 0006_row_seals
Revises: 0005_oversight

``row_seals``: for each sealed row, the ``row.seal`` entry that last sealed it, its digest
and its columns' digests (``governance.seals``). On PostgreSQL, ``seal_pending`` and one
trigger per sealed table note the rows each transaction writes (``store.sealing``); SQLite
keeps them per connection. ``facetrail db upgrade`` then seals every row the home holds as it
stands (``services.database``), in ``row.seal`` entries after its ``db.upgrade`` entry: what
the home holds when it is upgraded is what the log vouches for from then on. ``index_seals``:
each gallery index file's content hash as facetrail last wrote it (``services.galleries.indexing``);
an upgraded home has none, so each index is rebuilt from the store once, and sealed.
``purge_followups``: what an erasure or retention purge leaves to do after its commit (blobs
to delete, index files to write anew), so that a crash in between loses none of it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.store.sealing import install_capture, sealed_tables

revision = "0006_row_seals"
down_revision = "0005_oversight"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "row_seals",
        sa.Column("tbl", sa.String(length=64), primary_key=True),
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("seq", _BIG_ID, nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("columns", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "seal_pending",
        sa.Column("txid", _BIG_ID, primary_key=True),
        sa.Column("tbl", sa.Text(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("changed", sa.Text(), primary_key=True),
    )
    op.create_table(
        "index_seals",
        sa.Column("gallery_id", sa.Integer(), sa.ForeignKey("galleries.id"), primary_key=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "purge_followups",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("blobs", sa.Text(), nullable=False),
        sa.Column("galleries", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    install_capture(op.get_bind())


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        for table in sealed_tables():
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS facetrail_seal ON {table.name}")
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS facetrail_seal_note()")
    op.drop_table("purge_followups")
    op.drop_table("index_seals")
    op.drop_table("seal_pending")
    op.drop_table("row_seals")
