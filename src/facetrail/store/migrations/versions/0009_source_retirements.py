"""Sources retired

Revision ID: 0009_source_retirements
Revises: 0008_duties_apart

``source_retirements``: a source a gallery admin retired (who, when, why); nothing is ingested
into it any more. A new table only: no existing row or seal changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.store.sealing import install_capture

revision = "0009_source_retirements"
down_revision = "0008_duties_apart"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_retirements",
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id"), primary_key=True),
        sa.Column("retired_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    install_capture(op.get_bind())  # the new table's trigger (PostgreSQL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql("DROP TRIGGER IF EXISTS facetrail_seal ON source_retirements")
    op.drop_table("source_retirements")
