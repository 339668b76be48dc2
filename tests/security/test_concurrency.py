"""Races tried with real processes on one home: each action is one locked transaction, so
parallel wrong passwords lock the account after exactly 5, parallel searches never pass the
daily limit, two supervisors deciding at once give one decision, and parallel commands never
crash on the audit log."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.errors import FacetrailError
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.policy import ApprovalMode
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.oversight import policy as policy_service
from facetrail.services.searching.search import ProbeImage, SearchRequest, decide_search, search
from facetrail.services.signin import authentication as auth
from facetrail.store.schema import AuditEntryRow, SearchRecord, User

PASSWORD = "correct horse battery"
CASE = "2026-000123"
WHY = "Bank robbery on 3 Main St; suspect photographed by the lobby camera."
SPAWN = mp.get_context("spawn")


def _principal(ctx: AppContext, username: str) -> Principal:
    with ctx.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return acc.principal_of(session, user)


def _settings(home: Path) -> Settings:
    return Settings(home=home, threads=1)


def _worker(
    home: str, job: str, arg: Any, barrier: Any, results: Any
) -> None:  # runs in a child process
    ctx = AppContext.open(_settings(Path(home)))
    try:
        barrier.wait(timeout=60)
        outcome = "ok"
        try:
            JOBS[job](ctx, arg)
        except FacetrailError as exc:
            outcome = exc.code
        except Exception as exc:
            outcome = f"CRASH {type(exc).__name__}: {exc}"
        results.put(outcome)
    finally:
        ctx.close()


def _wrong_login(ctx: AppContext, _arg: Any) -> None:
    auth.login(ctx, "ivy", "not the password at all", "000000")


def _search(ctx: AppContext, ivy: Principal) -> None:
    probe = (ProbeImage("probe.jpg", b"not an image, so the run fails fast"),)
    search(
        ctx,
        SearchRequest(ivy, CASE, "armed-robbery", WHY, ("bookings",), probe, attested=True),
        include_crops=False,
    )


def _decide(ctx: AppContext, arg: tuple[Principal, int, bool]) -> None:
    who, search_id, approve = arg
    decide_search(ctx, who, search_id, approve, "decided in parallel")


def _mixed(ctx: AppContext, arg: tuple[Principal, int]) -> None:
    root, n = arg
    acc.create_network(ctx, root, f"net-{n}")
    policy_service.policy_history(ctx, root, "county")
    acc.create_agency(ctx, root, f"agency-{n}")


JOBS: dict[str, Callable[[AppContext, Any], None]] = {
    "wrong_login": _wrong_login,
    "search": _search,
    "decide": _decide,
    "mixed": _mixed,
}


def _race(home: Path, job: str, args: list[Any]) -> list[str]:
    barrier = SPAWN.Barrier(len(args))
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_worker, args=(str(home), job, a, barrier, results)) for a in args
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():  # never leave a process behind
            p.kill()
    return sorted(outcomes)


@pytest.fixture
def home(tmp_path: Path):  # type: ignore[no-untyped-def]
    """root; county with a head, two supervisors and ivy (investigator); an empty gallery the
    county may search without approval, at most 3 searches a day."""
    home = tmp_path / "home"
    ctx = AppContext.open(_settings(home))
    acc.init_system(ctx, NewAccount("root", "root@ops", PASSWORD, "operators"))
    root = _principal(ctx, "root")
    acc.create_agency(ctx, root, "county")
    for name, roles in (
        ("head", (Role.AGENCY_HEAD,)),
        ("sam", (Role.SUPERVISOR,)),
        ("sue", (Role.SUPERVISOR,)),
        ("ivy", (Role.INVESTIGATOR,)),
        ("gus", (Role.GALLERY_ADMIN,)),
    ):
        acc.create_user(ctx, root, NewAccount(name, f"{name}@x", PASSWORD, "county", roles))
    galleries.create_gallery(
        ctx, _principal(ctx, "gus"), galleries.CreateGalleryRequest("bookings", None)
    )
    head = _principal(ctx, "head")
    current = policy_service.show_policy(ctx, head, "county").policy
    policy_service.set_policy(  # by the platform's admin: no second person to wait for
        ctx,
        root,
        "county",
        replace(current, galleries=("bookings",), approval=ApprovalMode.NEVER, daily_limit=3),
        "open the bookings gallery for the test",
    )
    ctx.close()
    yield home


def _count(home: Path, query: Any) -> int:
    ctx = AppContext.open(_settings(home))
    try:
        with ctx.sessions() as session:
            return int(session.scalar(query) or 0)
    finally:
        ctx.close()


def test_parallel_wrong_passwords_lock_the_account_after_exactly_five(home: Path) -> None:
    outcomes = _race(home, "wrong_login", [None] * 8)
    assert outcomes == ["auth_failed"] * 8, outcomes  # a lockout is told as a wrong guess
    failed = select(func.count(AuditEntryRow.seq)).where(AuditEntryRow.kind == "auth.login.failed")
    assert _count(home, failed) == 8  # every guess left an entry
    # ... which says which was which: five counted guesses, then three during the lockout.
    locked = failed.where(AuditEntryRow.details.contains('"reason":"locked"'))
    assert _count(home, locked) == 3


def test_parallel_searches_never_pass_the_daily_limit(home: Path) -> None:
    ctx = AppContext.open(_settings(home))
    ivy = _principal(ctx, "ivy")
    ctx.close()
    outcomes = _race(home, "search", [ivy] * 6)
    assert not [o for o in outcomes if o.startswith("CRASH")], outcomes
    assert outcomes.count("daily_limit_reached") == 3, outcomes
    assert _count(home, select(func.count(SearchRecord.id))) == 3
    refused = select(func.count(AuditEntryRow.seq)).where(AuditEntryRow.kind == "search.refused")
    assert _count(home, refused) == 3


def test_two_supervisors_deciding_at_once_give_one_decision(home: Path) -> None:
    ctx = AppContext.open(_settings(home))
    head, ivy = _principal(ctx, "head"), _principal(ctx, "ivy")
    current = policy_service.show_policy(ctx, head, "county").policy
    policy_service.set_policy(
        ctx, head, "county", replace(current, approval=ApprovalMode.ALWAYS), "approval again"
    )
    probe = (ProbeImage("probe.jpg", b"not an image"),)
    pending = search(
        ctx, SearchRequest(ivy, CASE, "armed-robbery", WHY, ("bookings",), probe, attested=True)
    )
    sam, sue = _principal(ctx, "sam"), _principal(ctx, "sue")
    ctx.close()
    outcomes = _race(
        home, "decide", [(sam, pending.search_id, True), (sue, pending.search_id, False)]
    )
    assert not [o for o in outcomes if o.startswith("CRASH")], outcomes
    assert outcomes.count("wrong_state") == 1, outcomes
    decisions = select(func.count(AuditEntryRow.seq)).where(
        AuditEntryRow.kind.in_(("search.approve", "search.deny"))
    )
    assert _count(home, decisions) == 1


def test_eight_parallel_commands_never_crash_and_the_log_stays_whole(home: Path) -> None:
    ctx = AppContext.open(_settings(home))
    root = _principal(ctx, "root")
    ctx.close()
    outcomes = _race(home, "mixed", [(root, n) for n in range(8)])
    assert outcomes == ["ok"] * 8, outcomes
    seqs = select(func.count(AuditEntryRow.seq))
    top = select(func.max(AuditEntryRow.seq))
    assert _count(home, seqs) == _count(home, top)  # 1..N with no gap or clash
