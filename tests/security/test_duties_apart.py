"""Duties stay apart (issue 21, section 3): a supervisor cannot make a second person of their
own, an account comes from a mailbox its agency gave out, a pair who approve and review for
each other stands out, and the overseen cannot switch their oversight off alone.

Each attack is tried as an insider would through the services the CLI, API and web call."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from facetrail.errors import (
    AuthError,
    EmailDomainError,
    NoEmailDomainError,
    PermissionDeniedError,
    StateError,
)
from facetrail.governance.alerts import AlertRules, SearchFact, evaluate
from facetrail.governance.credentials import Role
from facetrail.governance.policy import ApprovalMode
from facetrail.services import accounts as acc
from facetrail.services.accounts.account_approval import approve_account
from facetrail.services.accounts.agency_domains import register_domain
from facetrail.services.oversight import alerts
from facetrail.services.oversight import policy as policy_service
from facetrail.services.oversight import policy_proposals as proposals
from facetrail.services.oversight.reports import transparency_report
from facetrail.services.searching import review
from facetrail.services.searching.search import ProbeImage, decide_search
from facetrail.store.schema import AuditEntryRow, OutboxEmail, SearchCandidate
from tests.org import AGENCY, PASSWORD, Org, enrol

DOMAIN = "county.example"


def _request(org: Org, name: str, email: str | None = None) -> acc.Enrolment:
    """``name`` asks for an investigator account naming sam, as anyone may."""
    account = acc.NewAccount(name, email or f"{name}@{DOMAIN}", PASSWORD, AGENCY, supervisor="sam")
    org.enrolments[name] = acc.request_account(org.ctx, account)
    return org.enrolments[name]


def _kinds(org: Org, kind: str) -> list[AuditEntryRow]:
    with org.ctx.sessions() as session:
        query = select(AuditEntryRow).where(AuditEntryRow.kind == kind)
        return list(session.scalars(query.order_by(AuditEntryRow.seq)))


# -- sock puppets -------------------------------------------------------------------------------


def test_a_supervisor_alone_cannot_make_a_sock_puppet(org: Org) -> None:
    """Before: sam's one approval made sid active."""
    register_domain(org.ctx, org.people["head"], AGENCY, DOMAIN)
    _request(org, "sid")
    waiting = approve_account(org.ctx, org.people["sam"], "sid")
    assert waiting.status == "requested" and waiting.approvers == ("sam",)
    with pytest.raises(AuthError):  # nothing works yet, said as for a stranger
        enrol(org.ctx, "sid")
    with pytest.raises(StateError, match="approved it already"):  # not twice by one person
        approve_account(org.ctx, org.people["sam"], "sid")
    # Each approval is its own entry; the head hears of the one that waits.
    assert [e.actor for e in _kinds(org, "account.approval")] == ["sam"]
    assert not _kinds(org, "account.approve")
    # A second supervisor makes it active; the code to enrol goes to sid's agency mailbox.
    org.add("sue", AGENCY, Role.SUPERVISOR)
    done = approve_account(org.ctx, org.people["sue"], "sid")
    assert done.status == "active" and done.approvers == ("sam", "sue")
    with pytest.raises(AuthError):  # the password alone does not enrol: the mailed code does
        enrol(org.ctx, "sid", invite="0000-0000-0000-0000")
    with org.ctx.sessions() as session:
        sent = session.scalars(
            select(OutboxEmail.recipient).where(OutboxEmail.subject.contains("enrolment code"))
        ).all()
    assert f"sid@{DOMAIN}" in sent
    enrol(org.ctx, "sid")  # with the code from that mailbox


def test_the_agency_head_alone_approves_and_a_lapsed_approval_does_not_count(org: Org) -> None:
    register_domain(org.ctx, org.people["head"], AGENCY, DOMAIN)
    _request(org, "rae")
    assert approve_account(org.ctx, org.people["head"], "rae").status == "active"
    # sam approves tom, then is suspended: his approval no longer counts for anything.
    _request(org, "tom")
    approve_account(org.ctx, org.people["sam"], "tom")
    org.add("sue", AGENCY, Role.SUPERVISOR)
    acc.suspend_account(org.ctx, org.people["head"], "sam", "under investigation")
    assert approve_account(org.ctx, org.people["sue"], "tom").status == "requested"
    with pytest.raises(PermissionDeniedError):  # an investigator's approval is no approval
        approve_account(org.ctx, org.people["ivy"], "tom")


