"""Issue 12: what ``append`` writes is what ``audit verify`` accepts, and it stays in the
caller's transaction: an entry whose details have non-string keys is stored in canonical form
(not flagged as tampering later), and a rolled-back action leaves neither entry nor head move."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from facetrail.governance.audit import AuditEvent, append, locked_head
from facetrail.governance.verify import verify_log
from facetrail.services import audit
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow


def test_details_with_number_keys_verify(app_ctx: AppContext) -> None:
    audit.ensure_keys(app_ctx)
    with app_ctx.transaction() as s:
        append(s, AuditEvent("ivy", "test.event", "thing", {"by_rank": {2: "b", 10: "a"}}))
    audit.make_checkpoint(app_ctx)
    with app_ctx.sessions() as s:
        report = verify_log(s, audit.public_key(app_ctx))
        stored = s.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.subject == "thing")
        ).one()
    assert report.ok, report.problem
    assert stored == '{"by_rank":{"10":"a","2":"b"}}'


def test_rolled_back_action_leaves_no_entry_and_head_unmoved(app_ctx: AppContext) -> None:
    audit.ensure_keys(app_ctx)
    with app_ctx.transaction() as s:
        kept = append(s, AuditEvent("ivy", "test.event", "kept"))
    with pytest.raises(RuntimeError), app_ctx.transaction() as s:
        append(s, AuditEvent("ivy", "test.event", "rolled back"))
        raise RuntimeError("the action failed")
    with app_ctx.transaction() as s:
        entry = append(s, AuditEvent("ivy", "test.event", "next"))
        assert entry.seq == kept.seq + 1
    with app_ctx.transaction() as s:
        head = locked_head(s)
        assert head.size == entry.seq == s.scalar(select(func.count()).select_from(AuditEntryRow))
    audit.make_checkpoint(app_ctx)
    with app_ctx.sessions() as s:
        assert verify_log(s, audit.public_key(app_ctx)).ok
