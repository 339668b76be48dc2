"""Another person's sign-ins seen and revoked by those who may suspend them: ids and names only,
one or all revoked with a reason they and their head are told, the account left active, and
every look, revocation and refusal an audit entry."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from facetrail.errors import (
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    TokenInvalidError,
)
from facetrail.governance.credentials import Role, secret_hash
from facetrail.services import accounts as acc
from facetrail.services.accounts import directory
from facetrail.services.notifications import inbox
from facetrail.services.signin import access
from facetrail.services.signin import authentication as auth
from facetrail.services.views import plain
from facetrail.store.schema import AuditEntryRow
from tests.org import Org, sign_in

REASON = "laptop reported stolen at 09:40"


def _last(org: Org) -> tuple[str, str, dict[str, object]]:
    with org.ctx.sessions() as s:
        query = select(AuditEntryRow).where(AuditEntryRow.kind != "row.seal")
        row = s.scalars(query.order_by(AuditEntryRow.seq.desc())).first()
        assert row is not None
        return row.kind, row.subject, json.loads(row.details)


def test_a_supervisor_revokes_one_sign_in_then_all_and_the_account_stays(org: Org) -> None:
    first = sign_in(org.ctx, org.enrolments["ivy"])
    second = sign_in(org.ctx, org.enrolments["ivy"])
    one, two = (secret_hash(s.token)[:12] for s in (first, second))

    seen = access.tokens_of(org.ctx, org.people["sam"], "ivy")
    assert {one, two} <= {t.id for t in seen}
    text = json.dumps(plain(seen))
    assert first.token not in text and secret_hash(first.token) not in text
    assert _last(org) == ("auth.token.list", "ivy", {"of": "ivy", "shown": [t.id for t in seen]})

    assert access.revoke_access(org.ctx, org.people["sam"], "ivy", REASON, one) == [one]
    kind, subject, details = _last(org)
    assert (kind, subject, details) == (
        "auth.token.revoke",
        "ivy",
        {"of": "ivy", "tokens": [one], "reason": REASON},
    )
    with pytest.raises(TokenInvalidError):
        auth.authenticate(org.ctx, first.token)
    assert auth.authenticate(org.ctx, second.token).username == "ivy"  # the other still works

    rest = access.revoke_access(org.ctx, org.people["head"], "ivy", REASON)
    assert two in rest and one not in rest
    with pytest.raises(TokenInvalidError):
        auth.authenticate(org.ctx, second.token)
    assert directory.show_account(org.ctx, org.people["head"], "ivy").status == "active"
    assert org.login("ivy").username == "ivy"  # signs in again

    told = [m.subject for m in inbox(org.ctx, org.people["ivy"].user_id)]
    assert told.count("your sign-ins were revoked") == 2
    heads = [m.body for m in inbox(org.ctx, org.people["head"].user_id)]
    assert any(REASON in b and "sam revoked 1 of ivy's" in b for b in heads)


def test_who_may_not_is_refused_and_recorded(org: Org) -> None:
    acc.create_agency(org.ctx, org.admin, "other")
    org.add("otto", "other", Role.AGENCY_HEAD)
    for who, name, error in (
        ("ian", "ivy", PermissionDeniedError),  # a colleague without the say
        ("gus", "ivy", PermissionDeniedError),  # a gallery admin neither
        ("sam", "sam", PermissionDeniedError),  # one's own are on one's tokens page
        ("otto", "ivy", NotFoundError),  # another agency's people read as not found
        ("head", "root", NotFoundError),
    ):
        with pytest.raises(error):
            access.tokens_of(org.ctx, org.people[who], name)
        assert _last(org)[0] == "auth.token.list.refused", (who, name)
        with pytest.raises(error):
            access.revoke_access(org.ctx, org.people[who], name, REASON)
        assert _last(org)[0] == "auth.token.revoke.refused", (who, name)
    assert access.tokens_of(org.ctx, org.admin, "ivy")  # a system admin, any agency


def test_a_short_reason_or_an_unknown_token_changes_nothing(org: Org) -> None:
    ivy = sign_in(org.ctx, org.enrolments["ivy"])
    with pytest.raises(InvalidRequestError, match="reason"):
        access.revoke_access(org.ctx, org.people["sam"], "ivy", "lost")
    with pytest.raises(NotFoundError, match="no such working token"):
        access.revoke_access(org.ctx, org.people["sam"], "ivy", REASON, "0" * 12)
    with pytest.raises(NotFoundError, match="no such working token"):
        access.revoke_access(org.ctx, org.people["sam"], "ivy", REASON, "a")  # too short to name
    assert _last(org)[0] == "auth.token.revoke.refused"
    assert auth.authenticate(org.ctx, ivy.token).username == "ivy"
    access.revoke_access(org.ctx, org.people["sam"], "ivy", REASON)
    with pytest.raises(NotFoundError, match="no working token"):
        access.revoke_access(org.ctx, org.people["sam"], "ivy", REASON)
