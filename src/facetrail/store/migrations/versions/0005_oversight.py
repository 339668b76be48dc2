"""Oversight: the agency an audit entry concerns (indexed); misuse alerts; open cases

Revision ID: 0005_oversight
Revises: 0004_templates_version

``audit_entries.agency``: the agency an entry concerns, hashed with the entry when set
(``governance.audit.entry_bytes``), indexed with the kind and time so that an agency's
figures are read from its typed events (``governance.events``). Entries made before this
revision keep no agency: adding one would change their hashes, so they stay as signed.
``alerts``: misuse alerts raised by the rules (``governance.alerts``). ``open_cases``: an
agency's open-case list (an optional import, which one rule checks case numbers against).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.errors import MigrationRefusedError

revision = "0005_oversight"
down_revision = "0004_templates_version"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("agency", sa.String(length=200), nullable=True))
        batch.create_index("ix_audit_entries_agency_kind_at", ["agency", "kind", "at"])


def downgrade() -> None:
    hashed = op.get_bind().execute(
        sa.text("SELECT min(seq) FROM audit_entries WHERE agency IS NOT NULL")
    ).scalar()
    if hashed is not None:
        # Its hash covers the agency: dropping the column would make the log fail to verify.
        raise MigrationRefusedError(
            f"audit entry {hashed} and later ones hash the agency they concern; without the "
            "column the log would no longer verify, so this revision is not undone",
            subject="audit_entries.agency",
        )
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_index("ix_audit_entries_agency_kind_at")
        batch.drop_column("agency")
