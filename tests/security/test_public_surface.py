"""What an outsider or an insider learns from facetrail's public surface (issue 22, section 5),
each attack reproduced through the API or the services, then refused:

- sign-in answers an unknown username, a wrong password and a locked account alike, in as
  long (no username oracle), and so does an account request, whatever the named supervisor
  or username;
- the names the service writes its own entries under cannot be taken by an account, and an
  account that holds one (made before) reads none of the service's entries of other agencies;
- a public report covers one calendar month that is over, with counts of 1 to 4 shown as
  "<5" (a one-minute window no longer resolves a single search);
- ``/metrics`` needs a system admin's token;
- ``/docs`` loads its scripts and styles from facetrail itself, under the pages' CSP."""

from __future__ import annotations

import itertools
import re
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from facetrail.config import Settings
from facetrail.errors import AuthError, FacetrailError
from facetrail.governance import credentials, fields
from facetrail.governance.credentials import Role
from facetrail.server import create_app
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount, agency_domains
from facetrail.services.accounts import requests as account_requests
from facetrail.services.audit.audit_entries import AuditEntryQuery, list_entries
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.notifications import inbox
from facetrail.services.oversight import digests
from facetrail.services.signin import authentication as auth
from facetrail.services.signin.authentication import add_token
from facetrail.store.schema import AuditEntryRow, User
from tests.conftest import PRODUCTION_HASHER, needs_lfw
from tests.org import AGENCY, PASSWORD, Org, make_org

#: How much faster than a known one an unknown name may be refused: medians of several tries,
#: so a noisy machine passes, while the oracle (about 50 times faster) does not.
TIMING_TOLERANCE = 0.5
TRIES = 5


@pytest.fixture()
def county(tmp_path: Path) -> Iterator[tuple[Org, TestClient]]:
    """The county of tests/org.py (root, head, sam, ivy, ian, gus) and 'other' (otto heads
    and supervises it), with the API over them."""
    settings = Settings(
        home=tmp_path / "home",
        threads=1,
        login_rate_limit="1000/minute",
        search_rate_limit="1000/minute",
    )
    ctx = AppContext.open(settings)
    org = make_org(ctx)
    acc.create_agency(ctx, org.admin, "other")
    org.add("otto", "other", Role.AGENCY_HEAD, Role.SUPERVISOR)
    agency_domains.register_domain(ctx, org.admin, AGENCY, "county.example")
    try:
        with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
            yield org, client
    finally:
        ctx.close()


def _entries(ctx: AppContext, kind: str) -> list[AuditEntryRow]:
    with ctx.sessions() as s:
        query = select(AuditEntryRow).where(AuditEntryRow.kind == kind)
        return list(s.scalars(query.order_by(AuditEntryRow.seq)))


def _median_seconds(call: Callable[[], object]) -> float:
    times = []
    for _ in range(TRIES):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _refusal(call: Callable[[], object]) -> FacetrailError:
    with pytest.raises(FacetrailError) as refused:
        call()
    return refused.value


