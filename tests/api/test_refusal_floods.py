"""A flood of refusals (issue 26): one token sends searches past its rate limit, again and
again. The first refusal of each kind is recorded at once, as always; the repeats of a minute
are one entry with their count and the token they came with, written when the minute is over
(by the next refusal, housekeeping, or the process closing), so that a flood costs the log an
entry a minute instead of two entries a request. The log still verifies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.governance import credentials as cred
from facetrail.server import create_app
from facetrail.services.audit.log import audit_status
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.org import make_org

#: Rate-limited requests sent after the first (which the policy refuses).
FLOOD = 60


@pytest.fixture()
def limited(tmp_path: Path) -> Iterator[World]:
    """An organisation whose people may ask for one search a minute."""
    settings = Settings(
        home=tmp_path / "home", threads=1, search_rate_limit="1/minute", background_work=False
    )
    ctx = AppContext.open(settings)
    try:
        org = make_org(ctx)
        with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
            yield World(ctx, org, client, {})
    finally:
        ctx.close()


def _entries_after(world: World, seq: int) -> list[tuple[str, dict[str, object]]]:
    with world.ctx.sessions() as s:
        rows = s.execute(
            select(AuditEntryRow.kind, AuditEntryRow.details)
            .where(AuditEntryRow.seq > seq)
            .order_by(AuditEntryRow.seq)
        ).all()
    return [(kind, json.loads(details)) for kind, details in rows if kind != "row.seal"]


def _last_seq(world: World) -> int:
    with world.ctx.sessions() as s:
        return int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)


def _asks(world: World, headers: dict[str, str], times: int) -> list[int]:
    form = {"case_number": "2026-000961", "offense": "shoplifting", "attest": "true"}
    probe = [("probes", ("probe.jpg", b"\xff\xd8 never read", "image/jpeg"))]
    return [
        world.client.post("/api/v1/searches", data=form, files=probe, headers=headers).status_code
        for _ in range(times)
    ]


def test_a_flood_of_refused_searches_is_one_entry_a_minute(limited: World) -> None:
    world = limited
    headers = world.as_("ivy")
    token = next(iter(world.tokens.values()))
    start = utc_now()
    with time_machine.travel(start, tick=True):
        before = _last_seq(world)
        statuses = _asks(world, headers, 1 + FLOOD)
        assert statuses == [403] + [429] * FLOOD  # the policy's refusal, then the limit's
        written = _entries_after(world, before)
        # Each first refusal at once, with its token's use; the repeats not yet.
        assert [(k, d.get("code")) for k, d in written] == [
            ("auth.token.use", None),
            ("search.refused", "offense_not_allowed"),
            ("auth.token.use", None),
            ("search.refused", "rate_limited"),
        ]
    first_limited = _last_seq(world)
    with time_machine.travel(start + timedelta(seconds=61), tick=True):
        # The minute is over: the next refusal writes the minute's entry before its own.
        assert _asks(world, headers, 1) == [403]
        written = _entries_after(world, first_limited)
    minute = written[0]
    assert minute[0] == "search.refused" and minute[1]["code"] == "rate_limited"
    assert minute[1]["repeated"] == FLOOD - 1 and minute[1]["after"] == first_limited
    assert minute[1]["tokens"] == {cred.secret_hash(token)[:12]: FLOOD - 1}
    assert minute[1]["subjects"] == ["ivy"]
    assert [k for k, _ in written[1:]] == ["auth.token.use", "search.refused"]
    assert audit_status(world.ctx, world.org.people["head"]).ok


def test_repeats_left_open_are_written_when_the_process_closes(limited: World) -> None:
    world = limited
    headers = world.as_("ivy")
    before = _last_seq(world)
    assert _asks(world, headers, 5) == [403, 429, 429, 429, 429]
    assert len(_entries_after(world, before)) == 4
    world.ctx.close()  # as a worker stopping: nothing counted is lost
    reopened = AppContext.open(world.ctx.settings)
    try:
        with reopened.sessions() as s:
            rows = s.execute(
                select(AuditEntryRow.kind, AuditEntryRow.details).where(AuditEntryRow.seq > before)
            ).all()
        repeated = [json.loads(d).get("repeated") for k, d in rows if k == "search.refused"]
        assert repeated == [None, None, 3]
    finally:
        reopened.close()
