"""Rollback: an insider who can write the database puts back a row as an older action left it,
with the seal index entry of that older action, so that the row agrees with a seal the log
really holds, only not with the row's last one. A row must agree with the entry that last
wrote it: the product refuses to act on a rolled-back row, a write never seals it, and
``audit verify`` names it. Seen failing on 7b69e17 (each test): a suspended account, set back
to active with its old seal, searched again; erased faces put back with their ingest's seals
were ranked again; a rolled-back row written by facetrail was sealed.

The insider writes on a connection of their own (no facetrail code runs), as with a shell.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Table, create_engine, delete, insert, select, update

from facetrail.errors import FacetrailError, RecordMismatchError
from facetrail.governance.verify import VerifyReport, verify_log
from facetrail.services import accounts
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow, Base, Face, Image, RowSeal, TemplateRow
from tests.conftest import needs_lfw
from tests.org import Org

pytestmark = needs_lfw


def _saved(ctx: AppContext, table: Table, where: Any) -> list[tuple[dict[str, Any], Any]]:
    """What an insider keeps of some rows: each row and its seal index entry."""
    with ctx.sessions() as session:
        rows = [dict(r._mapping) for r in session.execute(select(table).where(where))]
        kept = []
        for row in rows:
            key = ":".join(str(row[c.name]) for c in table.primary_key.columns)
            index = session.get(RowSeal, (table.name, key))
            assert index is not None
            kept.append((row, (index.seq, index.digest, bytes(index.columns), key)))
        return kept


def _put_back(ctx: AppContext, table: Table, saved: list[tuple[dict[str, Any], Any]]) -> None:
    """The insider puts the saved rows back, and their saved seal index entries."""
    engine = create_engine(ctx.settings.db_url)
    try:
        with engine.begin() as connection:
            for row, (seq, digest, columns, key) in saved:
                where = [c == row[c.name] for c in table.primary_key.columns]
                if connection.execute(select(table).where(*where)).first() is None:
                    connection.execute(insert(table).values(row))
                else:
                    connection.execute(update(table).where(*where).values(row))
                connection.execute(
                    delete(RowSeal).where(RowSeal.tbl == table.name, RowSeal.key == key)
                )
                connection.execute(
                    insert(RowSeal).values(
                        tbl=table.name, key=key, seq=seq, digest=digest, columns=columns
                    )
                )
    finally:
        engine.dispose()


def _verify(ctx: AppContext) -> VerifyReport:
    with ctx.sessions() as session:
        return verify_log(session, audit.public_key(ctx))


def test_a_suspension_rolled_back_with_its_old_seal_cannot_act(world) -> None:  # type: ignore[no-untyped-def]
    org: Org
    org, _sid, probe = world
    users = Base.metadata.tables["users"]
    before = _saved(org.ctx, users, users.c.username == "ivy")
    accounts.suspend_account(org.ctx, org.people["head"], "ivy", "under investigation")
    _put_back(org.ctx, users, before)
    report = _verify(org.ctx)
    assert not report.ok and any(f.table == "users" for f in report.rows)
    with pytest.raises(FacetrailError) as refused:
        org.search(("bookings",), probe)
    assert refused.value.code == "record_tampered"


def test_erased_faces_put_back_with_their_old_seals_are_never_ranked(world) -> None:  # type: ignore[no-untyped-def]
    org: Org
    org, _sid, probe = world
    found = org.search(("bookings",), probe)
    first = found.candidates[0]
    with org.ctx.sessions() as session:
        template = session.get(TemplateRow, first.template_id)
        assert template is not None
        face = session.get(Face, template.face_id)
        assert face is not None
        image_id = face.image_id
    tables = [Base.metadata.tables[n] for n in ("images", "faces", "templates")]
    wheres = [Image.id == image_id, Face.image_id == image_id, TemplateRow.face_id == face.id]
    saved = [(t, _saved(org.ctx, t, w)) for t, w in zip(tables, wheres, strict=True)]
    # facetrail removes the image (as an erasure or retention does: sealed as deleted)
    with org.ctx.transaction() as session:
        session.execute(delete(TemplateRow).where(TemplateRow.face_id == face.id))
        session.execute(delete(Face).where(Face.image_id == image_id))
        session.execute(delete(Image).where(Image.id == image_id))
    for table, rows in saved:
        _put_back(org.ctx, table, rows)
    report = _verify(org.ctx)
    assert not report.ok and any(f.table == "templates" for f in report.rows)
    try:
        again = org.search(("bookings",), probe)
    except FacetrailError as refused:
        assert refused.code == "record_tampered"
    else:
        assert first.template_id not in [c.template_id for c in again.candidates]


def test_a_write_never_seals_a_rolled_back_row(world) -> None:  # type: ignore[no-untyped-def]
    org: Org
    org, _sid, _probe = world
    users = Base.metadata.tables["users"]
    before = _saved(org.ctx, users, users.c.username == "ivy")
    accounts.suspend_account(org.ctx, org.people["head"], "ivy", "under investigation")
    _put_back(org.ctx, users, before)
    with (
        pytest.raises(RecordMismatchError, match="will not be sealed"),
        org.ctx.transaction() as session,
    ):
        session.execute(update(users).where(users.c.username == "ivy").values(failed_logins=3))
    assert not _verify(org.ctx).ok
    with org.ctx.sessions() as session:  # the refusal is logged, though its writer's rolled back
        refused = session.scalars(
            select(AuditEntryRow.subject).where(AuditEntryRow.kind == "row.seal.refused")
        ).all()
    assert refused == [f"users {before[0][0]['id']}"]
