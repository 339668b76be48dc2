"""Amending a policy reads the version in force and writes the new one in one locked
transaction: amendments of different fields made at once never undo each other (the CLI's
``policy set`` used to read in one transaction and write in another)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.services.context import AppContext
from facetrail.services.oversight import policy as policy_service
from facetrail.store.schema import AuditEntryRow
from tests.org import AGENCY, make_county


def test_parallel_amendments_of_different_fields_all_hold(tmp_path: Path) -> None:
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    try:
        org = make_county(ctx)
        head = org.people["head"]
        errors: list[BaseException] = []

        def amend(field: str, values: list[object]) -> None:
            try:
                for value in values:
                    policy_service.amend_policy(
                        ctx, head, AGENCY, {field: value}, f"tightening {field} step by step"
                    )
            except BaseException as exc:  # handed to the test thread
                errors.append(exc)

        workers = [
            threading.Thread(target=amend, args=("daily_limit", [19, 18, 17, 16, 15])),
            threading.Thread(target=amend, args=("min_justification", [31, 32, 33, 34, 35])),
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert not errors, errors
        info = policy_service.show_policy(ctx, head, AGENCY)
        assert info.version == 11
        assert (info.policy.daily_limit, info.policy.min_justification) == (15, 35)
        with ctx.sessions() as s:
            changes = s.scalar(
                select(func.count(AuditEntryRow.seq)).where(
                    AuditEntryRow.kind == "policy.change", AuditEntryRow.subject == AGENCY
                )
            )
        assert changes == 11  # v1 and ten amendments, each its own entry
    finally:
        ctx.close()
