"""Duties kept apart: e-mail domains, two approvals of an account, relaxations confirmed

Revision ID: 0008_duties_apart
Revises: 0007_erasure_four_eyes

``agency_domains``: the e-mail domains an agency registered; an account's e-mail must be on
one. ``account_approvals``: each approval of a requested account, which is active once its
agency's head approved it or two different people did. ``policy_proposals``: a policy version
that relaxes an agency's oversight (alert rules, the approval searches need), waiting for a
second person outside its proposer's say-so. ``alerts.rule``: the ``pairs`` rule (two people
who approve and review for each other far more than their colleagues do).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.store.sealing import install_capture

revision = "0008_duties_apart"
down_revision = "0007_erasure_four_eyes"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_RULES_BEFORE = (
    "'volume', 'hours', 'case_volume', 'probe_cases', 'person_cases', 'open_cases', "
    "'stale', 'staff_match', 'trial'"
)
_RULES = _RULES_BEFORE + ", 'pairs'"


def _check(table: str, column: str, values: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
        batch.create_check_constraint(
            op.f(f"ck_{table}_{column}"), sa.text(f"{column} IN ({values})")
        )


def upgrade() -> None:
    _check("alerts", "rule", _RULES)
    op.create_table(
        "agency_domains",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("domain", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("agency_id", "domain"),
    )
    op.create_index("ix_agency_domains_agency_id", "agency_domains", ["agency_id"])
    op.create_table(
        "account_approvals",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("approver_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_proposals",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("relaxed", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("proposed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'refused', 'withdrawn')",
            name=op.f("ck_policy_proposals_status"),
        ),
    )
    op.create_index("ix_policy_proposals_agency_id", "policy_proposals", ["agency_id"])
    op.create_index("ix_policy_proposals_status", "policy_proposals", ["status"])
    install_capture(op.get_bind())  # the new tables' triggers (PostgreSQL)


def downgrade() -> None:
    connection = op.get_bind()
    for table in ("policy_proposals", "account_approvals", "agency_domains"):
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS facetrail_seal ON {table}")
        op.drop_table(table)
    _check("alerts", "rule", _RULES_BEFORE)
