"""The agency policy's page without a browser: the head reads the rules in force and their
history, amends a few of them with a reason and sees plainly what each change relaxed; an
amendment changes only what the head changed; people who may not change it are refused with
the stable code (audited), and another agency's policy answers as not found."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from facetrail.governance.alerts import RULES
from facetrail.governance.policy import Policy
from facetrail.services.oversight import policy, policy_proposals
from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import csrf_in, is_error_page, last_kinds, last_seq

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]
_WAS = re.compile(r'name="was" value="([^"]+)"')


def _form(client: TestClient, agency: str = "county") -> tuple[str, str]:
    """The policy page's CSRF value and the hidden record of what its form showed."""
    page = client.get(f"/agencies/{agency}/policy").text
    was = _WAS.search(page)
    assert was is not None, "the page has no amendment form"
    return csrf_in(page), html.unescape(was.group(1))


def _amend(
    client: TestClient,
    world: World,
    changes: dict[str, str],
    *,
    reason: str = "more searches allowed during the festival",
    agency: str = "county",
    shown: tuple[str, str] | None = None,
    rules: Policy | None = None,
) -> Response:
    """The amendment form sent as the page fills it (from ``rules``, by default those in
    force), with ``changes``."""
    token, was = shown or _form(client, agency)
    rules = rules or _in_force(world).policy
    data: dict[str, str | list[str]] = {
        "csrf_token": token,
        "was": was,
        "galleries": list(rules.galleries),
        "approval": rules.approval.value,
        "approval_offenses": list(rules.approval_offenses),
        "second_reviewer": "yes" if rules.second_reviewer else "no",
        "min_justification": str(rules.min_justification),
        "daily_limit": str(rules.daily_limit),
        "probe_retention_days": str(rules.probe_retention_days),
        "digest": rules.digest,
        "alerts_on": [r for r in RULES if rules.alerts.enabled(r)],
        "crowd_faces": str(rules.crowd_faces),
        "crowd_probes": rules.crowd_probes,
        "reason": reason,
    }
    return client.post(f"/agencies/{agency}/policy", data=data | changes)


def _newest_version(page: str) -> str:
    """The history's first (newest) version, as the page shows it."""
    return page.split('<li class="card">', 2)[1]


def _in_force(world: World) -> policy.PolicyInfo:
    return policy.show_policy(world.ctx, world.org.people["head"], "county")


def test_the_head_reads_the_policy_and_its_history(web_world: World, client_of: Clients) -> None:
    head = client_of("head")
    own = head.get("/policy")
    assert own.status_code == 303 and own.headers["location"] == "/agencies/county/policy"
    page = head.get("/agencies/county/policy").text
    assert "Policy of county" in page and "Rules in force" in page
    assert "<dt>Galleries it may search</dt><dd>bookings</dd>" in page
    assert "Amend the policy" in page and "The first version." in page
    # One look, one entry: the versions and the relaxations waiting are read together.
    before = last_seq(web_world)
    head.get("/agencies/county/policy")
    with web_world.ctx.sessions() as s:
        after = s.scalars(
            select(AuditEntryRow.kind)
            .where(AuditEntryRow.seq > before, AuditEntryRow.kind != "row.seal")
            .order_by(AuditEntryRow.seq)
        ).all()
    assert after == ["auth.token.use", "policy.history"]  # the session's use, the one look


def test_a_relaxing_amendment_says_what_it_relaxed(web_world: World, client_of: Clients) -> None:
    head = client_of("head")
    before = _in_force(web_world)
    raised = before.policy.daily_limit + 5
    # Loosening asks first, saying what it allows; nothing changes until confirmed.
    asked = _amend(head, web_world, {"daily_limit": str(raised)})
    assert asked.status_code == 200 and "Relax the policy of county?" in asked.text
    assert f"<li>daily limit raised to {raised}</li>" in asked.text
    assert "It takes effect at once" in asked.text
    assert _in_force(web_world).version == before.version
    assert f'name="daily_limit" value="{raised}"' in asked.text  # carried to the next step
    sent = _amend(head, web_world, {"daily_limit": str(raised), "confirmed": "yes"})
    assert sent.status_code == 303 and last_kinds(web_world) == ["policy.change"]
    assert (
        sent.headers["location"] == f"/agencies/county/policy?amended={before.version + 1}#history"
    )
    page = head.get(sent.headers["location"]).text
    assert (
        f"Version {before.version + 1} is in force. It relaxed: daily limit raised to {raised}"
        in (page)
    )
    newest = _newest_version(page)
    assert "RELAXED" in newest and f"daily limit raised to {raised}" in newest
    assert f"{before.policy.daily_limit} → {raised}" in newest
    assert "more searches allowed during the festival" in newest
    after = _in_force(web_world)
    assert after.weakened == [f"daily limit raised to {raised}"]
    assert after.policy.galleries == before.policy.galleries  # the rest kept

    # Tightening relaxes nothing, and says so.
    shorter = before.policy.probe_retention_days - 5
    _amend(head, web_world, {"probe_retention_days": str(shorter)}, reason="keep probes less")
    newest = _newest_version(head.get("/policy", follow_redirects=True).text)
    assert "Nothing relaxed." in newest and "RELAXED" not in newest