def _without_subject(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    return {k: v for k, v in body.items() if k != "subject"}


# --- 1. no username oracle ------------------------------------------------------------------


def test_an_unknown_username_is_refused_in_as_long_as_a_known_one(
    county: tuple[Org, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    org, _client = county
    ctx = org.ctx
    # The installation's real password cost, for the account and for whatever stands in for
    # an unknown one (the suite otherwise hashes cheaply).
    monkeypatch.setattr(credentials, "_HASHER", PRODUCTION_HASHER)
    acc.create_user(ctx, org.admin, NewAccount("dora", "dora@county.example", PASSWORD, AGENCY))
    start = utc_now()
    moments = iter(start + i * (auth.LOCKOUT + timedelta(seconds=1)) for i in range(3 * TRIES))

    def guess(name: str) -> FacetrailError:
        # Each guess after the last lockout ended: every one is checked as a guess.
        at = next(moments)
        return _refusal(lambda: auth.login(ctx, name, "a wrong guess!!", "000000", now=at))

    unknown = _median_seconds(lambda: guess("nobody-here"))
    known = _median_seconds(lambda: guess("dora"))
    assert unknown >= TIMING_TOLERANCE * known, (unknown, known)
    told = [guess("nobody-here"), guess("dora")]
    assert told[0].code == told[1].code == "auth_failed"
    assert told[0].message == told[1].message


def test_sign_in_answers_an_unknown_name_a_wrong_password_and_a_lock_alike(
    county: tuple[Org, TestClient],
) -> None:
    org, client = county

    def sign_in(name: str, password: str) -> Any:
        body = {"username": name, "password": password, "code": "000000", "session": "bearer"}
        return client.post("/api/v1/session", json=body)

    unknown = sign_in("nobody-here", "a wrong guess!!")
    guesses = [sign_in("ian", "a wrong guess!!") for _ in range(auth.MAX_FAILED_LOGINS)]
    locked = sign_in("ian", PASSWORD)  # the right password, while ian is locked out
    answers = [unknown, *guesses, locked]
    assert {a.status_code for a in answers} == {401}
    assert all(_without_subject(a) == _without_subject(unknown) for a in answers), [
        a.json() for a in answers
    ]
    # The log keeps what the answer does not say.
    reasons = [e.details for e in _entries(org.ctx, "auth.login.failed")]
    assert '"unknown_user"' in reasons[0] and '"locked"' in reasons[-1]


def test_an_account_request_answers_alike_whoever_it_names(
    county: tuple[Org, TestClient],
) -> None:
    org, client = county
    ctx = org.ctx

    def ask(username: str, supervisor: str) -> Any:
        body = {
            "username": username,
            "email": f"{username}@county.example",
            "password": PASSWORD,
            "agency": AGENCY,
            "supervisor": supervisor,
        }
        return client.post("/api/v1/account-requests", json=body)

    passed_on = ask("rita", "sam")
    declined = {
        "a username taken": ask("ivy", "sam"),
        "a supervisor nobody is": ask("rhea", "nobody-here"),
        "a supervisor of another agency": ask("rosa", "otto"),
        "someone who supervises no one": ask("ruth", "ian"),
        "a pending request's username": ask("rita", "sam"),
    }
    for why, answer in declined.items():
        assert answer.status_code == passed_on.status_code == 201, (why, answer.text)
        asked = answer.json()["username"]
        assert answer.json() == passed_on.json() | {"username": asked}, why
    # The real outcome goes to the people concerned: rita's supervisor hears of hers, the
    # county's head of every one (the declined ones saying why), and the log keeps each.
    sam, head = org.people["sam"].user_id, org.people["head"].user_id
    assert [m.subject for m in inbox(ctx, sam)] == ["account request: rita"]
    told = [m for m in inbox(ctx, head) if m.subject.startswith("account request")]
    assert len(told) == 1 + len(declined), [m.subject for m in told]
    refused = _entries(ctx, "account.request.refused")
    assert len(refused) == len(declined)
    # Nor does signing in as the requester tell a new request from a taken name.
    for name in ("rita", "ivy", "nobody-here"):
        with pytest.raises(AuthError) as refused_sign_in:
            auth.login(ctx, name, PASSWORD, "000000")
        assert refused_sign_in.value.code == "auth_failed", name


def test_an_account_request_takes_as_long_whoever_it_names(
    county: tuple[Org, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    org, _client = county
    monkeypatch.setattr(credentials, "_HASHER", PRODUCTION_HASHER)
    monkeypatch.setattr(account_requests, "MAX_REQUESTS_PER_HOUR", 100)
    names = iter(f"asker-{i}" for i in range(TRIES))

    def ask(username: Callable[[], str]) -> Callable[[], object]:
        return lambda: acc.request_account(
            org.ctx, NewAccount(username(), "a@county.example", PASSWORD, AGENCY, supervisor="sam")
        )

    free = _median_seconds(ask(lambda: next(names)))
    taken = _median_seconds(ask(lambda: "ivy"))
    assert taken >= TIMING_TOLERANCE * free, (taken, free)


# --- 2. the service's own names ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["facetrail", "FaceTrail", "system", "SYSTEM", "sys.tem", "unknown", "facetra1l"]
)
def test_no_account_takes_a_name_the_service_acts_under(
    county: tuple[Org, TestClient], name: str
) -> None:
    org, client = county
    granted = _refusal(
        lambda: acc.create_user(org.ctx, org.admin, NewAccount(name, "x@y", PASSWORD, AGENCY))
    )
    assert granted.code == "username_reserved" and granted.subject == "username"
    body = {
        "username": name,
        "email": "x@county.example",
        "password": PASSWORD,
        "agency": AGENCY,
        "supervisor": "sam",
    }
    asked = client.post("/api/v1/account-requests", json=body)
    assert asked.status_code == 422 and asked.json()["code"] == "username_reserved"
    assert _entries(org.ctx, "account.create.refused")
    assert _entries(org.ctx, "account.request.refused")


def test_every_name_the_service_writes_under_is_reserved(
    county: tuple[Org, TestClient],
) -> None:
    from facetrail.services.galleries import indexing
    from facetrail.services.oversight import _alert_facts

    org, _client = county
    with pytest.raises(AuthError):
        auth.authenticate(org.ctx, "ft_forged")  # an entry of no one's
    digests.send_due_digests(org.ctx)
    with org.ctx.sessions() as s:
        actors = set(s.scalars(select(AuditEntryRow.actor)))
        people = set(s.scalars(select(User.username)))
    assert actors - people <= fields.SERVICE_ACTORS, actors - people
    assert {_alert_facts.SYSTEM, indexing.SYSTEM} <= fields.SERVICE_ACTORS
    assert fields.SERVICE_ACTORS <= fields.RESERVED_USERNAMES


def test_an_older_account_named_like_the_service_reads_none_of_its_entries(
    county: tuple[Org, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    org, _client = county
    ctx = org.ctx
    # A county account named 'facetrail', made before the name was reserved.
    monkeypatch.setattr(fields, "RESERVED_USERNAMES", frozenset(), raising=False)
    acc.create_user(
        ctx, org.people["head"], NewAccount("facetrail", "f@county.example", PASSWORD, AGENCY)
    )
    monkeypatch.undo()
    with ctx.transaction() as session:
        user_id = acc.user_by_name(session, "facetrail").id
        token, _ = add_token(session, user_id, "session", utc_now() + timedelta(hours=1))
    digests.send_due_digests(ctx)  # the service's entries, one for each agency

    read = list_entries(ctx, org.people["head"], AuditEntryQuery(kind="digest.send"))
    assert {e.agency for e in read} == {AGENCY}, [(e.actor, e.agency) for e in read]
    # The account itself can do nothing (its name makes its own entries look like the
    # service's), however it was signed in.
    with pytest.raises(AuthError):
        auth.authenticate(ctx, token)


# --- 3. public reports ---------------------------------------------------------------------


@needs_lfw
def test_a_public_report_covers_a_month_that_is_over_and_hides_small_counts(world) -> None:  # type: ignore[no-untyped-def]
    org, _search_id, _probe = world
    ctx: AppContext = org.ctx
    with ctx.sessions() as s:
        searched = s.scalar(select(AuditEntryRow.at).where(AuditEntryRow.kind == "search.request"))
    assert searched is not None
    at = datetime.fromisoformat(searched)
    client = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    path = "/api/v1/reports/transparency"
    # A window of a minute around the search (the attack) is not a period a report covers.
    window = {
        "agency": AGENCY,
        "since": (at - timedelta(seconds=30)).isoformat(),
        "until": (at + timedelta(seconds=30)).isoformat(),
    }
    assert client.get(path, params=window).status_code == 422
    month = f"{at:%Y-%m}"
    # Nor is the month still under way (its figures would move with each search).
    assert client.get(path, params={"agency": AGENCY, "month": month}).status_code == 422
    first = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    after = (first + timedelta(days=32)).replace(day=1)
    with time_machine.travel(after + timedelta(hours=1), tick=False):
        answer = client.get(path, params={"agency": AGENCY, "month": month})
        page = client.get("/transparency", params={"scope": f"agency:{AGENCY}", "month": month})
        csv = client.get(path, params={"agency": AGENCY, "month": month, "format": "csv"})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["period_from"] == first.isoformat()
    assert report["period_to"] == after.isoformat()
    assert report["searches"] == "<5" and report["searchers"] == "<5"
    assert report["searches_by_offense"] == {"armed-robbery": "<5"}
    assert report["denials"] == 0  # nothing to hide in none
    assert "searches,,<5" in csv.text.splitlines()
    assert page.status_code == 200
    assert re.search(r"<td>Searches</td><td>fewer than 5</td>", page.text), page.text


def test_a_breakdown_hides_a_second_count_when_one_could_be_worked_out() -> None:
    from facetrail.services.oversight.reports import published, published_breakdown

    assert [published(n) for n in (0, 1, 4, 5, 120)] == [0, "<5", "<5", 5, 120]
    # Alone among shown counts, a hidden 2 is the total less the others: the smallest other
    # is withheld too.
    assert published_breakdown({"arson": 2, "robbery": 40, "theft": 7}) == {
        "arson": "<5",
        "robbery": 40,
        "theft": ">=5",
    }
    assert published_breakdown({"arson": 2, "theft": 3, "robbery": 40}) == {
        "arson": "<5",
        "theft": "<5",
        "robbery": 40,
    }
    assert published_breakdown({"robbery": 40, "none": 0}) == {"robbery": 40, "none": 0}


def test_a_hidden_count_is_pinned_down_only_where_all_is_withheld() -> None:
    """Every breakdown of three counts up to 8: a reader who knows the total and the rule
    lists every breakdown that would be published alike; a hidden count they can pin down
    is one whose breakdown has every count above 0 hidden or withheld already (a small total
    is then what gives it away)."""
    from facetrail.services.oversight.reports import FEWER_THAN_5, WITHHELD, published_breakdown

    def alike(shown: dict[str, object], total: int) -> list[tuple[int, ...]]:
        def fits(value: int, told: object) -> bool:
            if told == FEWER_THAN_5:
                return 0 < value < 5
            return value >= 5 if told == WITHHELD else value == told

        return [
            other
            for other in itertools.product(range(total + 1), repeat=3)
            if sum(other) == total and all(map(fits, other, shown.values()))
        ]

    for counts in itertools.product(range(9), repeat=3):
        shown = published_breakdown(dict(zip("abc", counts, strict=True)))
        readings = alike(shown, sum(counts))
        for i, told in enumerate(shown.values()):
            if told == FEWER_THAN_5 and len({r[i] for r in readings}) < 2:
                assert not any(isinstance(v, int) and v > 0 for v in shown.values()), shown


# --- 3b. metrics ----------------------------------------------------------------------------


def test_metrics_need_a_system_admins_token(county: tuple[Org, TestClient]) -> None:
    org, client = county

    def bearer(name: str) -> dict[str, str]:
        with org.ctx.transaction() as session:
            token, _ = add_token(
                session, org.people[name].user_id, "metrics", utc_now() + timedelta(hours=1)
            )
        return {"Authorization": f"Bearer {token}"}

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer("head")).status_code == 403
    assert _entries(org.ctx, "metrics.read.refused")
    allowed = client.get("/metrics", headers=bearer("root"))
    assert allowed.status_code == 200 and "facetrail_http_requests_total" in allowed.text


# --- 4. the API's documentation page --------------------------------------------------------


def test_the_api_docs_load_nothing_from_elsewhere(county: tuple[Org, TestClient]) -> None:
    _org, client = county
    docs = client.get("/docs")
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and docs.headers["x-frame-options"] == "DENY"
    assert not re.search(r"(src|href)=\"(https?:)?//", docs.text), docs.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", docs.text), "an inline script"
    assets = re.findall(r"(?:src|href)=\"(/[^\"]+)\"", docs.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].startswith(("text/javascript", "text/css", "image/"))
    # ReDoc would load its script from a CDN too: it is not served.
    assert client.get("/redoc").status_code == 404
