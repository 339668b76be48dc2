"""The protected_activity alert rule

Revision ID: 0010_protected_activity
Revises: 0009_source_retirements

``alerts.rule``: the ``protected_activity`` rule (crowd probes, searches whose offense or
reasons point to a demonstration, one photo searched for several faces or cases). Undone, the
constraint is narrowed again, which a database holding such alerts refuses: an alert is part
of the agency's record, and nothing here deletes one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facetrail.errors import MigrationRefusedError

revision = "0010_protected_activity"
down_revision = "0009_source_retirements"
branch_labels = None
depends_on = None

_RULES_BEFORE = (
    "'volume', 'hours', 'case_volume', 'probe_cases', 'person_cases', 'open_cases', "
    "'stale', 'staff_match', 'trial', 'pairs'"
)
_RULES = _RULES_BEFORE + ", 'protected_activity'"


def _check(table: str, column: str, values: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
        batch.create_check_constraint(
            op.f(f"ck_{table}_{column}"), sa.text(f"{column} IN ({values})")
        )


def upgrade() -> None:
    _check("alerts", "rule", _RULES)


def downgrade() -> None:
    held = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM alerts WHERE rule = 'protected_activity'")
    )
    if held:
        raise MigrationRefusedError(
            f"table alerts, column rule: {held} alert(s) of the protected_activity rule, which "
            "revision 0009_source_retirements does not know. Nothing was changed",
            subject="alerts.rule",
        )
    _check("alerts", "rule", _RULES_BEFORE)
