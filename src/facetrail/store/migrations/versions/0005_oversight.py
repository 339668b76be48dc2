"""Oversight: the agency an audit entry concerns (indexed); misuse alerts; open cases

Revision ID: 0005_oversight
Revises: 0004_templates_version

``audit_entries.agency``: the agency an entry concerns, hashed with the entry when set
(``governance.audit.entry_bytes``), indexed with the kind and time so that an agency's
figures are read from its typed events (``governance.events``). Entries made before this
revision keep no agency: adding one would change their hashes, so they stay as signed.
``galleries.staff_of``: a staff gallery's agency (never searched, only matched against by
the ``staff_match`` rule). ``alerts``: misuse alerts raised by the rules
(``governance.alerts``). ``open_cases``: an agency's open-case list (an optional import,
which one rule checks case numbers against). ``evaluations``: a pack's measured accuracy,
recorded for the transparency reports. ``erasures``, ``erasure_matches``, ``blocklist`` and
``search_candidates.erased_at``/``erasure_receipt``: erasure on request, with tombstones.
``probe_templates``: a search's probe template, kept as long as its probe images.
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


_RULES = (
    "'volume', 'hours', 'case_volume', 'probe_cases', 'person_cases', 'open_cases', "
    "'stale', 'staff_match', 'trial'"
)


def upgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("agency", sa.String(length=200), nullable=True))
        batch.create_index("ix_audit_entries_agency_kind_at", ["agency", "kind", "at"])
    with op.batch_alter_table("galleries") as batch:
        batch.add_column(sa.Column("staff_of", sa.Integer(), nullable=True))
        # PostgreSQL's own name for it, as a database made from the models has it
        batch.create_foreign_key("galleries_staff_of_fkey", "agencies", ["staff_of"], ["id"])
    op.create_table(
        "alerts",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("searches", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledge_note", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.UniqueConstraint("agency_id", "key"),
        sa.CheckConstraint(f"rule IN ({_RULES})", name=op.f("ck_alerts_rule")),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'closed')", name=op.f("ck_alerts_status")
        ),
    )
    op.create_index("ix_alerts_agency_id", "alerts", ["agency_id"])
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_table(
        "open_cases",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("case_number", sa.String(length=100), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("agency_id", "case_number"),
    )
    op.create_index("ix_open_cases_agency_id", "open_cases", ["agency_id"])
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pack", sa.String(length=100), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("mask", sa.String(length=20), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", _BIG_ID, nullable=True),
    )
    op.create_index("ix_evaluations_pack", "evaluations", ["pack"])
    with op.batch_alter_table("search_candidates") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("erasure_receipt", sa.String(length=64), nullable=True))
    op.create_table(
        "erasures",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("identity_check", sa.Text(), nullable=False),
        sa.Column("consent_blocklist", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_templates", sa.Text(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("receipt_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'cancelled')", name=op.f("ck_erasures_status")
        ),
    )
    op.create_table(
        "erasure_matches",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("erasure_id", _BIG_ID, sa.ForeignKey("erasures.id"), nullable=False),
        sa.Column("gallery", sa.String(length=200), nullable=False),
        sa.Column("template_id", _BIG_ID, nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fmr", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=True),
        sa.UniqueConstraint("erasure_id", "template_id"),
        sa.CheckConstraint(
            "decision IN ('confirmed', 'rejected')", name=op.f("ck_erasure_matches_decision")
        ),
    )
    op.create_index("ix_erasure_matches_erasure_id", "erasure_matches", ["erasure_id"])
    op.create_table(
        "blocklist",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("pack", sa.String(length=100), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("erasure_id", _BIG_ID, sa.ForeignKey("erasures.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_blocklist_pack", "blocklist", ["pack"])
    op.create_table(
        "probe_templates",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("search_id", _BIG_ID, sa.ForeignKey("searches.id"), nullable=False),
        sa.Column("pack", sa.String(length=100), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("search_id", "pack"),
    )
    op.create_index("ix_probe_templates_search_id", "probe_templates", ["search_id"])


def downgrade() -> None:
    hashed = (
        op.get_bind()
        .execute(sa.text("SELECT min(seq) FROM audit_entries WHERE agency IS NOT NULL"))
        .scalar()
    )
    if hashed is not None:
        # Its hash covers the agency: dropping the column would make the log fail to verify.
        raise MigrationRefusedError(
            f"audit entry {hashed} and later ones hash the agency they concern; without the "
            "column the log would no longer verify, so this revision is not undone",
            subject="audit_entries.agency",
        )
    op.drop_table("probe_templates")
    op.drop_table("blocklist")
    op.drop_table("erasure_matches")
    op.drop_table("erasures")
    with op.batch_alter_table("search_candidates") as batch:
        batch.drop_column("erasure_receipt")
        batch.drop_column("erased_at")
    op.drop_table("evaluations")
    op.drop_table("open_cases")
    op.drop_table("alerts")
    with op.batch_alter_table("galleries") as batch:
        if op.get_bind().dialect.name != "sqlite":  # SQLite's copy of the table drops it
            batch.drop_constraint("galleries_staff_of_fkey", type_="foreignkey")
        batch.drop_column("staff_of")
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_index("ix_audit_entries_agency_kind_at")
        batch.drop_column("agency")
