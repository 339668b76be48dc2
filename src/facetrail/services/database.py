"""The database's schema revision: what it is, and bringing it to the one this code needs.

Authorisation: whoever can write the database (an operator with a shell), as for ``init``; no
sign-in, since an outdated database cannot be signed in to. Audit: every upgrade is an entry
(``db.upgrade``: the revisions before and after, whether a pre-migration home was adopted,
the operating-system user who ran it), appended once the schema is current. The API reads
the revision (``schema_status_for``) for system admins only, a refusal audited; it never
upgrades (a serving process must not migrate the schema under its own workers).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from sqlalchemy import Engine, inspect

from facetrail.config import Settings
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.governance.seals import seal_everything
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import require, system_action
from facetrail.store.db import make_engine
from facetrail.store.migrations import HEAD
from facetrail.store.schema_version import UpgradeReport, revision_of, upgrade

#: The first revision whose rows are sealed by the log as they are written.
_SEALING = "0006_row_seals"

__all__ = [
    "SchemaStatus",
    "UpgradeReport",
    "schema_status",
    "schema_status_for",
    "served_schema_status",
    "upgrade_database",
]


@dataclass(frozen=True)
class SchemaStatus:
    #: the revision the database is stamped with; None: new, or made before migrations
    current: str | None
    #: the revision this code needs
    head: str
    #: whether the database has any tables
    exists: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_status(settings: Settings) -> SchemaStatus:
    """Read-only: nothing is created or changed."""
    engine = make_engine(settings.db_url, prepare_schema=False)
    try:
        return _status_of(engine)
    finally:
        engine.dispose()


def served_schema_status(ctx: AppContext) -> SchemaStatus:
    """``schema_status`` through an open context's own pool (readiness probes: no new engine)."""
    return _status_of(ctx.engine)


def _status_of(engine: Engine) -> SchemaStatus:
    with engine.connect() as connection:
        exists = bool(inspect(connection).get_table_names())
        return SchemaStatus(revision_of(connection), HEAD, exists)


def schema_status_for(ctx: AppContext, actor: Principal) -> SchemaStatus:
    """``schema_status`` for a signed-in system admin (the API); anyone else is refused
    (``db.status.refused``). Reading is not audited: it says nothing about anyone."""
    require(ctx, actor, "db.status", "schema", Permission.READ_SCHEMA)
    return schema_status(ctx.settings)


def upgrade_database(settings: Settings) -> UpgradeReport:
    """Apply the migrations up to the revision this code needs (adopting a home made before
    migrations), in one locked transaction, then record it in the audit log."""
    engine = make_engine(settings.db_url, prepare_schema=False)
    try:
        report = upgrade(engine)
    finally:
        engine.dispose()
    ctx = AppContext.open(settings)
    try:
        with system_action(ctx, "db.upgrade", "schema", actor=f"os:{getpass.getuser()}") as session:
            details = {"before": report.before, "after": report.after, "adopted": report.adopted}
            append(session, AuditEvent(f"os:{getpass.getuser()}", "db.upgrade", "schema", details))
            if report.before is None or report.before < _SEALING:
                # Rows written before the log sealed them are sealed as they stand now.
                seal_everything(session, "db.upgrade")
    finally:
        ctx.close()
    return report
