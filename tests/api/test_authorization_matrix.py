"""Every API route x every role x own agency / another agency.

- Nothing of another agency is ever returned or changed: a person of the 'other' agency
  asking for the county's searches, candidates, case, accounts or policy is refused (403 or
  404, never a success nor a state error that would show the thing exists), the answer holds
  none of the county's data, and the county's records are the same afterwards.
- Every refusal (401, 403, 404, 409) is an audit entry, as the CLI's are.
- Within the county, the routes that need a role refuse everyone else.
The list of routes is read from the OpenAPI schema, so a new route must be added here."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from facetrail.governance.credentials import Role
from facetrail.services.authorization import utc_now
from facetrail.services.oversight import alerts
from facetrail.services.signin.authentication import add_token
from facetrail.store.schema import (
    AuditEntryRow,
    PolicyVersion,
    Review,
    SearchCandidate,
    SearchRecord,
    User,
    UserRole,
)
from tests.api.conftest import World, made_world
from tests.conftest import needs_lfw
from tests.org import CASE, JUSTIFICATION, OFFENSE, PASSWORD

pytestmark = needs_lfw

#: role -> (county person, other-agency person); system admins act across agencies by design
PEOPLE: dict[Role, tuple[str, str]] = {
    Role.INVESTIGATOR: ("ivy", "olga"),
    Role.SUPERVISOR: ("sam", "ozzy"),
    Role.AGENCY_HEAD: ("head", "otto"),
    Role.AUDITOR: ("aud", "oda"),
    Role.GALLERY_ADMIN: ("gus", "oga"),
    Role.NETWORK_OPERATOR: ("nate", "onno"),
    Role.SYSTEM_ADMIN: ("root", "root"),
}
REFUSED = (401, 403, 404, 409)
#: a new kind for each edit of the matrix source, so that an allowed edit changes something
_EDITS = itertools.count()


@dataclass
class Target:
    search_id: int
    candidate_id: int
    #: an open alert of the county (the same probe searched under two case numbers)
    alert_id: int


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    data: dict[str, Any] | None = None
    #: False: the route touches nothing of an agency (one's own inbox, public checkpoints...)
    county_scoped: bool = True
    #: no bearer token: the route is how one gets one (wrong credentials are sent), or public
    anonymous: bool = False
    #: public by design (transparency reports): agencies are named, no person ever is
    public: bool = False


def _calls(world: World, t: Target, probe: bytes) -> dict[tuple[str, str], Callable[[], Call]]:
    s, c = t.search_id, t.candidate_id
    upload = [("probes", ("probe.jpg", probe, "image/jpeg"))]
    search_form = {
        "case_number": CASE,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": ["bookings"],
    }
    wrong = {"username": "ian", "password": "not the password"}
    reason = {"reason": "checking the authorisation matrix"}
    return {
        ("post", "/api/v1/session"): lambda: Call(
            "POST", "/api/v1/session", {**wrong, "code": "000000"}, anonymous=True
        ),
        ("delete", "/api/v1/session"): lambda: Call(
            "DELETE", "/api/v1/session", county_scoped=False
        ),
        ("get", "/api/v1/me"): lambda: Call("GET", "/api/v1/me", county_scoped=False),
        ("get", "/api/v1/inbox"): lambda: Call("GET", "/api/v1/inbox", county_scoped=False),
        ("post", "/api/v1/tokens"): lambda: Call(
            "POST",
            "/api/v1/tokens",
            {"name": "matrix", "password": "wrong", "code": "000000"},
            county_scoped=False,
        ),
        ("post", "/api/v1/tokens/revoke"): lambda: Call(
            "POST", "/api/v1/tokens/revoke", {"token": "ft_nosuchtoken"}, county_scoped=False
        ),
        ("post", "/api/v1/networks"): lambda: Call(
            "POST", "/api/v1/networks", {"name": "matrix-net"}, county_scoped=False
        ),
        ("post", "/api/v1/agencies"): lambda: Call(
            "POST", "/api/v1/agencies", {"name": "matrix-agency"}, county_scoped=False
        ),
        ("post", "/api/v1/accounts"): lambda: Call(
            "POST",
            "/api/v1/accounts",
            {
                "username": "matrix-person",
                "email": "m@county.example",
                "password": PASSWORD,
                "agency": "county",
                "roles": ["investigator"],
            },
        ),
        ("post", "/api/v1/account-requests"): lambda: Call(
            "POST",
            "/api/v1/account-requests",
            {
                "username": "asker",
                "email": "a@county.example",
                "password": "short",
                "agency": "county",
                "supervisor": "sam",
            },
            anonymous=True,
        ),
        ("post", "/api/v1/accounts/{username}/approval"): lambda: Call(
            "POST", "/api/v1/accounts/ian/approval"
        ),
        ("put", "/api/v1/accounts/{username}/roles"): lambda: Call(
            "PUT", "/api/v1/accounts/ian/roles", {"roles": ["investigator", "supervisor"]}
        ),
        ("post", "/api/v1/accounts/{username}/suspension"): lambda: Call(
            "POST", "/api/v1/accounts/ian/suspension", reason
        ),
        ("get", "/api/v1/accounts/{username}/tokens"): lambda: Call(
            "GET", "/api/v1/accounts/ian/tokens"
        ),
        ("post", "/api/v1/accounts/{username}/tokens/revoke"): lambda: Call(
            "POST", "/api/v1/accounts/ian/tokens/revoke", reason
        ),
        ("post", "/api/v1/accounts/{username}/reinstatement"): lambda: Call(
            "POST", "/api/v1/accounts/ian/reinstatement", reason
        ),
        ("post", "/api/v1/accounts/{username}/password-reset"): lambda: Call(
            "POST", "/api/v1/accounts/ian/password-reset", reason
        ),
        ("post", "/api/v1/accounts/{username}/second-factor-reset"): lambda: Call(
            "POST", "/api/v1/accounts/ian/second-factor-reset", reason
        ),
        ("post", "/api/v1/password"): lambda: Call(
            "POST",
            "/api/v1/password",
            {**wrong, "code": "000000", "new_password": "a much longer new password"},
            anonymous=True,
        ),
        ("post", "/api/v1/enrolment"): lambda: Call(
            "POST", "/api/v1/enrolment", wrong, anonymous=True
        ),
        ("post", "/api/v1/enrolment/confirmation"): lambda: Call(
            "POST", "/api/v1/enrolment/confirmation", {**wrong, "code": "000000"}, anonymous=True
        ),
        ("get", "/api/v1/accounts"): lambda: Call("GET", "/api/v1/accounts?agency=county"),
        ("get", "/api/v1/accounts/{username}"): lambda: Call("GET", "/api/v1/accounts/ian"),
        ("get", "/api/v1/agencies"): lambda: Call("GET", "/api/v1/agencies", county_scoped=False),
        ("get", "/api/v1/networks"): lambda: Call("GET", "/api/v1/networks", county_scoped=False),
        ("get", "/api/v1/tokens"): lambda: Call("GET", "/api/v1/tokens", county_scoped=False),
        ("get", "/api/v1/searches"): lambda: Call("GET", "/api/v1/searches", county_scoped=False),
        ("get", "/api/v1/cases"): lambda: Call("GET", "/api/v1/cases", county_scoped=False),
        ("get", "/api/v1/agencies/{agency}/policy"): lambda: Call(
            "GET", "/api/v1/agencies/county/policy"
        ),
        ("patch", "/api/v1/agencies/{agency}/policy"): lambda: Call(
            "PATCH",
            "/api/v1/agencies/county/policy",
            {"changes": {"daily_limit": 7}, "reason": "checking the matrix"},
        ),
        ("get", "/api/v1/agencies/{agency}/domains"): lambda: Call(
            "GET", "/api/v1/agencies/county/domains"
        ),
        ("post", "/api/v1/agencies/{agency}/domains"): lambda: Call(
            "POST", "/api/v1/agencies/county/domains", {"domain": "matrix.example"}
        ),
        ("delete", "/api/v1/agencies/{agency}/domains/{domain}"): lambda: Call(
            "DELETE", "/api/v1/agencies/county/domains/nosuch.example"
        ),
        ("get", "/api/v1/agencies/{agency}/relaxations"): lambda: Call(
            "GET", "/api/v1/agencies/county/relaxations"
        ),
        ("post", "/api/v1/relaxations/{relaxation_id}/confirmation"): lambda: Call(
            "POST", "/api/v1/relaxations/999/confirmation", {"note": "checking the matrix"}
        ),
        ("post", "/api/v1/relaxations/{relaxation_id}/refusal"): lambda: Call(
            "POST", "/api/v1/relaxations/999/refusal", {"note": "checking the matrix"}
        ),
        ("get", "/api/v1/agencies/{agency}/policy/history"): lambda: Call(
            "GET", "/api/v1/agencies/county/policy/history"
        ),
        ("post", "/api/v1/searches"): lambda: Call(
            "POST", "/api/v1/searches", files=upload, data=search_form, county_scoped=False
        ),
        ("post", "/api/v1/searches/preview"): lambda: Call(
            "POST", "/api/v1/searches/preview", files=upload, data=search_form, county_scoped=False
        ),
        ("get", "/api/v1/searches/pending"): lambda: Call(
            "GET", "/api/v1/searches/pending", county_scoped=False
        ),
        ("get", "/api/v1/searches/{search_id}"): lambda: Call("GET", f"/api/v1/searches/{s}"),
        ("post", "/api/v1/searches/{search_id}/decision"): lambda: Call(
            "POST", f"/api/v1/searches/{s}/decision", {"approve": False, "note": "matrix test note"}
        ),
        ("post", "/api/v1/searches/{search_id}/run"): lambda: Call(
            "POST", f"/api/v1/searches/{s}/run"
        ),
        ("get", "/api/v1/searches/{search_id}/export"): lambda: Call(
            "GET", f"/api/v1/searches/{s}/export"
        ),
        ("post", "/api/v1/searches/{search_id}/outcome"): lambda: Call(
            "POST",
            f"/api/v1/searches/{s}/outcome",
            {"outcome": "no_lead", "note": "matrix test note"},
        ),
        ("get", "/api/v1/candidates/{candidate_id}/crop"): lambda: Call(
            "GET", f"/api/v1/candidates/{c}/crop"
        ),
        ("get", "/api/v1/candidates/{candidate_id}/source"): lambda: Call(
            "GET", f"/api/v1/candidates/{c}/source"
        ),
        ("get", "/api/v1/reviews/waiting"): lambda: Call(
            "GET", "/api/v1/reviews/waiting", county_scoped=False
        ),
        ("post", "/api/v1/searches/{search_id}/second-review-request"): lambda: Call(
            "POST", f"/api/v1/searches/{s}/second-review-request", {"colleague": "sam"}
        ),
        ("post", "/api/v1/candidates/{candidate_id}/reviews"): lambda: Call(
            "POST",
            f"/api/v1/candidates/{c}/reviews",
            {"decision": "not_a_match", "note": "matrix check of reviews"},
        ),
        # A case number names a case of the caller's own agency: the outsider's answer is
        # their own agency's case of that number (checked below to hold nothing of the county).
        ("get", "/api/v1/cases/{case_number}/disclosure"): lambda: Call(
            "GET", f"/api/v1/cases/{CASE}/disclosure", county_scoped=False
        ),
        ("post", "/api/v1/verify"): lambda: Call(
            "POST",
            "/api/v1/verify",
            files=[("a", ("a.jpg", probe, "image/jpeg")), ("b", ("b.jpg", probe, "image/jpeg"))],
            county_scoped=False,
        ),
        ("get", "/api/v1/galleries"): lambda: Call("GET", "/api/v1/galleries", county_scoped=False),
        ("post", "/api/v1/galleries"): lambda: Call(
            "POST", "/api/v1/galleries", {"name": "matrix-gallery"}, county_scoped=False
        ),
        ("get", "/api/v1/galleries/{name}"): lambda: Call(
            "GET", "/api/v1/galleries/bookings", county_scoped=False
        ),
        ("post", "/api/v1/galleries/{name}/sources"): lambda: Call(
            "POST",
            "/api/v1/galleries/bookings/sources",
            {
                "name": "matrix-source",
                "kind": "bookings",
                "legal_basis": "State Code 1-2",
                "supplied_by": "County",
                "collected_at": "2026-01-01",
                "retention_days": 30,
            },
            county_scoped=False,
        ),
        ("get", "/api/v1/galleries/{name}/photos"): lambda: Call(
            "GET", "/api/v1/galleries/bookings/photos", county_scoped=False
        ),
        ("patch", "/api/v1/galleries/{name}/sources/{source}"): lambda: Call(
            "PATCH",
            "/api/v1/galleries/bookings/sources/matrix-source",
            {"reason": "the matrix checks who may", "kind": f"bookings {next(_EDITS)}"},
            county_scoped=False,
        ),
        ("post", "/api/v1/galleries/{name}/sources/{source}/retire"): lambda: Call(
            "POST",
            "/api/v1/galleries/bookings/sources/matrix-source/retire",
            {"reason": "the matrix checks who may"},
            county_scoped=False,
        ),
        ("post", "/api/v1/galleries/{name}/index/rebuild"): lambda: Call(
            "POST", "/api/v1/galleries/bookings/index/rebuild", county_scoped=False
        ),
        ("post", "/api/v1/galleries/{name}/index/check"): lambda: Call(
            "POST", "/api/v1/galleries/bookings/index/check", county_scoped=False
        ),
        ("post", "/api/v1/galleries/{name}/ingestions"): lambda: Call(
            "POST",
            "/api/v1/galleries/bookings/ingestions",
            {"source": "county", "path": "/nonexistent/folder"},
            county_scoped=False,
        ),
        ("get", "/api/v1/jobs"): lambda: Call("GET", "/api/v1/jobs", county_scoped=False),
        ("get", "/api/v1/jobs/{job_id}"): lambda: Call(
            "GET", "/api/v1/jobs/1", county_scoped=False
        ),
        ("post", "/api/v1/jobs/{job_id}/cancel"): lambda: Call(
            "POST", "/api/v1/jobs/1/cancel", county_scoped=False
        ),
        ("get", "/api/v1/audit/verify"): lambda: Call(
            "GET", "/api/v1/audit/verify", county_scoped=False
        ),
        ("get", "/api/v1/audit/entries"): lambda: Call(
            "GET", "/api/v1/audit/entries?kind=search.", county_scoped=False
        ),
        ("get", "/api/v1/audit/checkpoints"): lambda: Call(
            "GET", "/api/v1/audit/checkpoints", county_scoped=False
        ),
        ("get", "/api/v1/audit/entries/{entry}/proof"): lambda: Call(
            "GET", "/api/v1/audit/entries/1/proof", county_scoped=False
        ),
        ("get", "/api/v1/audit/consistency"): lambda: Call(
            "GET", "/api/v1/audit/consistency?old=1&new=2", county_scoped=False
        ),
        ("post", "/api/v1/audit/checkpoints"): lambda: Call(
            "POST", "/api/v1/audit/checkpoints", county_scoped=False
        ),
        ("get", "/api/v1/audit/public-key"): lambda: Call(
            "GET", "/api/v1/audit/public-key", county_scoped=False
        ),
        ("get", "/api/v1/audit/export"): lambda: Call(
            "GET", "/api/v1/audit/export", county_scoped=False
        ),
        ("get", "/api/v1/models"): lambda: Call(
            "GET", "/api/v1/models?check=false", county_scoped=False
        ),
        ("get", "/api/v1/database"): lambda: Call("GET", "/api/v1/database", county_scoped=False),
        ("get", "/api/v1/agencies/{agency}/oversight"): lambda: Call(
            "GET", "/api/v1/agencies/county/oversight"
        ),
        ("get", "/api/v1/agencies/{agency}/digest"): lambda: Call(
            "GET", "/api/v1/agencies/county/digest"
        ),
        ("get", "/api/v1/agencies/{agency}/alerts"): lambda: Call(
            "GET", "/api/v1/agencies/county/alerts"
        ),
        ("post", "/api/v1/agencies/{agency}/alerts/run"): lambda: Call(
            "POST", "/api/v1/agencies/county/alerts/run"
        ),
        ("put", "/api/v1/agencies/{agency}/open-cases"): lambda: Call(
            "PUT", "/api/v1/agencies/county/open-cases", {"case_numbers": [CASE]}
        ),
        ("post", "/api/v1/alerts/{alert_id}/acknowledgement"): lambda: Call(
            "POST", f"/api/v1/alerts/{t.alert_id}/acknowledgement", {"note": "matrix test note"}
        ),
        ("post", "/api/v1/alerts/{alert_id}/closure"): lambda: Call(
            "POST", f"/api/v1/alerts/{t.alert_id}/closure", {"note": "matrix test note"}
        ),
        ("get", "/api/v1/reports/transparency"): lambda: Call(
            "GET",
            "/api/v1/reports/transparency?agency=county",
            county_scoped=False,
            anonymous=True,
            public=True,
        ),
        ("get", "/api/v1/reports/agencies"): lambda: Call(
            "GET", "/api/v1/reports/agencies", county_scoped=False, anonymous=True, public=True
        ),
        ("post", "/api/v1/erasures"): lambda: Call(
            "POST",
            "/api/v1/erasures",
            files=[("photos", ("p.jpg", probe, "image/jpeg"))],
            data={"reference": "MATRIX-1", "identity_check": "matrix"},
            county_scoped=False,
        ),
        ("get", "/api/v1/erasures/{erasure_id}"): lambda: Call(
            "GET", "/api/v1/erasures/999", county_scoped=False
        ),
        ("post", "/api/v1/erasures/{erasure_id}/decisions"): lambda: Call(
            "POST", "/api/v1/erasures/999/decisions", {"confirmed": [1]}, county_scoped=False
        ),
        ("post", "/api/v1/erasures/{erasure_id}/completion"): lambda: Call(
            "POST", "/api/v1/erasures/999/completion", county_scoped=False
        ),
        ("post", "/api/v1/erasures/{erasure_id}/approval"): lambda: Call(
            "POST",
            "/api/v1/erasures/999/approval",
            {"note": "matrix approval"},
            county_scoped=False,
        ),
        ("get", "/api/v1/erasures/{erasure_id}/photos/{number}"): lambda: Call(
            "GET", "/api/v1/erasures/999/photos/1", county_scoped=False
        ),
        ("get", "/api/v1/erasures/{erasure_id}/matches/{match_id}/crop"): lambda: Call(
            "GET", "/api/v1/erasures/999/matches/1/crop", county_scoped=False
        ),
        ("get", "/api/v1/holds"): lambda: Call("GET", "/api/v1/holds", county_scoped=False),
        ("post", "/api/v1/holds/{hold_id}/decision"): lambda: Call(
            "POST",
            "/api/v1/holds/999/decision",
            {"release": True, "note": "matrix decision"},
            county_scoped=False,
        ),
        ("post", "/api/v1/erasures/{erasure_id}/cancellation"): lambda: Call(
            "POST", "/api/v1/erasures/999/cancellation", {"reason": "matrix"}, county_scoped=False
        ),
        ("post", "/api/v1/retention/run"): lambda: Call(
            "POST", "/api/v1/retention/run", county_scoped=False
        ),
        ("post", "/api/v1/oversight/run"): lambda: Call(
            "POST", "/api/v1/oversight/run", county_scoped=False
        ),
    }


#: An agency's head and auditors, and system admins: who oversee an agency's use.
_OVERSEERS = {Role.AGENCY_HEAD, Role.AUDITOR, Role.SYSTEM_ADMIN}
#: Gallery admins and system admins: who act on galleries (erasure, retention).
_GALLERY_ADMINS = {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN}
#: Who may read an erasure request: the opener's side, and its agency's head (who approves)
_ERASURE_READERS = _GALLERY_ADMINS | {Role.AGENCY_HEAD}

#: Who may suspend a person, and so see and revoke their sign-ins.
_SUSPENDERS = {Role.SUPERVISOR, Role.AGENCY_HEAD, Role.SYSTEM_ADMIN}

#: Within the county: who may use a route that needs a role (everyone else is refused).
ONLY: dict[tuple[str, str], set[Role]] = {
    ("post", "/api/v1/networks"): {Role.SYSTEM_ADMIN},
    ("post", "/api/v1/agencies"): {Role.SYSTEM_ADMIN},
    ("post", "/api/v1/accounts"): {Role.AGENCY_HEAD, Role.SYSTEM_ADMIN},
    ("patch", "/api/v1/agencies/{agency}/policy"): {Role.AGENCY_HEAD, Role.SYSTEM_ADMIN},
    ("post", "/api/v1/agencies/{agency}/domains"): {Role.AGENCY_HEAD, Role.SYSTEM_ADMIN},
    ("delete", "/api/v1/agencies/{agency}/domains/{domain}"): {
        Role.AGENCY_HEAD,
        Role.SYSTEM_ADMIN,
    },
    ("get", "/api/v1/accounts/{username}/tokens"): _SUSPENDERS,
    ("post", "/api/v1/accounts/{username}/tokens/revoke"): _SUSPENDERS,
    ("get", "/api/v1/searches/pending"): {Role.SUPERVISOR, Role.AGENCY_HEAD},
    ("post", "/api/v1/verify"): {Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_HEAD},
    ("post", "/api/v1/galleries"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("post", "/api/v1/galleries/{name}/sources"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("get", "/api/v1/galleries/{name}/photos"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("patch", "/api/v1/galleries/{name}/sources/{source}"): {
        Role.GALLERY_ADMIN,
        Role.SYSTEM_ADMIN,
    },
    ("post", "/api/v1/galleries/{name}/sources/{source}/retire"): {
        Role.GALLERY_ADMIN,
        Role.SYSTEM_ADMIN,
    },
    ("post", "/api/v1/galleries/{name}/index/rebuild"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("post", "/api/v1/galleries/{name}/index/check"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("get", "/api/v1/audit/verify"): {Role.AUDITOR, Role.AGENCY_HEAD, Role.SYSTEM_ADMIN},
    ("post", "/api/v1/galleries/{name}/ingestions"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("get", "/api/v1/jobs"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("get", "/api/v1/accounts"): {
        Role.AGENCY_HEAD,
        Role.SUPERVISOR,
        Role.AUDITOR,
        Role.SYSTEM_ADMIN,
    },
    ("get", "/api/v1/audit/entries"): {Role.AUDITOR, Role.AGENCY_HEAD, Role.SYSTEM_ADMIN},
    ("post", "/api/v1/audit/checkpoints"): {Role.AUDITOR, Role.SYSTEM_ADMIN},
    ("get", "/api/v1/models"): {Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN},
    ("get", "/api/v1/database"): {Role.SYSTEM_ADMIN},
    ("get", "/api/v1/agencies/{agency}/oversight"): _OVERSEERS,
    ("get", "/api/v1/agencies/{agency}/digest"): _OVERSEERS,
    ("get", "/api/v1/agencies/{agency}/alerts"): _OVERSEERS,
    ("post", "/api/v1/agencies/{agency}/alerts/run"): _OVERSEERS,
    ("put", "/api/v1/agencies/{agency}/open-cases"): _OVERSEERS,
    ("post", "/api/v1/alerts/{alert_id}/acknowledgement"): {Role.AGENCY_HEAD, Role.AUDITOR},
    ("post", "/api/v1/alerts/{alert_id}/closure"): {Role.AGENCY_HEAD, Role.AUDITOR},
    ("post", "/api/v1/oversight/run"): {Role.SYSTEM_ADMIN},
    ("post", "/api/v1/erasures"): _GALLERY_ADMINS,
    ("get", "/api/v1/erasures/{erasure_id}"): _ERASURE_READERS,
    ("post", "/api/v1/erasures/{erasure_id}/decisions"): _GALLERY_ADMINS,
    ("post", "/api/v1/erasures/{erasure_id}/completion"): {Role.AGENCY_HEAD},
    ("post", "/api/v1/erasures/{erasure_id}/cancellation"): _ERASURE_READERS,
    ("post", "/api/v1/erasures/{erasure_id}/approval"): {Role.AGENCY_HEAD},
    ("get", "/api/v1/erasures/{erasure_id}/photos/{number}"): _ERASURE_READERS,
    ("get", "/api/v1/erasures/{erasure_id}/matches/{match_id}/crop"): _ERASURE_READERS,
    ("get", "/api/v1/holds"): {Role.AGENCY_HEAD},
    ("post", "/api/v1/holds/{hold_id}/decision"): {Role.AGENCY_HEAD},
    ("post", "/api/v1/retention/run"): _GALLERY_ADMINS,
}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Target]]:
    with made_world(tmp_path_factory.mktemp("matrix")) as world:
        org = world.org
        org.add("ozzy", "other", Role.SUPERVISOR)
        org.add("aud", "county", Role.AUDITOR)
        org.add("oda", "other", Role.AUDITOR)
        org.add("oga", "other", Role.GALLERY_ADMIN)
        org.add("nate", "county", Role.NETWORK_OPERATOR)
        org.add("onno", "other", Role.NETWORK_OPERATOR)
        probe = next(iter(world.photos.values())).read_bytes()
        form = {
            "case_number": CASE,
            "offense": OFFENSE,
            "justification": JUSTIFICATION,
            "attest": "true",
        }
        done = world.client.post(
            "/api/v1/searches",
            data=form | {"galleries": ["bookings"]},
            files=[("probes", ("p.jpg", probe, "image/jpeg"))],
            headers=world.as_("ivy"),
        ).json()
        again = form | {"galleries": ["bookings"], "case_number": "2026-000999"}
        world.client.post(
            "/api/v1/searches",
            data=again,
            files=[("probes", ("p.jpg", probe, "image/jpeg"))],
            headers=world.as_("ivy"),
        ).raise_for_status()
        alerts.raise_alerts(world.ctx)
        (alert,) = [
            a for a in alerts.list_alerts(world.ctx, org.admin, "county") if a.rule == "probe_cases"
        ]
        yield world, Target(done["search_id"], done["candidates"][0]["id"], alert.id)


def _routes(world: World) -> list[tuple[str, str]]:
    paths = world.client.get("/openapi.json").json()["paths"]
    return sorted(
        (method, path) for path, ops in paths.items() if path.startswith("/api/") for method in ops
    )


def _last_seq(world: World) -> int:
    with world.ctx.sessions() as s:
        return int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)


def _kinds_after(world: World, seq: int) -> list[str]:
    with world.ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow.kind).where(
                    AuditEntryRow.seq > seq, AuditEntryRow.kind != "row.seal"
                )
            )
        )


def _county_state(world: World) -> str:
    """What another agency must never change: the county's searches, candidates, reviews,
    people and their roles, and policy versions."""
    with world.ctx.sessions() as s:
        county = world.org.people["head"].agency_id
        rows = {
            "searches": s.execute(
                select(SearchRecord.id, SearchRecord.status, SearchRecord.outcome)
                .where(SearchRecord.agency_id == county)
                .order_by(SearchRecord.id)
            ).all(),
            "candidates": s.scalar(select(func.count(SearchCandidate.id))),
            "reviews": s.scalar(select(func.count(Review.id))),
            "people": s.execute(
                select(User.username, User.status, User.password_hash, User.totp_enrolled_at)
                .where(User.agency_id == county)
                .order_by(User.username)
            ).all(),
            "roles": s.execute(
                select(UserRole.user_id, UserRole.role).order_by(UserRole.user_id, UserRole.role)
            ).all(),
            "policy": s.scalar(
                select(func.count(PolicyVersion.id)).where(PolicyVersion.agency_id == county)
            ),
        }
    return json.dumps(rows, default=str)


def _send(world: World, who: str, call: Call) -> Any:
    headers: dict[str, str] = {}
    if not call.anonymous:
        token = world.token(who)
        if call.method == "DELETE" and call.path == "/api/v1/session":
            with world.ctx.transaction() as session:  # a session of its own to end
                user_id = world.org.people[who].user_id
                token, _ = add_token(session, user_id, "session", utc_now() + timedelta(hours=1))
        headers["Authorization"] = f"Bearer {token}"
    return world.client.request(
        call.method, call.path, json=call.json, files=call.files, data=call.data, headers=headers
    )


def _shown(answer: Any) -> str:
    """What an answer tells: a problem's detail (its subject only echoes what was asked),
    anything else whole."""
    if answer.headers.get("content-type") == "application/problem+json":
        return json.dumps(answer.json()["detail"])
    return str(answer.text)


def _check_refusal_audited(world: World, before: int, answer: Any, where: str) -> None:
    if answer.status_code in REFUSED:
        kinds = _kinds_after(world, before)
        assert any(k.endswith((".refused", ".failed")) for k in kinds), (where, kinds)


def test_another_agency_gets_nothing_and_changes_nothing(matrix: tuple[World, Target]) -> None:
    world, target = matrix
    probe = next(iter(world.photos.values())).read_bytes()
    calls = _calls(world, target, probe)
    assert set(calls) == set(_routes(world)), "every API route needs a row in this matrix"
    county_before = _county_state(world)
    for role, (_, outsider) in PEOPLE.items():
        if role is Role.SYSTEM_ADMIN:
            continue  # acts for the platform, in every agency (and is audited doing so)
        for make in calls.values():
            call = make()
            before = _last_seq(world)
            answer = _send(world, outsider, call)
            where = f"{outsider} ({role.value}) {call.method} {call.path}"
            assert answer.status_code < 500, (where, answer.text)
            _check_refusal_audited(world, before, answer, where)
            shown = _shown(answer)
            assert '"ivy"' not in shown, (where, shown)
            assert call.public or '"agency":"county"' not in shown, (where, shown)
            if call.county_scoped and not call.anonymous:
                assert answer.status_code in (403, 404), (where, answer.status_code, answer.text)
                assert CASE not in answer.text, where
    assert _county_state(world) == county_before


def test_within_the_agency_roles_decide_and_refusals_are_audited(
    matrix: tuple[World, Target],
) -> None:
    world, target = matrix
    probe = next(iter(world.photos.values())).read_bytes()
    calls = _calls(world, target, probe)
    for role, (insider, _) in PEOPLE.items():
        for key, make in calls.items():
            call = make()
            before = _last_seq(world)
            answer = _send(world, insider, call)
            where = f"{insider} ({role.value}) {call.method} {call.path}"
            assert answer.status_code < 500, (where, answer.text)
            _check_refusal_audited(world, before, answer, where)
            allowed = ONLY.get(key)
            if allowed is not None and role not in allowed:
                assert answer.status_code in (403, 404), (where, answer.status_code)
            if allowed is not None and role in allowed:
                assert answer.status_code not in (401, 403), (where, answer.text)
