"""Databases for the migration tests: made at a chosen revision, filled with the rows a real
organisation leaves behind (made through the services), read back whole for comparison."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table

from facetrail.config import Settings
from facetrail.governance import events
from facetrail.governance.audit import AuditEvent
from facetrail.governance.note import VerifierKey
from facetrail.governance.policy import ApprovalMode
from facetrail.services.accounts import (
    NewAccount,
    create_agency,
    create_network,
    request_account,
    suspend_account,
)
from facetrail.services.accounts.agency_domains import register_domain
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching import review
from facetrail.services.searching import search as search_service
from facetrail.services.searching.search import ProbeImage
from facetrail.services.signin import authentication as auth
from facetrail.store.db import make_engine
from facetrail.store.schema import Base
from facetrail.store.schema_version import FIRST, upgrade
from tests.conftest import copy_first_images, lfw_people
from tests.org import AGENCY, PASSWORD, make_gallery, make_org, next_code, open_searching

#: table -> its rows, each {column: value} for the model's columns the database has, sorted by
#: primary key (an older revision lacks a later one's columns and tables)
Rows = dict[str, list[dict[str, Any]]]


@contextmanager
def engine_of(url: str) -> Iterator[Engine]:
    engine = make_engine(url, prepare_schema=False)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def connected(url: str) -> Iterator[Connection]:
    with engine_of(url) as engine, engine.connect() as connection:
        yield connection


def differences(url: str) -> list[object]:
    """What Alembic finds different between the database and the models (types, indexes,
    columns, tables; not CHECK constraints: see ``check_constraints``)."""
    with connected(url) as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def check_constraints(url: str) -> dict[str, set[str]]:
    """table -> the names of its CHECK constraints, as the database reports them."""
    with connected(url) as connection:
        inspector = inspect(connection)
        return {
            table: {c["name"] for c in inspector.get_check_constraints(table) if c["name"]}
            for table in inspector.get_table_names()
            if table != "alembic_version"
        }


def model_check_constraints() -> dict[str, set[str]]:
    from sqlalchemy import CheckConstraint

    return {
        table.name: {
            str(c.name) for c in table.constraints if isinstance(c, CheckConstraint) and c.name
        }
        for table in Base.metadata.sorted_tables
    }


def at_first_revision(url: str) -> None:
    """An empty database given the schema of revision 0001 only, as the first release made."""
    with engine_of(url) as engine:
        assert upgrade(engine, FIRST).after == FIRST


def rows(url: str) -> Rows:
    """Every row of every table of the models that the database has (a later revision's
    tables are absent from an older database)."""
    with connected(url) as connection:
        inspector = inspect(connection)
        present = set(inspector.get_table_names())
        out: Rows = {}
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                continue
            has = {c["name"] for c in inspector.get_columns(table.name)}
            columns = [c for c in table.columns if c.name in has]
            key = list(table.primary_key.columns)
            out[table.name] = [
                dict(r._mapping) for r in connection.execute(select(*columns).order_by(*key))
            ]
        return out


def kept(now: Rows, before: Rows) -> bool:
    """``now`` holds exactly the rows of ``before`` (in the columns ``before`` has: a column
    added since holds its default); tables added since are empty."""
    same = all(
        [{k: row[k] for k in old} for row, old in zip(now[t], rows_before, strict=False)]
        == rows_before
        and len(now[t]) == len(rows_before)
        for t, rows_before in before.items()
    )
    return same and not any(r for t, r in now.items() if t not in before)


def copy_rows(source: Rows, url: str) -> None:
    """Insert ``source`` into the database at ``url`` as it is (same ids), in the tables and
    columns the database has (a home of an older revision had no rows in a later one's)."""
    with engine_of(url) as engine, engine.begin() as connection:
        inspector = inspect(connection)
        present = set(inspector.get_table_names())
        for table in Base.metadata.sorted_tables:
            if not source.get(table.name) or table.name not in present:
                continue
            has = {c["name"] for c in inspector.get_columns(table.name)}
            # A bare table of those columns: the models' defaults must not add the others.
            target = sql_table(
                table.name, *(sql_column(c.name, c.type) for c in table.columns if c.name in has)
            )
            connection.execute(
                target.insert(),
                [{k: v for k, v in row.items() if k in has} for row in source[table.name]],
            )


@dataclass(frozen=True)
class World:
    """A home's rows and the key its audit log verifies against."""

    rows: Rows
    verifier: VerifierKey


@contextmanager
def logging_as_before_0005() -> Iterator[None]:
    """Typed events log as every facetrail before revision 0005 did: without the agency
    column (its entries can hold no agency: adding one would change their hashes), and runs
    without the probe templates that revision began to keep."""

    def without_agency(event: events.Event) -> AuditEvent:
        then = {k: v for k, v in event.details().items() if k != "probe_templates"}
        return AuditEvent(event.actor, event.kind, event.subject(), then)

    saved = events.Event.entry
    events.Event.entry = without_agency  # type: ignore[method-assign]
    try:
        yield
    finally:
        events.Event.entry = saved  # type: ignore[method-assign]


def build_world(folder: Path) -> World:
    """An organisation's home after real use (needs the shared LFW photos): a network; people
    of every account status and type; a gallery ingested with one file refused; searches done,
    denied and pending; a review and an outcome; a token, mail and notices; a checkpoint. Its
    entries are as made before revision 0005, which the tests upgrade from."""
    ctx = AppContext.open(Settings(home=folder / "home", threads=1))
    with logging_as_before_0005():
        try:
            org = make_org(ctx)
            create_network(ctx, org.admin, "metro")
            create_agency(ctx, org.admin, "metro-pd", network="metro")
            make_gallery(org)
            people = lfw_people(3)
            photos = folder / "photos"
            copy_first_images(photos, people)
            (photos / "broken.jpg").write_bytes(b"not an image")
            ingest(ctx, org.people["gus"], IngestRequest(photos, "bookings", "county", workers=1))
            open_searching(org, "bookings")
            probe_path = sorted(people[0].glob("*.jpg"))[1]
            probe = (ProbeImage(probe_path.name, probe_path.read_bytes()),)
            done = org.search(("bookings",), probe)
            ivy = org.people["ivy"]
            review.review_candidate(ctx, ivy, done.candidates[0].id, "possible_match", "same ears")
            review.record_outcome(ctx, ivy, done.search_id, "no_lead", "alibi checked out")
            org.set_policy(approval=ApprovalMode.ALWAYS)
            denied = org.search(("bookings",), probe)
            search_service.decide_search(
                ctx, org.people["sam"], denied.search_id, False, "not justified yet"
            )
            org.search(("bookings",), probe, who="ian")  # left pending
            suspend_account(ctx, org.people["head"], "ian", "moved to another unit")
            register_domain(ctx, org.people["head"], AGENCY, "county.gov")
            request_account(
                ctx,
                NewAccount(
                    "tia",
                    "tia@county.gov",
                    PASSWORD,
                    AGENCY,
                    account_type="trial",
                    supervisor="sam",
                ),
            )
            secret = org.enrolments["ivy"].totp_secret
            assert secret is not None
            code, at = next_code(secret)
            auth.issue_token(ctx, ivy, "nightly export", password=PASSWORD, code=code, now=at)
            audit.make_checkpoint(ctx)
            return World(rows(ctx.settings.db_url), audit.public_key(ctx))
        finally:
            ctx.close()
