"""Erasure under four eyes, opt-outs counted, legal holds

Revision ID: 0007_erasure_four_eyes
Revises: 0006_row_seals

``erasures``: a request now waits (``requested``) until a second person approves it
(``approved_by``/``approved_at``: the opener's agency head or a privacy officer); its photos
are kept as blobs (``photos``) until it ends, so that the matching runs only after that
approval and the decider sees each match beside them; ``decided_by`` is who made the
decisions, which someone else confirms by completing it; ``agency_id`` is the opener's agency,
whose head oversees it. ``user_roles``: the ``privacy_officer`` role. ``searches.withheld``:
how many candidates the opt-out list left out of a search's results. ``legal_holds``: an
image that is a candidate or lead of an open case, held from erasure and retention until its
agency's head decides.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.store.sealing import install_capture

revision = "0007_erasure_four_eyes"
down_revision = "0006_row_seals"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_ROLES_BEFORE = (
    "'investigator', 'supervisor', 'agency_head', 'auditor', 'gallery_admin', "
    "'network_operator', 'system_admin'"
)
_ROLES = _ROLES_BEFORE + ", 'privacy_officer'"
_ERASURE_BEFORE = "'open', 'done', 'cancelled'"
_ERASURE = "'requested', 'open', 'done', 'cancelled'"


def _check(table: str, column: str, values: str) -> None:
    with op.batch_alter_table(table) as batch:
        name = op.f(f"ck_{table}_{column}")
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, sa.text(f"{column} IN ({values})"))


def upgrade() -> None:
    _check("user_roles", "role", _ROLES)
    _check("erasures", "status", _ERASURE)
    with op.batch_alter_table("erasures") as batch:
        batch.add_column(sa.Column("agency_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("photos", sa.Text(), nullable=True))
        batch.create_foreign_key("erasures_agency_id_fkey", "agencies", ["agency_id"], ["id"])
        batch.create_foreign_key("erasures_approved_by_fkey", "users", ["approved_by"], ["id"])
        batch.create_foreign_key("erasures_decided_by_fkey", "users", ["decided_by"], ["id"])
        batch.create_index("ix_erasures_agency_id", ["agency_id"])
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("withheld", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "legal_holds",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("image_id", _BIG_ID, nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("gallery", sa.String(length=200), nullable=False),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("cases", sa.Text(), nullable=False),
        sa.Column("cause", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.UniqueConstraint("image_id", "agency_id", "cause"),
        sa.CheckConstraint(
            "status IN ('pending', 'released', 'kept')", name=op.f("ck_legal_holds_status")
        ),
    )
    op.create_index("ix_legal_holds_image_id", "legal_holds", ["image_id"])
    op.create_index("ix_legal_holds_agency_id", "legal_holds", ["agency_id"])
    install_capture(op.get_bind())  # the new table's and columns' triggers (PostgreSQL)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS facetrail_seal ON legal_holds")
    op.drop_table("legal_holds")
    with op.batch_alter_table("searches") as batch:
        batch.drop_column("withheld")
    with op.batch_alter_table("erasures") as batch:
        batch.drop_index("ix_erasures_agency_id")
        if connection.dialect.name != "sqlite":  # SQLite's copy of the table drops them
            for name in ("agency_id", "approved_by", "decided_by"):
                batch.drop_constraint(f"erasures_{name}_fkey", type_="foreignkey")
        for name in ("photos", "decided_by", "approved_at", "approved_by", "agency_id"):
            batch.drop_column(name)
    _check("erasures", "status", _ERASURE_BEFORE)
    _check("user_roles", "role", _ROLES_BEFORE)
