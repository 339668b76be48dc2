"""A flood of refusals (issue 26): one token sends searches past its rate limit, again and
again. The first refusals of each kind are recorded at once, as always (the same one up to
three times a minute, up to fifty of a kind); the repeats of a minute beyond those are one
entry with their count and the token they came with, written when the minute is over (by the
next refusal, housekeeping, or the process closing), so that a flood costs the log a few
entries a minute instead of two entries a request. The log still verifies."""

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
from facetrail.services.audit.refusal_floods import AT_ONCE, SAME_AT_ONCE, refusals_in
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
        # Each first refusal at once, with its token's use (the same one up to three times);
        # the repeats not yet.
        assert [(k, d.get("code")) for k, d in written] == [
            ("auth.token.use", None),
            ("search.refused", "offense_not_allowed"),
        ] + [("auth.token.use", None), ("search.refused", "rate_limited")] * SAME_AT_ONCE
        flooded = utc_now()  # the clock ticks: on a busy machine the flood takes seconds
    first_limited = _last_seq(world)
    first_refused = first_limited - 2 * (SAME_AT_ONCE - 1)
    with time_machine.travel(flooded + timedelta(seconds=61), tick=True):
        # The minute is over: the next refusal writes the minute's entry before its own.
        assert _asks(world, headers, 1) == [403]
        written = _entries_after(world, first_limited)
    minute = written[0]
    assert minute[0] == "search.refused" and minute[1]["code"] == "rate_limited"
    repeats = FLOOD - SAME_AT_ONCE
    assert minute[1]["repeated"] == repeats and minute[1]["after"] == first_refused
    assert minute[1]["tokens"] == {cred.secret_hash(token)[:12]: repeats}
    assert minute[1]["subjects"] == ["ivy"]
    assert [k for k, _ in written[1:]] == ["auth.token.use", "search.refused"]
    assert audit_status(world.ctx, world.org.people["head"]).ok


def test_repeats_left_open_are_written_when_the_process_closes(limited: World) -> None:
    world = limited
    headers = world.as_("ivy")
    before = _last_seq(world)
    assert _asks(world, headers, 6) == [403, 429, 429, 429, 429, 429]
    assert len(_entries_after(world, before)) == 2 + 2 * SAME_AT_ONCE
    world.ctx.close()  # as a worker stopping: nothing counted is lost
    reopened = AppContext.open(world.ctx.settings)
    try:
        with reopened.sessions() as s:
            rows = s.execute(
                select(AuditEntryRow.kind, AuditEntryRow.details).where(AuditEntryRow.seq > before)
            ).all()
        repeated = [json.loads(d).get("repeated") for k, d in rows if k == "search.refused"]
        assert repeated == [None] * (1 + SAME_AT_ONCE) + [5 - SAME_AT_ONCE]
    finally:
        reopened.close()


def _refusals(world: World | AppContext, kind: str, after: int) -> list[dict[str, object]]:
    ctx = world if isinstance(world, AppContext) else world.ctx
    with ctx.sessions() as s:
        rows = s.scalars(
            select(AuditEntryRow.details)
            .where(AuditEntryRow.seq > after, AuditEntryRow.kind == kind)
            .order_by(AuditEntryRow.seq)
        ).all()
    return [json.loads(details) for details in rows]


def _rate_limited_sign_ins(ctx: AppContext, after: int) -> list[dict[str, object]]:
    refused = _refusals(ctx, "auth.login.refused", after)
    return [d for d in refused if d["code"] == "rate_limited"]


def test_names_guessed_from_one_address_past_the_limit_are_one_flood(tmp_path: Path) -> None:
    """A script trying a new name each time escapes no count: the limit's refusals of one
    address are one flood, whatever name each sent (at most ``AT_ONCE`` at once a minute)."""
    settings = Settings(
        home=tmp_path / "home", threads=1, login_rate_limit="2/minute", background_work=False
    )
    ctx = AppContext.open(settings)
    try:
        make_org(ctx)
        with ctx.sessions() as s:
            before = int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)
        sent = 2 + AT_ONCE + 40
        with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
            statuses = [
                client.post(
                    "/api/v1/session",
                    json={"username": f"guess{n}", "password": "wrong-password", "code": "000000"},
                ).status_code
                for n in range(sent)
            ]
        assert statuses[2:] == [429] * (sent - 2)
        assert len(_rate_limited_sign_ins(ctx, before)) == AT_ONCE  # each name, up to the bound
        ctx.close()  # the minute's count is written as the process closes
        ctx = AppContext.open(settings)
        limited = _rate_limited_sign_ins(ctx, before)
        assert [refusals_in(d) for d in limited] == [1] * AT_ONCE + [sent - 2 - AT_ONCE]
        assert limited[-1]["subjects"] == [f"guess{n}" for n in range(2 + AT_ONCE, 12 + AT_ONCE)]
    finally:
        ctx.close()


def test_a_flood_of_unknown_tokens_is_counted(limited: World) -> None:
    world = limited
    before = _last_seq(world)
    sent = AT_ONCE + 30
    statuses = [
        world.client.get(
            "/api/v1/searches", headers={"Authorization": f"Bearer ft_not-a-token-{n:04d}"}
        ).status_code
        for n in range(sent)
    ]
    assert statuses == [401] * sent
    assert len(_refusals(world, "auth.token.refused", before)) == AT_ONCE
    assert world.ctx.write_floods(closing=True) == 1
    refused = _refusals(world, "auth.token.refused", before)
    assert sum(refusals_in(d) for d in refused) == sent
    assert audit_status(world.ctx, world.org.people["head"]).ok
