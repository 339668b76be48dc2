"""Two administrators' steps in a real browser (headless Debian chromium driven by Playwright)
at a phone's width, every page screenshotted, axe-checked and none scrolling sideways:

- an auditor, told in their inbox, confirms a relaxation of the agency's oversight that the
  head proposed, through the page that asks again and says what it will do;
- the agency's head sees a colleague's sign-ins from the person's page and revokes them all
  with a reason: the colleague's session stops working, the account stays active."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from facetrail.errors import TokenInvalidError
from facetrail.governance.alerts import RULES
from facetrail.governance.credentials import Role
from facetrail.services.oversight.policy import amend_policy, show_policy
from facetrail.services.signin import authentication
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import sign_in as sign_in_service
from tests.web.conftest import PHONE, Visits, look, sign_in

pytestmark = [needs_lfw, pytest.mark.one_backend]
Opener = Callable[..., Any]


def test_an_auditor_confirms_a_relaxation_from_the_inbox(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    head = web_world.org.people["head"]
    rules = show_policy(web_world.ctx, head, "county").policy
    rule = "pairs"  # a rule no other test of the shared world turns off or relies on
    assert rule in RULES and rules.alerts.enabled(rule)
    proposed = amend_policy(
        web_world.ctx,
        head,
        "county",
        {"alerts": {"disabled": [*rules.alerts.disabled, rule]}},
        f"the {rule} rule repeats what the digest says",
    )
    assert proposed.proposal is not None
    number = proposed.proposal.id

    aude = open_page(viewport=PHONE)
    sign_in(aude, web_world, "aude")
    aude.goto("/inbox")
    aude.locator(f'a[href="/agencies/county/policy#relaxation-{number}"]').first.click()
    card = aude.locator(f"#relaxation-{number}")
    expect(card).to_contain_text(f"alert rules turned off: {rule}")
    card.get_by_label("Your note").fill("agreed with the head: the digest covers it")
    card.get_by_role("button", name=f"Confirm relaxation {number}…").click()
    expect(
        aude.get_by_role("heading", name=f"Confirm relaxation {number} of county?")
    ).to_be_visible()
    look(visits, aude, "relaxation-confirm")
    assert rule not in show_policy(web_world.ctx, head, "county").policy.alerts.disabled
    aude.get_by_role("button", name=f"Yes, confirm relaxation {number}").click()
    expect(aude.get_by_role("status").first).to_contain_text("The relaxation is confirmed")
    look(visits, aude, "relaxation-confirmed")
    assert rule in show_policy(web_world.ctx, head, "county").policy.alerts.disabled


def test_the_head_revokes_a_colleagues_sign_ins(
    open_page: Opener, web_world: World, visits: Visits
) -> None:
    web_world.org.add("otis", "county", Role.INVESTIGATOR)
    theirs = sign_in_service(web_world.ctx, web_world.org.enrolments["otis"])
    head = open_page(viewport=PHONE)
    sign_in(head, web_world, "head")
    head.goto("/agency/people/otis")
    head.get_by_role("link", name="Sign-ins and tokens of otis").click()
    expect(head.get_by_role("heading", name="Sign-ins and API tokens of otis")).to_be_visible()
    look(visits, head, "access")
    head.get_by_label("Why").fill("otis reported the laptop stolen this morning")
    head.get_by_role("button", name="Revoke", exact=True).click()
    expect(head.get_by_role("status").first).to_contain_text("revoked")
    look(visits, head, "access-revoked")
    with pytest.raises(TokenInvalidError):
        authentication.authenticate(web_world.ctx, theirs.token)
