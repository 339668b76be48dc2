"""Alembic migrations of facetrail's database, for SQLite and PostgreSQL alike.

``HEAD`` is the revision the code expects. A new database is made from the models and stamped
``HEAD`` (the same schema: a test compares them); an existing one must be at ``HEAD`` or is
refused with the command to run (``facetrail db upgrade``), which also adopts a database made
before migrations existed (tables from ``create_all``, no version table) when its tables are
those of the first revision.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HEAD", "SCRIPT_LOCATION"]

#: The newest revision; every migration file's ``revision`` chain ends here.
HEAD = "0011_tile_hashes"
#: The folder Alembic reads (this package).
SCRIPT_LOCATION = Path(__file__).resolve().parent
