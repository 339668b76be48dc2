"""Fixtures of the store tests: a PostgreSQL database of their own on this machine's server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest

#: This machine's PostgreSQL (trust auth on loopback); each test makes its own database.
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    name = f"facetrail_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
