"""What a search request must satisfy before any probe is looked at (``services.searching.search``):
who asks and for whom, why, where and how often, against the agency's current policy and the
field rules of ``governance.fields``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    CaseNumberError,
    DailyLimitError,
    FacetrailError,
    GalleryNotAllowedError,
    InvalidRequestError,
    JustificationError,
    NotFoundError,
    OffenseNotAllowedError,
    PermissionDeniedError,
    RecordMismatchError,
)
from facetrail.governance import fields
from facetrail.governance.attestation import attestation_problem
from facetrail.governance.authority import Actor
from facetrail.governance.case_numbers import case_rule_in_words
from facetrail.governance.credentials import Role
from facetrail.governance.policy import Policy
from facetrail.services.accounts import agency_by_name, current_policy
from facetrail.services.authorization import (
    RoleRead,
    checked_roles,
    inactive_reason,
    role_columns,
)
from facetrail.services.searching.search_model import (
    SearchRequest,
)
from facetrail.store.schema import (
    Agency,
    AuditHeadRow,
    SearchRecord,
    User,
)

__all__ = ["RequestCheck", "field_problem", "request_check", "request_problem"]


# Built once, with bound parameters (building one per search costs more than running it).
#: The requester, their agency, their roles (``role_columns``), how many of their searches
#: since ``since`` count against the daily limit and the audit log's size: one round trip.
_REQUESTER = (
    select(
        User,
        Agency,
        *role_columns(User.id, User.username),
        select(func.count(SearchRecord.id))
        .where(
            SearchRecord.requester_id == User.id,
            SearchRecord.created_at >= bindparam("since"),
            or_(SearchRecord.fault.is_(None), SearchRecord.fault != "system"),
        )
        .scalar_subquery(),
        select(AuditHeadRow.size).where(AuditHeadRow.id == 1).scalar_subquery(),
    )
    .join(Agency, Agency.id == User.agency_id)
    .where(User.id == bindparam("user_id"))
)


class RequestCheck(NamedTuple):
    """What ``request_check`` found: the problem (None: allowed), the agency searched for,
    its policy and that policy's version, and the audit log's size when the requester was
    read (None: no log head yet). Every change to what the check reads (people, roles,
    agencies, policies, searches) is committed with an audit entry: a log of the same size
    later means the check still stands (``search`` uses this)."""

    problem: FacetrailError | None
    agency: Agency | None
    version: int
    policy: Policy
    log_size: int | None
    #: the requester as read, when the check got that far (``unit_of_work.ReadBefore``)
    actor: Actor | None = None


def request_problem(
    session: Session, request: SearchRequest, now: datetime, *, preview: bool = False
) -> tuple[FacetrailError | None, Agency | None, int, Policy]:
    """Everything checked before a probe is looked at: who, for whom, why, where, how often,
    and what the requester attested (``governance.attestation``), except for a ``preview``
    of the probe's faces, which is asked before the search and reveals no one."""
    checked = request_check(session, request, now, preview=preview)
    return checked.problem, checked.agency, checked.version, checked.policy


def request_check(
    session: Session, request: SearchRequest, now: datetime, *, preview: bool = False
) -> RequestCheck:
    """``request_problem``, with the log's size as the requester was read."""
    actor = request.requester
    since = now - timedelta(days=1)
    found = session.execute(_REQUESTER, {"user_id": actor.user_id, "since": since}).first()
    if found is None:
        missing = NotFoundError("no such user", subject=actor.username)
        return RequestCheck(missing, None, 0, Policy(), None)
    user, own_agency, grants, latest_change, today, log_size = found
    inactive = inactive_reason(user, now)
    if inactive is not None:
        return RequestCheck(inactive, None, 0, Policy(), None)
    try:
        roles = checked_roles(session, user, RoleRead(grants, latest_change))
    except RecordMismatchError as tampered:
        return RequestCheck(tampered, None, 0, Policy(), None)
    if request.on_behalf_of is not None:
        if Role.NETWORK_OPERATOR.value not in roles:
            return RequestCheck(
                PermissionDeniedError(
                    "only a network operator searches on behalf of another agency",
                    subject=request.on_behalf_of,
                ),
                None,
                0,
                Policy(),
                None,
            )
        agency = agency_by_name(session, request.on_behalf_of)
        if own_agency.network_id is None or own_agency.network_id != agency.network_id:
            return RequestCheck(
                PermissionDeniedError(
                    "that agency is not a member of your network", subject=agency.name
                ),
                None,
                0,
                Policy(),
                None,
            )
    else:
        agency = own_agency
        if Role.INVESTIGATOR.value not in roles:
            return RequestCheck(
                PermissionDeniedError("only investigators search", subject=actor.username),
                agency,
                0,
                Policy(),
                None,
            )
    version, policy = current_policy(session, agency.id)
    problem: FacetrailError | None = None
    case = request.case_number.strip()
    if not case:
        problem = CaseNumberError("a case number is required", subject="case_number")
    elif (malformed := field_problem(request)) is not None:
        problem = malformed
    elif not re.fullmatch(policy.case_pattern, case):
        problem = CaseNumberError(
            f"{case!r} is not a case number of {agency.name}: a case number is "
            f"{case_rule_in_words(policy.case_pattern)}",
            subject="case_number",
        )
    elif request.offense not in policy.offenses:
        problem = OffenseNotAllowedError(
            f"offense category {request.offense!r} is not allowed by {agency.name}'s policy "
            f"(allowed: {', '.join(policy.offenses)})",
            subject="offense",
        )
    elif len(request.justification.strip()) < policy.min_justification:
        problem = JustificationError(
            f"justification needs at least {policy.min_justification} characters",
            subject="justification",
        )
    elif (
        not preview
        and (
            unattested := attestation_problem(
                policy,
                request.offense,
                request.justification,
                request.attested,
                request.protected_reason,
            )
        )
        is not None
    ):
        problem = unattested
    elif not request.galleries:
        problem = InvalidRequestError("name at least one gallery", subject="galleries")
    elif outside := [g for g in request.galleries if g not in policy.galleries]:
        problem = GalleryNotAllowedError(
            f"gallery {outside[0]!r} is outside {agency.name}'s policy", subject=outside[0]
        )
    elif not 1 <= request.top <= 1000:
        problem = InvalidRequestError("top must be between 1 and 1000", subject="top")
    elif not request.probes:
        problem = InvalidRequestError("at least one probe image is needed", subject="probes")
    else:
        if (today or 0) >= policy.daily_limit:
            problem = DailyLimitError(
                f"{policy.daily_limit} searches in the last 24 hours: the daily limit",
                subject=actor.username,
            )
    who = Actor(user.id, user.agency_id, roles, own_agency.network_id)
    return RequestCheck(problem, agency, version, policy, log_size, who)


def field_problem(request: SearchRequest) -> FacetrailError | None:
    """The request's case number and justification against ``governance.fields`` (the floor
    for every agency; its policy may ask for more)."""
    try:
        fields.check_case_number(request.case_number)
        fields.check_free_text("justification", request.justification)
        if request.protected_reason:
            fields.check_free_text("protected_reason", request.protected_reason)
    except FacetrailError as error:
        return error
    return None
