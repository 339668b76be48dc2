"""Issue 12: what ``append`` writes is what ``audit verify`` accepts, and it stays in the
caller's transaction: an entry whose details have non-string keys is stored in canonical form
(not flagged as tampering later), and a rolled-back action leaves neither entry nor head move."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from facetrail.governance import audit as audit_log
from facetrail.governance.audit import AuditEvent, append, locked_head
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
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


@pytest.mark.parametrize("pipelined", [True, False])
def test_appends_in_one_transaction_chain_with_or_without_pipeline_mode(
    app_ctx: AppContext, monkeypatch: pytest.MonkeyPatch, pipelined: bool
) -> None:
    """Several appends in one action take consecutive positions from the head read once (on
    PostgreSQL with the action lock, in one round trip where the driver has pipeline mode,
    else one statement after the other), and a rolled-back action's kept head is not reused."""
    monkeypatch.setattr(audit_log, "_pipelines", lambda _driver: pipelined)
    audit.ensure_keys(app_ctx)
    with app_ctx.transaction() as s:
        first = append(s, AuditEvent("ivy", "test.event", "one"))
        second = append(s, AuditEvent("ivy", "test.event", "two"))
        third = append(s, AuditEvent("ivy", "test.event", "three"))
    assert (second.seq, third.seq) == (first.seq + 1, first.seq + 2)
    with pytest.raises(RuntimeError), app_ctx.transaction() as s:
        append(s, AuditEvent("ivy", "test.event", "rolled back"))
        append(s, AuditEvent("ivy", "test.event", "rolled back too"))
        raise RuntimeError("the action failed")
    with app_ctx.transaction() as s:
        assert append(s, AuditEvent("ivy", "test.event", "after")).seq == third.seq + 1
    audit.make_checkpoint(app_ctx)
    with app_ctx.sessions() as s:
        report = verify_log(s, audit.public_key(app_ctx))
    assert report.ok, report.problem
