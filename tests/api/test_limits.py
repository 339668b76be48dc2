"""Sign-in and search are rate-limited per account and per client address; a request over a
limit is a 429 problem with Retry-After, and the refusal is audited."""

from __future__ import annotations

import json

from limits import parse_many
from sqlalchemy import func, select

from facetrail.edge.limits import RateLimits
from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import CASE, JUSTIFICATION, OFFENSE, PASSWORD

pytestmark = needs_lfw


def _limit(world: World, kind: str, rule: str) -> None:
    limits: RateLimits = world.client.app.state.limits  # type: ignore[attr-defined]
    limits.rules[kind] = parse_many(rule)


def _last(world: World) -> tuple[str, dict[str, object]]:
    with world.ctx.sessions() as s:
        row = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).first()
        assert row is not None
        return row.kind, json.loads(row.details)


def test_sign_in_is_limited_per_account_and_per_address(world: World) -> None:
    _limit(world, "login", "3/minute")
    attempt = {"username": "ian", "password": PASSWORD, "code": "000000"}
    for _ in range(3):
        assert world.client.post("/api/v1/session", json=attempt).status_code == 401
    over = world.client.post("/api/v1/session", json=attempt)
    assert over.status_code == 429 and over.json()["code"] == "rate_limited"
    assert int(over.headers["retry-after"]) >= 1
    kind, details = _last(world)
    assert kind == "auth.login.refused" and details["code"] == "rate_limited"
    # The same address trying other names is held too (the address counts every attempt).
    other = world.client.post("/api/v1/session", json=attempt | {"username": "sam"})
    assert other.status_code == 429


def test_search_is_limited_and_nothing_is_stored(world: World) -> None:
    _limit(world, "search", "2/minute")
    probe = next(iter(world.photos.values())).read_bytes()
    form = {
        "case_number": CASE,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": ["bookings"],
    }
    ivy = world.as_("ivy")
    files = [("probes", ("p.jpg", probe, "image/jpeg"))]
    for _ in range(2):
        done = world.client.post("/api/v1/searches", data=form, files=files, headers=ivy)
        assert done.status_code == 201
    with world.ctx.sessions() as s:
        before = s.scalar(select(func.count(SearchRecord.id)))
    over = world.client.post("/api/v1/searches", data=form, files=files, headers=ivy)
    assert over.status_code == 429 and "retry-after" in over.headers
    assert _last(world)[0] == "search.refused"
    with world.ctx.sessions() as s:
        assert s.scalar(select(func.count(SearchRecord.id))) == before
