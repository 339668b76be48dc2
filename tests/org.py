"""A small organisation for service tests: a system admin, an agency with a head, a supervisor
and two investigators, all signed in for real (argon2id password + TOTP)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import select

from facetrail.governance.credentials import Principal, Role, totp_now
from facetrail.governance.policy import ApprovalMode, Policy
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.oversight import policy as policy_service
from facetrail.services.oversight import policy_proposals
from facetrail.services.searching.search import ProbeImage, SearchRequest, SearchResult, search
from facetrail.services.signin import authentication as auth
from facetrail.services.signin import enrolment as enrolment_service
from facetrail.store.schema import OutboxEmail
from tests.mail import dropped_bodies, invite_in, invite_subject, received_bodies

PASSWORD = "correct horse battery"
AGENCY = "county"
CASE = "2026-000123"
OFFENSE = "armed-robbery"
JUSTIFICATION = "Bank robbery on 3 Main St; suspect photographed by the lobby camera."


#: secret -> the last time a code of it was presented (each code is accepted once)
_LAST_USED: dict[str, float] = {}


def next_code(secret: str, now: datetime | None = None) -> tuple[str, datetime]:
    """A code of ``secret`` not presented before, and the time to present it at: facetrail
    accepts each code once, so signing the same person in again steps the clock 30 s on."""
    at = now or datetime.now(UTC)
    last = _LAST_USED.get(secret)
    if now is None and last is not None and at.timestamp() < last + 30:
        at = datetime.fromtimestamp(last + 30, UTC)
    _LAST_USED[secret] = max(at.timestamp(), last or 0.0)
    return totp_now(secret, at=at.timestamp()), at


def sign_in(
    ctx: AppContext,
    enrolment: acc.Enrolment,
    *,
    password: str = PASSWORD,
    now: datetime | None = None,
) -> auth.LoginResult:
    """Password + a fresh TOTP code of an enrolled account."""
    assert enrolment.totp_secret is not None, f"{enrolment.username} has not enrolled"
    code, at = next_code(enrolment.totp_secret, now)
    return auth.login(ctx, enrolment.username, password, code, now=at)


def mailed_invite(ctx: AppContext, username: str) -> str | None:
    """The enrolment code mailed to ``username`` (None if none was): read as its owner reads
    it, from the mail still queued, the pickup folder or what the test SMTP server received."""
    subject = invite_subject(username)
    with ctx.sessions() as session:
        user = acc.user_by_name(session, username)
        rows = session.scalars(
            select(OutboxEmail.body)
            .where(OutboxEmail.recipient == user.email, OutboxEmail.subject == subject)
            .order_by(OutboxEmail.id.desc())
        ).all()
    if not rows:
        return None
    bodies = [rows[0], *dropped_bodies(ctx.settings.mail_dir, subject), *received_bodies(subject)]
    found = invite_in(bodies)
    assert found is not None, f"the enrolment code mailed to {username} was not found"
    return found


def enrol(
    ctx: AppContext,
    username: str,
    *,
    password: str = PASSWORD,
    now: datetime | None = None,
    invite: str | None = None,
) -> tuple[acc.Enrolment, auth.LoginResult]:
    """The owner's first sign-in: they are shown their second factor and confirm it with a
    code (signed in); an account set up by someone else gives the code mailed to its owner.
    Returns what they were shown and the session."""
    invite = invite or mailed_invite(ctx, username)
    shown = enrolment_service.begin_enrolment(ctx, username, password, invite=invite, now=now)
    assert shown.totp_secret is not None
    code, at = next_code(shown.totp_secret, now)
    return shown, enrolment_service.confirm_enrolment(ctx, username, password, code, now=at)


def enrolled(ctx: AppContext, granted: acc.Enrolment, *, password: str = PASSWORD) -> acc.Enrolment:
    """A granted account after its owner's self-enrolment: with the secret only they saw."""
    return enrol(ctx, granted.username, password=password)[0]