# -- e-mail domains -----------------------------------------------------------------------------


def test_an_email_off_the_agencys_domains_is_refused(org: Org) -> None:
    """Before: any address was accepted for any agency."""
    with pytest.raises(NoEmailDomainError, match="head must register one first"):
        _request(org, "sid")  # no domain registered: no requests at all
    refused = _kinds(org, "account.request.refused")
    assert refused and '"agency_has_no_email_domain"' in refused[-1].details
    with pytest.raises(PermissionDeniedError):  # a supervisor registers no domain
        register_domain(org.ctx, org.people["sam"], AGENCY, "sams-mail.example")
    register_domain(org.ctx, org.people["head"], AGENCY, "County.Example")  # stored lower case
    with pytest.raises(EmailDomainError):
        _request(org, "sid", "sid@gmail.example")
    with pytest.raises(EmailDomainError):  # a look-alike subdomain is another domain
        _request(org, "sid", f"sid@{DOMAIN}.evil.example")
    assert _request(org, "sid", f"sid@{DOMAIN.upper()}").status == "requested"
    # Once the agency has domains, accounts granted directly follow them too.
    with pytest.raises(EmailDomainError):
        acc.create_user(
            org.ctx,
            org.people["head"],
            acc.NewAccount("zed", "zed@home.example", PASSWORD, AGENCY),
        )


# -- colluding pairs ----------------------------------------------------------------------------


def _fact(search_id: int, user: str, approver: str, first: str, second: str) -> SearchFact:
    at = datetime(2026, 5, 1, 10, tzinfo=UTC) + timedelta(hours=search_id)
    return SearchFact(
        search_id, at, user, f"C-{search_id}", (f"p{search_id}",), approver=approver,
        second_reviews=((first, second),),
    )  # fmt: skip


def test_the_pairs_rule_finds_the_pair_and_leaves_colleagues_alone() -> None:
    now = datetime(2026, 5, 20, tzinfo=UTC)
    rules = AlertRules()
    colleagues = [
        _fact(i, user, sup, user, other)
        for i, (user, sup, other) in enumerate(
            [("ivy", "sam", "ian"), ("ian", "sue", "ivy"), ("ada", "sam", "ivy"),
             ("ivy", "sue", "ada"), ("ian", "sam", "ada"), ("ada", "sue", "ian")] * 2
        )
    ]  # fmt: skip
    assert not [f for f in evaluate(rules, colleagues, now) if f.rule == "pairs"]
    # sid asks, sam approves; sid reviews, sam second-reviews: eight times.
    puppet = [_fact(100 + i, "sid", "sam", "sid", "sam") for i in range(8)]
    found = [f for f in evaluate(rules, colleagues + puppet, now) if f.rule == "pairs"]
    assert [f.key.split(":")[1:3] for f in found] == [["sam", "sid"]]
    assert "16 times" in found[0].summary and set(found[0].searches) == {100 + i for i in range(8)}
    # In an agency with one supervisor everyone works with them alike: nothing stands out.
    one_sup = [_fact(i, f"inv{i % 4}", "sam", f"inv{i % 4}", "sam") for i in range(24)]
    assert not [f for f in evaluate(rules, one_sup, now) if f.rule == "pairs"]


def _approved_and_reviewed(
    org: Org, probe: tuple[ProbeImage, ...], who: str, approver: str, second: str
) -> int:
    pending = org.search(("bookings",), probe, who=who)
    decide_search(org.ctx, org.people[approver], pending.search_id, True, "justified, go on")
    with org.ctx.sessions() as session:
        candidate = session.scalars(
            select(SearchCandidate.id).where(SearchCandidate.search_id == pending.search_id)
        ).first()
    assert candidate is not None
    review.review_candidate(org.ctx, org.people[who], candidate, "possible_match", "same ears")
    review.review_candidate(org.ctx, org.people[second], candidate, "possible_match", "agreed")
    return pending.search_id


