"""SQLAlchemy 2 typed ORM models: galleries with provenance, images, faces, templates.

Keys of the tables that grow without bound (images, faces, templates, the audit log, searches
and their candidates and reviews, mail) are ``BigId``: 64-bit on PostgreSQL, SQLite's
INTEGER (64-bit already) so that they stay rowid aliases there. Every status-like column
holds one of the values ``store.vocabulary`` lists, enforced by a named CHECK constraint.
Migration 0002 brought a database of the first revision to this; a change here needs a new
revision (tests/store compare the two).

This module is where facetrail imports the models from. They are defined by topic in the
private ``_schema_*`` modules beside it (accounts, audit, galleries, oversight, rights,
searches), all on the one ``Base`` of ``_schema_base``; importing this module registers every
table on ``Base.metadata``.
"""

from __future__ import annotations

from facetrail.store._schema_accounts import (
    AccountApproval,
    Agency,
    AgencyDomain,
    ApiToken,
    InboxMessage,
    Network,
    OutboxEmail,
    RecoveryCode,
    User,
    UserRole,
)
from facetrail.store._schema_audit import (
    AuditEntryRow,
    AuditHeadRow,
    AuditTileHashRow,
    CheckpointRow,
    RowSeal,
    SealNote,
)
from facetrail.store._schema_base import Base, BigId, utcnow
from facetrail.store._schema_galleries import (
    Face,
    Gallery,
    Image,
    IndexSeal,
    IngestFailure,
    JobRow,
    Source,
    SourceRetirement,
    TemplateRow,
)
from facetrail.store._schema_oversight import (
    AlertRow,
    EvaluationRow,
    OpenCase,
    PolicyProposal,
    PolicyVersion,
)
from facetrail.store._schema_rights import (
    BlocklistEntry,
    ErasureMatch,
    ErasureRow,
    LegalHold,
    PurgeFollowup,
)
from facetrail.store._schema_searches import ProbeTemplateRow, Review, SearchCandidate, SearchRecord

__all__ = [
    "AccountApproval",
    "Agency",
    "AgencyDomain",
    "AlertRow",
    "ApiToken",
    "AuditEntryRow",
    "AuditHeadRow",
    "AuditTileHashRow",
    "Base",
    "BigId",
    "BlocklistEntry",
    "CheckpointRow",
    "ErasureMatch",
    "ErasureRow",
    "EvaluationRow",
    "Face",
    "Gallery",
    "Image",
    "InboxMessage",
    "IndexSeal",
    "IngestFailure",
    "JobRow",
    "LegalHold",
    "Network",
    "OpenCase",
    "OutboxEmail",
    "PolicyProposal",
    "PolicyVersion",
    "ProbeTemplateRow",
    "PurgeFollowup",
    "RecoveryCode",
    "Review",
    "RowSeal",
    "SealNote",
    "SearchCandidate",
    "SearchRecord",
    "Source",
    "SourceRetirement",
    "TemplateRow",
    "User",
    "UserRole",
    "utcnow",
]