def test_an_amendment_does_not_undo_one_made_meanwhile(
    web_world: World, client_of: Clients
) -> None:
    head = client_of("head")
    shown = _form(head)
    current = _in_force(web_world).policy
    # Someone else tightens the retention while the head's form is open...
    web_world.org.set_policy(probe_retention_days=current.probe_retention_days - 1)
    # ...the head changes only the daily limit, on the form as it was shown.
    sent = _amend(
        head,
        web_world,
        {"daily_limit": str(current.daily_limit - 1)},
        reason="fewer searches a day",
        shown=shown,
        rules=current,
    )
    assert sent.status_code == 303
    after = _in_force(web_world).policy
    assert after.daily_limit == current.daily_limit - 1
    assert after.probe_retention_days == current.probe_retention_days - 1  # not undone


def test_an_amendment_without_a_change_or_a_reason_is_shown_again(
    web_world: World, client_of: Clients
) -> None:
    head = client_of("head")
    unchanged = _amend(head, web_world, {})
    assert unchanged.status_code == 422 and is_error_page(unchanged.text, "invalid_request")
    assert "change at least one rule" in unchanged.text
    limit = _in_force(web_world).policy.daily_limit
    short = _amend(head, web_world, {"daily_limit": str(limit + 1)}, reason="because")
    assert short.status_code == 422 and is_error_page(short.text, "invalid_request")
    assert f'name="daily_limit" value="{limit + 1}"' in short.text  # kept as typed
    assert ">because</textarea>" in short.text and 'aria-invalid="true"' in short.text
    assert last_kinds(web_world, 2) == ["policy.change.refused", "policy.history"]
    number = _amend(head, web_world, {"daily_limit": "lots"})
    assert number.status_code == 422 and "a whole number" in number.text


def test_an_investigator_reads_the_policy_but_may_not_change_it(
    web_world: World, client_of: Clients
) -> None:
    ivy = client_of("ivy")
    page = ivy.get("/agencies/county/policy")
    assert page.status_code == 200 and "Rules in force" in page.text
    assert "Amend the policy" not in page.text
    head_form = _form(client_of("head"))
    answer = _amend(
        ivy, web_world, {"daily_limit": "999"}, shown=(csrf_in(page.text), head_form[1])
    )
    assert answer.status_code == 403 and is_error_page(answer.text, "permission_denied")
    assert last_kinds(web_world) == ["policy.change.refused"]


def test_another_agencys_policy_answers_as_not_found(web_world: World, client_of: Clients) -> None:
    head = client_of("head")
    answer = head.get("/agencies/other/policy")
    assert answer.status_code == 404 and is_error_page(answer.text, "not_found")
    assert "Rules in force" not in answer.text
    assert last_kinds(web_world) == ["policy.history.refused"]
    forged = _amend(head, web_world, {"daily_limit": "1"}, agency="other", shown=_form(head))
    assert forged.status_code == 404 and is_error_page(forged.text, "not_found")
    assert last_kinds(web_world) == ["policy.change.refused"]


def test_the_head_sets_the_digest_and_turns_an_alert_rule_off(
    web_world: World, client_of: Clients
) -> None:
    head = client_of("head")
    before = _in_force(web_world).policy
    on = [r for r in RULES if before.alerts.enabled(r) and r != "hours"]
    why = "night shift starts: hours would only raise noise"
    asked = _amend(head, web_world, {"digest": "daily", "alerts_on": on}, reason=why)  # type: ignore[dict-item]
    assert asked.status_code == 200 and "it is <strong>proposed</strong>" in asked.text
    assert "Yes, propose this change" in asked.text
    sent = _amend(
        head,
        web_world,
        {"digest": "daily", "alerts_on": on, "confirmed": "yes"},  # type: ignore[dict-item]
        reason=why,
    )
    assert sent.status_code == 303 and "?proposed=" in sent.headers["location"]
    # Turning a rule off relaxes the oversight: nothing changes until a second person agrees.
    waiting = head.get(sent.headers["location"]).text
    assert "waits for a second person outside your say-so" in waiting
    assert "hours" not in _in_force(web_world).policy.alerts.disabled
    number = int(sent.headers["location"].rsplit("=", 1)[1])
    policy_proposals.confirm_relaxation(
        web_world.ctx, web_world.org.admin, number, "the night shift needs it, agreed"
    )
    now = _in_force(web_world)
    assert now.policy.digest == "daily" and "hours" in now.policy.alerts.disabled
    assert now.weakened == ["alert rules turned off: hours"]
    page = head.get("/agencies/county/policy").text
    assert 'name="alerts_on" value="hours">' in page  # shown unticked
    assert 'name="digest" value="daily" required checked' in page


