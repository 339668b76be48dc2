"""The declarative base every facetrail table registers on, and the column helpers the
tables share: ``utcnow`` for creation times and ``BigId`` for keys that grow without bound.
The tables themselves live in the ``_schema_*`` modules beside this one; ``store.schema`` is
where the rest of facetrail imports them from.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(UTC)


#: A key that grows without bound: BIGINT on PostgreSQL; on SQLite INTEGER (already 64-bit),
#: which keeps an INTEGER PRIMARY KEY the rowid alias, so autoincrement is unchanged there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",  # SQLAlchemy's default, which revision 0001 used
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )
