"""Who may grant which role, tried as a matrix (every granter role x every role x own / other
agency), and the takeovers an insider would try: a head minting a system admin, a head
stripping one, the last admin removed, an operator relaxing a member's policy, a request
asking for power, another agency's records confirming they exist, unaudited refusals."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from facetrail.config import Settings
from facetrail.errors import (
    AccountInactiveError,
    FacetrailError,
    NotFoundError,
    PermissionDeniedError,
)
from facetrail.governance.authority import AGENCY_ROLES, Actor, role_change_problem
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.policy import ApprovalMode
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.accounts.account_approval import approve_account
from facetrail.services.accounts.agency_domains import register_domain
from facetrail.services.context import AppContext
from facetrail.services.notifications import inbox
from facetrail.services.oversight import policy as policy_service
from facetrail.services.searching.search import ProbeImage, SearchRequest, search
from facetrail.store.schema import AuditEntryRow, SearchRecord, User, UserRole

PASSWORD = "correct horse battery"
ALL_ROLES = tuple(Role)


def _principal(ctx: AppContext, username: str) -> Principal:
    with ctx.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return acc.principal_of(session, user)


def _kinds(ctx: AppContext, kind: str) -> list[AuditEntryRow]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntryRow).where(AuditEntryRow.kind == kind).order_by(AuditEntryRow.seq)
            )
        )


def _roles(ctx: AppContext, username: str) -> set[str]:
    with ctx.sessions() as session:
        return set(
            session.scalars(
                select(UserRole.role)
                .join(User, User.id == UserRole.user_id)
                .where(User.username == username)
            )
        )


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    """root (system admin); agencies county and city; in county one person per role."""
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    acc.init_system(ctx, NewAccount("root", "root@ops", PASSWORD, "operators"))
    root = _principal(ctx, "root")
    acc.create_network(ctx, root, "metro")
    acc.create_agency(ctx, root, "county", network="metro")
    acc.create_agency(ctx, root, "city")
    acc.create_agency(ctx, root, "metro-ops", network="metro")
    for role in ALL_ROLES:
        agency = "metro-ops" if role is Role.NETWORK_OPERATOR else "county"
        acc.create_user(
            ctx, root, NewAccount(f"g-{role.value}", f"{role.value}@x", PASSWORD, agency, (role,))
        )
    register_domain(ctx, root, "county", "x")  # account requests come from its mail domain
    yield ctx
    ctx.close()


def _expected(granter: Role, role: Role, own: bool) -> bool:
    if granter is Role.SYSTEM_ADMIN:
        return True
    return granter is Role.AGENCY_HEAD and own and role in AGENCY_ROLES


def test_grant_matrix_every_granter_role_every_role_own_and_other_agency(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    outcomes: list[tuple[str, str, str, bool]] = []
    for n, (granter, role, own) in enumerate(
        itertools.product(ALL_ROLES, ALL_ROLES, (True, False))
    ):
        actor = _principal(ctx, f"g-{granter.value}")
        agency = "county" if own else "city"
        if granter is Role.NETWORK_OPERATOR:  # the operator's "own" is its network's member
            agency = "county" if own else "city"
        name = f"new{n}"
        allowed = _expected(granter, role, own and granter is not Role.NETWORK_OPERATOR)
        try:
            acc.create_user(ctx, actor, NewAccount(name, f"{name}@x", PASSWORD, agency, (role,)))
            created = True
        except (PermissionDeniedError, NotFoundError):
            created = False
        outcomes.append((granter.value, role.value, agency, created))
        assert created == allowed, (granter, role, agency)
        assert (_roles(ctx, name) == {role.value}) == allowed
    refused = {e.subject for e in _kinds(ctx, "account.create.refused")}
    assert refused == {f"new{n}" for n, o in enumerate(outcomes) if not o[3]}
    # The matrix is not vacuous: both answers occur, and a head's platform grants are refused.
    assert any(o[3] for o in outcomes) and not all(o[3] for o in outcomes)
    assert ("agency_head", "system_admin", "county", False) in outcomes


def test_role_changes_follow_the_same_rules(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    root, head = _principal(ctx, "root"), _principal(ctx, "g-agency_head")
    inv = "g-investigator"
    for role in ALL_ROLES:
        actor_name = f"g-{role.value}"
        if actor_name == inv:
            continue
        actor = _principal(ctx, actor_name)
        for target in AGENCY_ROLES | {Role.SYSTEM_ADMIN, Role.NETWORK_OPERATOR}:
            new = (Role.INVESTIGATOR, target)
            allowed = role is Role.SYSTEM_ADMIN or (
                role is Role.AGENCY_HEAD and target in AGENCY_ROLES
            )
            try:
                acc.set_roles(ctx, actor, inv, new)
                acc.set_roles(ctx, root, inv, (Role.INVESTIGATOR,))  # back again
                changed = True
            except (PermissionDeniedError, NotFoundError):
                changed = False
            assert changed == allowed, (role, target)
    # A head can neither strip a platform role from someone of their agency...
    with pytest.raises(PermissionDeniedError, match="system admin"):
        acc.set_roles(ctx, head, "g-system_admin", (Role.INVESTIGATOR,))
    assert _roles(ctx, "g-system_admin") == {"system_admin"}
    # ...nor change their own.
    with pytest.raises(PermissionDeniedError, match="own"):
        acc.set_roles(ctx, head, "g-agency_head", (Role.AGENCY_HEAD, Role.SUPERVISOR))
    assert len(_kinds(ctx, "account.roles.refused")) >= 3


def test_the_last_system_admin_keeps_the_role_and_cannot_be_suspended(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    root, other = _principal(ctx, "root"), _principal(ctx, "g-system_admin")
    acc.set_roles(ctx, other, "root", (Role.INVESTIGATOR,))  # two admins: one may go
    assert _roles(ctx, "root") == {"investigator"}
    with pytest.raises(PermissionDeniedError, match="own"):
        acc.set_roles(ctx, other, "g-system_admin", (Role.INVESTIGATOR,))
    acc.set_roles(ctx, other, "root", (Role.SYSTEM_ADMIN,))
    root = _principal(ctx, "root")
    acc.suspend_account(ctx, root, "g-system_admin", "left the service")
    # root is now the only active admin: it cannot drop the role or suspend itself, and a
    # suspended admin can no longer act at all.
    with pytest.raises(PermissionDeniedError):
        acc.set_roles(ctx, root, "root", (Role.INVESTIGATOR,))
    with pytest.raises(PermissionDeniedError):
        acc.suspend_account(ctx, root, "root", "self")
    with pytest.raises(AccountInactiveError):
        acc.set_roles(ctx, _principal(ctx, "g-system_admin"), "root", (Role.INVESTIGATOR,))
    assert _roles(ctx, "root") == {"system_admin"}
    # The rule itself, for a path where no other active admin would remain.
    actor = Actor(1, 1, frozenset({"system_admin"}))
    problem = role_change_problem(
        actor, 2, 1, ["system_admin"], ["investigator"], other_active_admins=0
    )
    assert problem is not None and "last active system admin" in problem


def test_head_cannot_suspend_a_platform_role_holder(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    head = _principal(ctx, "g-agency_head")
    with pytest.raises(PermissionDeniedError):
        acc.suspend_account(ctx, head, "g-system_admin", "takeover")
    assert _kinds(ctx, "account.suspend.refused")


def test_a_request_cannot_ask_for_power(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    for role in (Role.SYSTEM_ADMIN, Role.NETWORK_OPERATOR, Role.AGENCY_HEAD, Role.GALLERY_ADMIN):
        with pytest.raises(PermissionDeniedError):
            acc.request_account(
                ctx,
                NewAccount(
                    f"r-{role.value}", "r@x", PASSWORD, "county", (role,), supervisor="g-supervisor"
                ),
            )
    assert len(_kinds(ctx, "account.request.refused")) == 4
    # An auditor may be requested, but a supervisor cannot grant it by approving.
    acc.request_account(
        ctx,
        NewAccount("r-aud", "r@x", PASSWORD, "county", (Role.AUDITOR,), supervisor="g-supervisor"),
    )
    with pytest.raises(PermissionDeniedError, match="head"):
        approve_account(ctx, _principal(ctx, "g-supervisor"), "r-aud")
    approve_account(ctx, _principal(ctx, "g-agency_head"), "r-aud")


def test_request_reaches_the_named_supervisor_and_headless_agencies_reach_admins(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    acc.request_account(
        ctx, NewAccount("ivy", "ivy@x", PASSWORD, "county", supervisor="g-supervisor")
    )
    sup = _principal(ctx, "g-supervisor")
    assert [m.subject for m in inbox(ctx, sup.user_id)] == ["account request: ivy"]
    # The county's head loses the role: they stop hearing about the county.
    root = _principal(ctx, "root")
    head = _principal(ctx, "g-agency_head")
    acc.set_roles(ctx, root, "g-agency_head", (Role.SUPERVISOR,))
    before = len(inbox(ctx, head.user_id))
    acc.create_user(ctx, root, NewAccount("late", "l@x", PASSWORD, "county", (Role.INVESTIGATOR,)))
    assert len(inbox(ctx, head.user_id)) == before
    # With no head at all, the system admins are told, flagged.
    flagged = [m.subject for m in inbox(ctx, root.user_id) if m.subject.startswith("NO HEAD")]
    assert any("account granted: late" in s for s in flagged)


def test_operator_may_tighten_but_not_relax_a_members_policy(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    nora = _principal(ctx, "g-network_operator")
    head = _principal(ctx, "g-agency_head")
    current = policy_service.show_policy(ctx, nora, "county").policy
    with pytest.raises(PermissionDeniedError, match="head"):
        policy_service.set_policy(
            ctx, nora, "county", replace(current, approval=ApprovalMode.NEVER), "operator relaxes"
        )
    assert policy_service.show_policy(ctx, head, "county").version == 1
    tighter = replace(current, daily_limit=max(1, current.daily_limit - 1))
    policy_service.set_policy(ctx, nora, "county", tighter, "operator tightens the limit")
    policy_service.set_policy(
        ctx, head, "county", replace(tighter, daily_limit=current.daily_limit), "head relaxes it"
    )
    assert policy_service.show_policy(ctx, head, "county").version == 3
    assert _kinds(ctx, "policy.change.refused")


def test_other_agencies_answer_not_found_and_every_refusal_is_audited(world) -> None:  # type: ignore[no-untyped-def]
    ctx: AppContext = world
    city_head = _principal(ctx, "g-agency_head")  # county's head, looking at city
    with pytest.raises(NotFoundError):
        policy_service.show_policy(ctx, city_head, "city")
    with pytest.raises(NotFoundError):
        policy_service.policy_history(ctx, city_head, "city")
    with pytest.raises(NotFoundError):  # same answer as for an agency that does not exist
        policy_service.policy_history(ctx, city_head, "atlantis")
    acc.create_user(
        ctx,
        _principal(ctx, "root"),
        NewAccount("cinv", "c@x", PASSWORD, "city", (Role.INVESTIGATOR,)),
    )
    sup = _principal(ctx, "g-supervisor")
    for call in (
        lambda: acc.suspend_account(ctx, sup, "cinv", "not mine"),
        lambda: approve_account(ctx, sup, "cinv"),
    ):
        with pytest.raises(FacetrailError) as caught:
            call()
        assert isinstance(caught.value, NotFoundError)
    refused = [e.kind for e in _all(ctx) if e.kind.endswith(".refused")]
    for kind in (
        "policy.show.refused",
        "policy.history.refused",
        "account.suspend.refused",
        "account.approve.refused",
    ):
        assert kind in refused


def _all(ctx: AppContext) -> list[AuditEntryRow]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq)))


def test_an_edited_policy_row_is_refused_not_acted_on(world) -> None:  # type: ignore[no-untyped-def]
    """An insider widens the county's policy in the database (a gallery it never allowed):
    the next policy read refuses the row, typed, and nothing acts on it."""
    from facetrail.errors import RecordMismatchError
    from facetrail.governance.policy import Policy
    from facetrail.store.schema import PolicyVersion

    ctx: AppContext = world
    head = _principal(ctx, "g-agency_head")
    assert policy_service.show_policy(ctx, head, "county").version == 1
    with ctx.transaction() as session:
        row = session.scalars(
            select(PolicyVersion).where(PolicyVersion.agency_id == head.agency_id)
        ).one()
        row.body = replace(Policy.from_json(row.body), galleries=("everyone",)).to_json()
    investigator = _principal(ctx, "g-investigator")
    request = SearchRequest(
        investigator,
        "2026-000123",
        "armed-robbery",
        "Bank robbery on 3 Main St; suspect photographed by the lobby camera.",
        ("everyone",),
        (ProbeImage("p.jpg", b"not read"),),
        attested=True,
    )
    with pytest.raises(RecordMismatchError):
        search(ctx, request)
    with pytest.raises(RecordMismatchError):
        policy_service.show_policy(ctx, head, "county")
    assert _kinds(ctx, "search.refused")[0].details.count("record_tampered") == 1
    with ctx.sessions() as session:
        assert session.scalar(select(SearchRecord.id)) is None


def test_what_someone_may_do_is_decided_when_they_act_not_when_they_signed_in(world) -> None:  # type: ignore[no-untyped-def]
    """A gallery admin signs in; their role is taken away, or their account suspended, while
    they are signed in: the next thing they do is refused and audited, for actions
    (``authorization.acting``: re-read under the action's lock) and for the checks made
    before one (``require``: re-read too). Seen failing on 7b69e17: the gallery was created,
    and the index check ran, on the role as signed in."""
    from facetrail.services.galleries import admin as galleries
    from facetrail.services.galleries import indexing

    ctx: AppContext = world
    root = _principal(ctx, "root")
    gus = _principal(ctx, "g-gallery_admin")  # as signed in, with the role
    galleries.create_gallery(ctx, gus, galleries.CreateGalleryRequest("bookings"))
    acc.set_roles(ctx, root, "g-gallery_admin", (Role.INVESTIGATOR,))
    with pytest.raises(PermissionDeniedError):
        galleries.create_gallery(ctx, gus, galleries.CreateGalleryRequest("later"))
    with pytest.raises(PermissionDeniedError):
        indexing.check_index_for(ctx, gus, "bookings")
    acc.set_roles(ctx, root, "g-gallery_admin", (Role.GALLERY_ADMIN,))
    acc.suspend_account(ctx, root, "g-gallery_admin", "under investigation")
    with pytest.raises(AccountInactiveError):
        galleries.create_gallery(ctx, gus, galleries.CreateGalleryRequest("later"))
    refused = [e.subject for e in _kinds(ctx, "gallery.create.refused")]
    assert refused == ["later", "later"]
    assert [e.subject for e in _kinds(ctx, "index.check.refused")] == ["bookings"]