@dataclass
class Org:
    ctx: AppContext
    enrolments: dict[str, acc.Enrolment] = field(default_factory=dict)
    people: dict[str, Principal] = field(default_factory=dict)

    def login(self, name: str, *, now: datetime | None = None) -> Principal:
        """Signs ``name`` in; an account's first sign-in is its owner's self-enrolment."""
        e = self.enrolments[name]
        if e.totp_secret is None:
            self.enrolments[name], result = enrol(self.ctx, name, now=now)
        else:
            result = sign_in(self.ctx, e, now=now)
        self.people[name] = result.principal
        return result.principal

    @property
    def admin(self) -> Principal:
        return self.people["root"]

    def add(self, name: str, agency: str, *roles: Role, by: str = "root") -> Principal:
        self.enrolments[name] = acc.create_user(
            self.ctx,
            self.people[by],
            NewAccount(name, f"{name}@{agency}.example", PASSWORD, agency, roles),
        )
        return self.login(name)

    def set_policy(self, agency: str = AGENCY, *, by: str = "head", **changes: object) -> Policy:
        """A new version by ``by``; one that relaxes the oversight (alert rules, approvals)
        is confirmed by root, the second person it waits for."""
        current = policy_service.show_policy(self.ctx, self.people[by], agency).policy
        new = replace(current, **changes)  # type: ignore[arg-type]
        made = policy_service.set_policy(
            self.ctx, self.people[by], agency, new, "set up for the test"
        )
        if made.proposal is not None and made.proposal.status == "pending":
            policy_proposals.confirm_relaxation(
                self.ctx, self.admin, made.proposal.id, "confirmed for the test"
            )
        return new

    def search(
        self,
        galleries_: tuple[str, ...],
        probes: tuple[ProbeImage, ...],
        *,
        who: str = "ivy",
        **kw: object,
    ) -> SearchResult:
        values: dict[str, object] = {
            "case_number": CASE,
            "offense": OFFENSE,
            "justification": JUSTIFICATION,
            "attested": True,
        } | kw
        request = SearchRequest(
            requester=self.people[who],
            galleries=galleries_,
            probes=probes,
            **values,  # type: ignore[arg-type]
        )
        return search(self.ctx, request)


def make_county(ctx: AppContext) -> Org:
    """root (system admin, operators); county: head (agency head and supervisor), sam
    (supervisor)."""
    org = Org(ctx)
    org.enrolments["root"] = acc.init_system(
        ctx, NewAccount("root", "root@ops", PASSWORD, "operators")
    )
    org.login("root")
    acc.create_agency(ctx, org.admin, AGENCY)
    org.add("head", AGENCY, Role.AGENCY_HEAD, Role.SUPERVISOR)
    org.add("sam", AGENCY, Role.SUPERVISOR)
    return org


def make_org(ctx: AppContext) -> Org:
    """The county of ``make_county`` with ivy and ian (investigators) and gus (gallery admin)."""
    org = make_county(ctx)
    org.add("ivy", AGENCY, Role.INVESTIGATOR)
    org.add("ian", AGENCY, Role.INVESTIGATOR)
    org.add("gus", AGENCY, Role.GALLERY_ADMIN)
    return org


def open_searching(org: Org, *gallery_names: str) -> None:
    """The head lets the county search these galleries without prior approval."""
    org.set_policy(galleries=tuple(gallery_names), approval=ApprovalMode.NEVER)


def make_gallery(org: Org, name: str = "bookings", pack: str | None = None) -> None:
    galleries.create_gallery(org.ctx, org.people["gus"], galleries.CreateGalleryRequest(name, pack))
    galleries.add_source(
        org.ctx,
        org.people["gus"],
        galleries.CreateSourceRequest(
            name,
            "county",
            "booking photographs",
            "State Code 12-345",
            "County Sheriff",
            "2026-01-15",
            3650,
        ),
    )
