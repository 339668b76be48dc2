"""Read-only access to a facetrail database for those who check it from outside: ``audit
verify`` and a witness's monitor. A database is named by a file (SQLite, opened read-only, never
created) or a URL (PostgreSQL: every transaction read-only). Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from facetrail.errors import AuditInputError

__all__ = ["read_only_session"]


@contextmanager
def read_only_session(source: str | Path) -> Iterator[Session]:
    """A session on ``source`` that cannot write. ``AuditInputError`` when it cannot be
    opened or read (no such file, not a database, no driver, unreachable server)."""
    shown = str(source)
    try:
        if isinstance(source, Path) or "://" not in source:
            path = Path(source)
            if not path.is_file():
                raise AuditInputError("no such database file", subject=shown)
            engine = create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
        else:
            url = make_url(source)
            shown = url.render_as_string(hide_password=True)
            if url.get_backend_name() == "sqlite":
                raise AuditInputError("give a SQLite database as a file path", subject=shown)
            engine = create_engine(url, execution_options={"postgresql_readonly": True})
    except (ArgumentError, ModuleNotFoundError) as exc:
        raise AuditInputError(f"cannot open this database ({exc})", subject=shown) from exc
    try:
        with Session(engine) as session:
            yield session
    except SQLAlchemyError as exc:
        raise AuditInputError("cannot read an audit log from this database", subject=shown) from exc
    finally:
        engine.dispose()
