"""Looking the organisation up: an agency's people are seen by those who oversee them, another
agency's answer as not found, agencies and networks by scope, tokens by their owner alone
(never more of one than the id its audit entries carry), and every look and every refusal is
an audit entry."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from facetrail.errors import NotFoundError, PermissionDeniedError
from facetrail.governance.credentials import Role, secret_hash
from facetrail.services import accounts as acc
from facetrail.services.accounts import directory
from facetrail.services.signin import authentication as auth
from facetrail.services.views import plain
from facetrail.store.schema import AuditEntryRow
from tests.org import AGENCY, Org, sign_in


def _last(org: Org) -> tuple[str, str, dict[str, object]]:
    with org.ctx.sessions() as s:
        row = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).first()
        assert row is not None
        return row.kind, row.subject, json.loads(row.details)


def test_an_agencys_people_are_listed_by_those_who_oversee_them(org: Org) -> None:
    people = directory.list_accounts(org.ctx, org.people["head"])
    assert [p.username for p in people] == ["gus", "head", "ian", "ivy", "sam"]
    assert all(p.agency == AGENCY and p.approved_by == "root" for p in people)
    ivy = next(p for p in people if p.username == "ivy")
    assert ivy.roles == ["investigator"] and ivy.status == "active" and ivy.second_factor
    assert _last(org) == ("account.list", AGENCY, {"shown": [p.username for p in people]})
    assert directory.list_accounts(org.ctx, org.people["sam"]) == people  # a supervisor too

    everyone = directory.list_accounts(org.ctx, org.admin)
    assert {p.username for p in everyone} == {"root", "gus", "head", "ian", "ivy", "sam"}
    assert directory.list_accounts(org.ctx, org.admin, "operators") == [
        p for p in everyone if p.username == "root"
    ]

    with pytest.raises(PermissionDeniedError):
        directory.list_accounts(org.ctx, org.people["ivy"])
    kind, _, details = _last(org)
    assert kind == "account.list.refused" and details["code"] == "permission_denied"
    with pytest.raises(NotFoundError, match="no such agency"):
        directory.list_accounts(org.ctx, org.people["head"], "operators")
    assert _last(org)[:2] == ("account.list.refused", "operators")


def test_another_agencys_account_answers_as_not_found(org: Org) -> None:
    acc.create_agency(org.ctx, org.admin, "other")
    org.add("otto", "other", Role.AGENCY_HEAD)
    assert directory.show_account(org.ctx, org.people["ivy"], "ivy").username == "ivy"
    assert directory.show_account(org.ctx, org.people["head"], "ivy").roles == ["investigator"]
    assert _last(org)[:2] == ("account.view", "ivy")
    with pytest.raises(PermissionDeniedError):
        directory.show_account(org.ctx, org.people["ivy"], "ian")  # a colleague, not overseen
    for name in ("otto", "nobody"):  # another agency's and a missing one read the same
        with pytest.raises(NotFoundError, match="no such user"):
            directory.show_account(org.ctx, org.people["head"], name)
        kind, subject, details = _last(org)
        assert (kind, subject, details["code"]) == ("account.view.refused", name, "not_found")
    assert directory.show_account(org.ctx, org.admin, "otto").agency == "other"
    assert "otto" not in {p.username for p in directory.list_accounts(org.ctx, org.people["head"])}


def test_agencies_and_networks_are_seen_by_scope(org: Org) -> None:
    acc.create_network(org.ctx, org.admin, "region")
    acc.create_agency(org.ctx, org.admin, "north", network="region")
    acc.create_agency(org.ctx, org.admin, "south", network="region")
    org.add("nora", "north", Role.NETWORK_OPERATOR)
    org.add("sid", "south", Role.INVESTIGATOR)

    assert [a.name for a in directory.list_agencies(org.ctx, org.people["nora"])] == [
        "north",
        "south",
    ]
    assert [plain(n) for n in directory.list_networks(org.ctx, org.people["nora"])] == [
        {"name": "region", "agencies": ["north", "south"]}
    ]
    assert [a.name for a in directory.list_agencies(org.ctx, org.people["sid"])] == ["south"]
    assert [n.agencies for n in directory.list_networks(org.ctx, org.people["sid"])] == [["south"]]
    (county,) = directory.list_agencies(org.ctx, org.people["ivy"])
    assert (county.name, county.network, county.accounts, county.heads) == (
        AGENCY,
        None,
        5,
        ["head"],
    )
    assert county.policy_version == 1
    assert directory.list_networks(org.ctx, org.people["ivy"]) == []
    assert _last(org) == ("network.list", "networks", {"shown": []})
    every = [a.name for a in directory.list_agencies(org.ctx, org.admin)]
    assert every == sorted([AGENCY, "north", "operators", "south"])


def test_tokens_are_listed_to_their_owner_by_name_and_id_only(org: Org) -> None:
    session = sign_in(org.ctx, org.enrolments["ivy"])
    digest = secret_hash(session.token)
    mine = directory.list_tokens(org.ctx, org.people["ivy"])
    assert digest[:12] in {t.id for t in mine} and {t.name for t in mine} == {"session"}
    assert all(t.active and t.revoked_at is None for t in mine)
    text = json.dumps(plain(mine))
    assert digest not in text and session.token not in text
    assert _last(org) == ("auth.token.list", "ivy", {"shown": [t.id for t in mine]})

    auth.revoke_token(org.ctx, org.people["ivy"], session.token)
    assert digest[:12] not in {t.id for t in directory.list_tokens(org.ctx, org.people["ivy"])}
    every = directory.list_tokens(org.ctx, org.people["ivy"], include_inactive=True)
    revoked = next(t for t in every if t.id == digest[:12])
    assert revoked.revoked_at is not None and not revoked.active
    theirs = {
        t.id for t in directory.list_tokens(org.ctx, org.people["sam"], include_inactive=True)
    }
    assert digest[:12] not in theirs  # nobody lists another person's tokens