def test_a_relaxation_says_whether_it_waits_for_a_second_person(web_world: World) -> None:
    before = _in_force(web_world)
    off = {"alerts": {"disabled": [*before.policy.alerts.disabled, "volume"]}}
    why = "volume alerts only repeat the digest"
    head = policy.relaxations_of(web_world.ctx, web_world.org.people["head"], "county", off, why)
    assert head.oversight and head.second_person
    admin = policy.relaxations_of(web_world.ctx, web_world.org.admin, "county", off, why)
    assert admin.oversight and not admin.second_person  # a system admin's is in force at once
    tighter = {"daily_limit": before.policy.daily_limit - 1}
    assert (
        policy.relaxations_of(
            web_world.ctx, web_world.org.people["head"], "county", tighter, why
        ).relaxed
        == []
    )
    assert _in_force(web_world).version == before.version  # asking changed nothing


def test_a_second_person_confirms_or_refuses_a_relaxation_on_the_policy_page(
    web_world: World, client_of: Clients
) -> None:
    head, aude = client_of("head"), client_of("aude")

    def propose(rule: str) -> int:
        rules = _in_force(web_world).policy
        on = [r for r in RULES if rules.alerts.enabled(r) and r != rule]
        sent = _amend(
            head,
            web_world,
            {"alerts_on": on, "confirmed": "yes"},  # type: ignore[dict-item]
            reason=f"the {rule} rule only repeats the digest",
        )
        assert "?proposed=" in sent.headers["location"]
        return int(sent.headers["location"].rsplit("=", 1)[1])

    first = propose("trial")
    # The auditor is told, with a link to the page where it is decided (no command to type).
    inbox = aude.get("/inbox").text
    assert f'href="/agencies/county/policy#relaxation-{first}"' in inbox
    assert "facetrail policy" not in inbox
    page = aude.get("/agencies/county/policy").text
    assert (
        f"Relaxation {first}, proposed by head" in page and "alert rules turned off: trial" in page
    )
    assert f"Confirm relaxation {first}" in page
    assert f"Confirm relaxation {first}" not in client_of("ivy").get("/agencies/county/policy").text
    token = csrf_in(page)
    path = f"/agencies/county/policy/relaxations/{first}"
    short = aude.post(path, data={"csrf_token": token, "decision": "confirm", "note": "ok"})
    assert short.status_code == 422 and "10 characters or more" in short.text
    note = {"csrf_token": token, "decision": "confirm", "note": "trial accounts are gone, agreed"}
    asked = aude.post(path, data=note)
    assert asked.status_code == 200 and f"Confirm relaxation {first} of county?" in asked.text
    assert "trial" not in _in_force(web_world).policy.alerts.disabled  # not yet
    done = aude.post(path, data=note | {"confirmed": "yes"})
    assert done.status_code == 303 and done.headers["location"].endswith(
        "?relaxation=confirmed#history"
    )
    assert last_kinds(web_world) == ["policy.relaxation.decide"]
    assert "trial" in _in_force(web_world).policy.alerts.disabled

    second = propose("stale")
    path = f"/agencies/county/policy/relaxations/{second}"
    refused = aude.post(
        path, data={"csrf_token": token, "decision": "refuse", "note": "stale cases matter here"}
    )
    assert refused.status_code == 303 and "relaxation=refused" in refused.headers["location"]
    assert "stale" not in _in_force(web_world).policy.alerts.disabled
    # The proposer is never their own second person: refused, and recorded.
    third = propose("stale")
    own = head.post(
        f"/agencies/county/policy/relaxations/{third}",
        data={
            "csrf_token": csrf_in(head.get("/policy", follow_redirects=True).text),
            "decision": "refuse",
            "note": "changed my mind about it",
        },
    )
    assert own.status_code == 403 and last_kinds(web_world) == ["policy.relaxation.decide.refused"]