def test_a_colluding_pair_raises_an_alert_they_cannot_close(world) -> None:  # type: ignore[no-untyped-def]
    """Before: sam and sid searched, approved and reviewed for each other with no alert."""
    org, _, probe = world
    org.add("sid", AGENCY, Role.INVESTIGATOR)
    # Searches need approval again (a tightening: in force at once); the rule made keener.
    org.set_policy(approval=ApprovalMode.ALWAYS, alerts=AlertRules(pairs_min=2, pairs_factor=2.0))
    theirs = [_approved_and_reviewed(org, probe, "sid", "sam", "sam") for _ in range(2)]
    _approved_and_reviewed(org, probe, "ivy", "head", "ian")
    _approved_and_reviewed(org, probe, "ian", "head", "ivy")
    raised = alerts.run_alerts(org.ctx, org.people["head"], AGENCY)
    found = [a for a in alerts.list_alerts(org.ctx, org.people["head"]) if a.rule == "pairs"]
    assert len(found) == 1 and found[0].id in raised  # ivy and ian, reviewing twice, stay quiet
    assert "sam and sid" in found[0].summary and set(theirs) <= set(found[0].searches)
    # Neither of the pair handles it, even one who may handle the agency's alerts and is not
    # the person the alert names first.
    assert found[0].user == "sam"
    acc.set_roles(org.ctx, org.admin, "sid", (Role.INVESTIGATOR, Role.AUDITOR))
    with pytest.raises(PermissionDeniedError, match="about you"):
        alerts.close_alert(org.ctx, org.people["sid"], found[0].id, "nothing to see here")
    alerts.close_alert(org.ctx, org.people["head"], found[0].id, "talked to both, reassigned")


# -- oversight the overseen cannot switch off ---------------------------------------------------


def test_a_relaxation_waits_for_a_second_person_and_is_published(org: Org) -> None:
    """Before: the head turned rules off and approval down at once, told only herself."""
    ctx, head = org.ctx, org.people["head"]
    made = policy_service.amend_policy(
        ctx, head, AGENCY, {"alerts": {"disabled": ["pairs", "volume"]}}, "fewer alerts please"
    )
    assert made.proposal is not None and made.proposal.status == "pending"
    assert made.version == 1  # the policy in force is unchanged
    shown = policy_service.show_policy(ctx, head, AGENCY)
    assert shown.version == 1 and shown.policy.alerts.enabled("pairs")
    # Not the head herself, not a supervisor, not an auditor the head appointed.
    org.add("aud-by-head", AGENCY, Role.AUDITOR, by="head")
    for name in ("head", "sam", "aud-by-head"):
        with pytest.raises(PermissionDeniedError):
            proposals.confirm_relaxation(ctx, org.people[name], made.proposal.id, "looks fine")
    assert policy_service.show_policy(ctx, head, AGENCY).version == 1
    # An auditor the head did not appoint confirms it: now it is in force.
    org.add("audra", AGENCY, Role.AUDITOR)
    confirmed = proposals.confirm_relaxation(
        ctx, org.people["audra"], made.proposal.id, "reviewed the alert load with the head"
    )
    assert confirmed.status == "confirmed" and confirmed.version == 2
    assert not policy_service.show_policy(ctx, head, AGENCY).policy.alerts.enabled("pairs")
    # Relaxing approval waits too, and a refused one never takes effect.
    current = policy_service.show_policy(ctx, head, AGENCY).policy
    asked = policy_service.set_policy(
        ctx, head, AGENCY, replace(current, approval=ApprovalMode.NEVER), "no approvals"
    )
    assert asked.proposal is not None and asked.version == 2
    proposals.refuse_relaxation(ctx, org.admin, asked.proposal.id, "approval stays, by law")
    assert policy_service.show_policy(ctx, head, AGENCY).policy.approval is ApprovalMode.ALWAYS
    # Both are in the public report of the month, with their dates and who decided (a role).
    today = datetime.now(UTC)
    month = f"{today:%Y-%m}"
    later = (today.replace(day=1) + timedelta(days=32)).replace(day=2)
    report = transparency_report(ctx, agency=AGENCY, month=month, now=later)
    relaxed = report.oversight_relaxations
    assert [(r.status, r.decided_as) for r in relaxed] == [
        ("confirmed", "auditor"),
        ("refused", "system admin"),
    ]
    assert relaxed[0].proposed_on == relaxed[0].decided_on == f"{today:%Y-%m-%d}"
    assert "alert rules turned off: pairs, volume" in relaxed[0].relaxed
    assert any(figure == "oversight_relaxed" for figure, _, _ in report.rows())
