"""The values the database allows in each status-like column are those the services write, and
a new database refuses anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from facetrail.governance.alerts import RULES
from facetrail.governance.credentials import Role
from facetrail.services.searching import review
from facetrail.store.db import make_engine
from facetrail.store.vocabulary import ALERT_RULES, REVIEW_DECISIONS, ROLES, SEARCH_OUTCOMES


def test_the_lists_are_the_services_lists() -> None:
    assert tuple(role.value for role in Role) == ROLES
    assert ALERT_RULES == RULES
    assert REVIEW_DECISIONS == review.DECISIONS
    assert SEARCH_OUTCOMES == review.OUTCOMES


def test_a_new_database_refuses_an_unlisted_status(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")  # made from the models
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO agencies (id, name) VALUES (1, 'county')"))
        insert = text(
            "INSERT INTO users (username, email, agency_id, password_hash, status, account_type,"
            " failed_logins, created_at) VALUES (:name, 'x@y', 1, 'x', :status, 'full', 0, "
            "'2026-01-01 00:00:00')"
        )
        with engine.begin() as connection:
            connection.execute(insert, {"name": "ok", "status": "active"})
        with pytest.raises(IntegrityError, match="ck_users_status"), engine.begin() as connection:
            connection.execute(insert, {"name": "bad", "status": "archived"})
    finally:
        engine.dispose()
