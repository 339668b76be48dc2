"""A gallery's templates version: bumped by every change to its templates

Revision ID: 0004_templates_version
Revises: 0003_jobs

One new column, 0 for every existing gallery: a served worker compares it with the version
its cached index was reconciled at, one row read per search instead of a count over the
gallery's templates (``services.galleries.indexing.open_index``). Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_templates_version"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("galleries") as batch:
        batch.add_column(
            sa.Column("templates_version", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("galleries") as batch:
        batch.drop_column("templates_version")
