"""Revision 0002 on a database of the first release, on SQLite and PostgreSQL: every row of a
real organisation's home comes through unchanged and its audit log still verifies; the schema is
then the models' (64-bit keys, CHECK constraints on statuses, new indexes); the database refuses
a status outside its list; a row that already holds one stops the upgrade, naming it, with
nothing changed; ids beyond 32 bits fit on PostgreSQL; and the revision can be undone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facetrail.errors import MigrationRefusedError
from facetrail.governance.seals import seal_everything
from facetrail.services.audit.log import verify_database
from facetrail.store.migrations import HEAD
from facetrail.store.schema import (
    AuditEntryRow,
    Base,
    Face,
    Gallery,
    Image,
    Source,
    TemplateRow,
    User,
)
from facetrail.store.schema_version import FIRST, downgrade, revision_of, upgrade
from tests.conftest import LFW
from tests.store.homes import (
    World,
    at_first_revision,
    build_world,
    check_constraints,
    connected,
    copy_rows,
    differences,
    engine_of,
    kept,
    model_check_constraints,
    rows,
)

#: (table, column) -> a value its CHECK refuses
UNLISTED = {
    ("users", "status"): "archived",
    ("users", "account_type"): "premium",
    ("user_roles", "role"): "superuser",
    ("searches", "status"): "running",
    ("searches", "outcome"): "arrest",
    ("searches", "fault"): "cosmic_ray",
    ("reviews", "stage"): 3,
    ("reviews", "decision"): "probably",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    if not LFW.is_dir():
        pytest.skip("shared lfw-dev photos not present")
    return build_world(tmp_path_factory.mktemp("world"))


def test_every_status_constraint_is_tried() -> None:
    named = {
        (t, n.removeprefix(f"ck_{t}_")) for t, ns in model_check_constraints().items() for n in ns
    }
    # Tables that later revisions add hold their own constraints' tests (test_jobs_table.py).
    later = {("jobs", "status"), ("jobs", "kind"), ("alerts", "rule"), ("alerts", "status")}
    later |= {("erasures", "status"), ("erasure_matches", "decision")}
    later |= {("legal_holds", "status")}
    later |= {("policy_proposals", "status")}
    assert named - later == set(UNLISTED)


def _refuses_unlisted_values(url: str) -> None:
    with engine_of(url) as engine:
        for (table, column), value in UNLISTED.items():
            with (
                engine.connect() as connection,
                pytest.raises(IntegrityError, match=f"ck_{table}_{column}"),
                connection.begin(),  # rolled back
            ):
                connection.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": value})


def _seal_as_db_upgrade_does(engine: Engine) -> int:
    """``facetrail db upgrade`` seals every row as it stands after the migrations: the
    ``row.seal`` entries it appended."""
    with Session(engine) as session, session.begin():
        seal_everything(session, "db.upgrade")
        return int(
            session.scalar(select(func.count()).where(AuditEntryRow.subject == "db.upgrade")) or 0
        )


def _upgrade_keeps_everything(world: World, url: str, audited: str | Path) -> None:
    at_first_revision(url)
    copy_rows(world.rows, url)
    before = rows(url)
    assert all(before[t] for t in ("users", "searches", "reviews", "audit_entries", "templates"))
    with engine_of(url) as engine:
        report = upgrade(engine)
    assert (report.before, report.after, report.adopted) == (FIRST, HEAD, False)
    assert kept(rows(url), before)
    assert differences(url) == []
    assert check_constraints(url) == model_check_constraints()
    with engine_of(url) as engine:
        sealed = _seal_as_db_upgrade_does(engine)
    # from here on the log holds the seals too (the seal index goes with its revision)
    now = rows(url)
    for table in ("audit_entries", "audit_head"):
        if before.get(table):
            columns = list(before[table][0])
            before[table] = [{k: row[k] for k in columns} for row in now[table]]
    verified = verify_database(audited, world.verifier)
    assert verified.ok, verified.problem
    assert sealed and verified.entries == len(before["audit_entries"])
    _refuses_unlisted_values(url)

    with engine_of(url) as engine:
        assert downgrade(engine, FIRST) == FIRST
    assert kept(rows(url), before)
    assert not any(check_constraints(url).values())
    with engine_of(url) as engine:
        assert upgrade(engine).after == HEAD
    assert kept(rows(url), before)
    assert differences(url) == []


def test_upgrade_keeps_a_real_home_whole_on_sqlite(world: World, tmp_path: Path) -> None:
    db = tmp_path / "facetrail.db"
    url = f"sqlite:///{db}"
    _upgrade_keeps_everything(world, url, db)
    with connected(url) as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # set back
        # Every single-column key is still declared INTEGER: the rowid alias, numbered as before.
        for table in Base.metadata.sorted_tables:
            if len(table.primary_key.columns) == 1:
                info = connection.exec_driver_sql(f"PRAGMA table_info({table.name})").all()
                assert [(r[2], r[5]) for r in info if r[5]] == [("INTEGER", 1)], table.name
    with engine_of(url) as engine, Session(engine) as session, session.begin():
        top = max(r["id"] for r in world.rows["users"])
        user = User(
            username="new",
            email="new@county.gov",
            agency_id=1,
            password_hash="x",
            status="requested",
            account_type="full",
        )
        session.add(user)
        session.flush()
        assert user.id == top + 1  # a rebuilt table numbers on from its highest key


def test_upgrade_keeps_a_real_home_whole_on_postgresql(world: World, pg_url: str) -> None:
    _upgrade_keeps_everything(world, pg_url, pg_url)


def _first_release_with_an_archived_user(url: str) -> None:
    at_first_revision(url)
    with engine_of(url) as engine, engine.begin() as connection:
        connection.execute(text("INSERT INTO agencies (id, name) VALUES (1, 'county')"))
        connection.execute(
            text(
                "INSERT INTO users (id, username, email, agency_id, password_hash, status, "
                "account_type, failed_logins, created_at) VALUES (1, 'old', 'old@county.gov', "
                "1, 'x', 'archived', 'full', 0, '2026-01-01 00:00:00')"
            )
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_unlisted_status_stops_the_upgrade_with_nothing_changed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'f.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    _first_release_with_an_archived_user(url)
    before = rows(url)
    with engine_of(url) as engine, pytest.raises(MigrationRefusedError) as refused:
        upgrade(engine)
    assert refused.value.code == "migration_refused"
    assert refused.value.subject == "users.status"
    assert "table users, column status: 1 row(s) hold 'archived'" in refused.value.message
    with connected(url) as connection:
        assert revision_of(connection) == FIRST
    assert kept(rows(url), before)
    assert not any(check_constraints(url).values())

    with engine_of(url) as engine:  # once the row is corrected, the upgrade goes through
        with engine.begin() as connection:
            connection.execute(text("UPDATE users SET status = 'suspended'"))
        assert upgrade(engine).after == HEAD


def test_keys_beyond_32_bits_fit_on_postgresql(pg_url: str) -> None:
    at_first_revision(pg_url)
    with engine_of(pg_url) as engine:
        upgrade(engine)
    wide = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, BigInteger)
    }
    with connected(pg_url) as connection:
        types = dict(
            ((t, c), d)
            for t, c, d in connection.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            )
        )
        assert {key: types[key] for key in wide} == dict.fromkeys(wide, "bigint")
        for table, column in wide:
            sequence = connection.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column}
            )
            if sequence is not None:
                kind = connection.scalar(
                    text("SELECT data_type FROM pg_sequences WHERE sequencename = :s"),
                    {"s": sequence.removeprefix("public.")},
                )
                assert kind == "bigint", sequence

    big = 2**31 + 7
    with engine_of(pg_url) as engine, Session(engine) as session, session.begin():
        for table in ("images", "faces", "templates"):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {big})"))
        gallery = Gallery(name="bookings", pack="arcface-mbf")
        source = Source(
            gallery=gallery,
            name="county",
            kind="booking photographs",
            legal_basis="State Code 12-345",
            supplied_by="County Sheriff",
            collected_at="2026-01-15",
            retention_days=3650,
        )
        session.add_all([gallery, source])
        session.flush()
        image = Image(
            gallery_id=gallery.id,
            source_id=source.id,
            sha256="0" * 64,
            original_name="a.jpg",
            subject_ref=None,
            width=1,
            height=1,
            format="jpeg",
            face_count=1,
        )
        session.add(image)
        session.flush()
        face = Face(
            image_id=image.id,
            face_index=0,
            **dict.fromkeys(("x1", "y1", "x2", "y2", "detector_score", "inter_eye_px"), 1.0),
            **dict.fromkeys(("blur", "yaw_deg", "roll_deg"), 0.0),
            landmarks="[]",
        )
        session.add(face)
        session.flush()
        template = TemplateRow(
            face_id=face.id,
            gallery_id=gallery.id,
            pack="arcface-mbf",
            kind="plain",
            dim=1,
            vector=b"",
        )
        entry = AuditEntryRow(
            seq=big, at="2026", actor="a", kind="k", subject="s", details="{}", leaf_hash=b"0" * 32
        )
        session.add_all([template, entry])
        session.flush()
        assert (image.id, face.id, template.id) == (big + 1, big + 1, big + 1)
        assert (face.image_id, template.face_id) == (image.id, face.id)

    with engine_of(pg_url) as engine, pytest.raises(MigrationRefusedError) as refused:
        downgrade(engine, FIRST)
    assert refused.value.subject == "images.id" and str(big + 1) in refused.value.message
