"""Alembic's environment: run on the connection facetrail hands it (``store.schema_version``),
never on a URL of its own."""

from __future__ import annotations

from alembic import context

from facetrail.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite: copy and move
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
