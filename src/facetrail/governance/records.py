"""The records that authorise or report an action must agree with the audit entries that made
them. A row edited in the database (a widened policy, a forged role, a forged review, an edited
search or candidate) passes the Merkle log, but not this check: each function below names how
a row disagrees with its entry, or returns None.

The product calls the checks before it acts on a policy version, a role grant or a review, and
``audit verify`` runs ``first_record_problem`` over every stored record.

The checks are defined by topic in the private ``_records_*`` modules beside this one (what
authorises an action, searches, oversight and people's rights); this module is where
facetrail imports them from, and where the sweep over every record lives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance._record_entries import entry_details, logged_entries
from facetrail.governance._records_grants import (
    GRANT_KINDS,
    UNREAD,
    RoleRow,
    Unread,
    grant_roles,
    latest_roles_change,
    policy_problem,
    roles_problem,
)
from facetrail.governance._records_oversight import (
    alert_problem,
    erasure_problem,
    evaluation_problem,
    open_cases_digest,
    open_cases_problem,
)
from facetrail.governance._records_searches import (
    AskedGrounds,
    asked_grounds,
    probe_template_problem,
    review_problem,
    search_problem,
    search_rows_problem,
)
from facetrail.store.schema import (
    Agency,
    AlertRow,
    AuditEntryRow,
    ErasureRow,
    EvaluationRow,
    Gallery,
    OpenCase,
    PolicyVersion,
    ProbeTemplateRow,
    Review,
    SearchRecord,
    User,
)

__all__ = [
    "GRANT_KINDS",
    "UNREAD",
    "AskedGrounds",
    "RoleRow",
    "Unread",
    "alert_problem",
    "asked_grounds",
    "erasure_problem",
    "evaluation_problem",
    "first_record_problem",
    "grant_roles",
    "latest_roles_change",
    "open_cases_digest",
    "policy_problem",
    "probe_template_problem",
    "review_problem",
    "roles_problem",
    "search_problem",
    "search_rows_problem",
]


def _all_problems(session: Session) -> Generator[tuple[str, str], None, None]:
    for row in session.scalars(select(PolicyVersion).order_by(PolicyVersion.id)):
        if problem := policy_problem(session, row):
            yield f"agency_policies id {row.id} (agency {row.agency_id} v{row.version})", problem
    for user in session.scalars(select(User).order_by(User.id)):
        if problem := roles_problem(session, user):
            yield f"user_roles of {user.username}", problem
    names = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    for review in session.scalars(select(Review).order_by(Review.id)):
        if problem := review_problem(session, review, names.get(review.reviewer_id, "")):
            yield f"reviews id {review.id} (search {review.search_id})", problem
    for record in session.scalars(select(SearchRecord).order_by(SearchRecord.id)):
        if problem := search_problem(session, record):
            yield f"searches id {record.id}", problem
    agencies = {aid: name for aid, name in session.execute(select(Agency.id, Agency.name))}
    alerts = list(session.scalars(select(AlertRow).order_by(AlertRow.id)))
    for alert in alerts:
        if problem := alert_problem(session, alert, agencies.get(alert.agency_id)):
            yield f"alerts id {alert.id}", problem
    if missing := _gone(session, "alert.raise", "alert:", [a.id for a in alerts]):
        yield missing, "alert was raised but its record is gone"
    for name, staff_of in session.execute(select(Gallery.name, Gallery.staff_of)):
        created = logged_entries(session, name, "gallery.create")
        said = entry_details(created[0]).get("staff_of") if created else None
        if (agencies.get(staff_of) if staff_of is not None else None) != said:
            yield f"galleries {name}", "staff gallery mark differs from its create entry"
    lists: dict[int, list[str]] = {}
    for agency_id, number in session.execute(select(OpenCase.agency_id, OpenCase.case_number)):
        lists.setdefault(agency_id, []).append(number)
    for agency_id, name in agencies.items():
        if problem := open_cases_problem(session, name, lists.get(agency_id, [])):
            yield f"open_cases of {name}", problem
    erasures = list(session.scalars(select(ErasureRow).order_by(ErasureRow.id)))
    for erasure in erasures:
        if problem := erasure_problem(session, erasure):
            yield f"erasures id {erasure.id}", problem
    if lost := _gone(session, "erasure.open", "erasure:", [e.id for e in erasures]):
        yield lost, "erasure request was recorded but its record is gone"
    for evaluation in session.scalars(select(EvaluationRow).order_by(EvaluationRow.id)):
        if problem := evaluation_problem(session, evaluation):
            yield f"evaluations id {evaluation.id}", problem
    kept: dict[int, dict[str, str]] = {}
    for sid, pack, vector in session.execute(
        select(ProbeTemplateRow.search_id, ProbeTemplateRow.pack, ProbeTemplateRow.vector)
    ):
        kept.setdefault(sid, {})[pack] = hashlib.sha256(bytes(vector)).hexdigest()
    unpurged = session.scalars(
        select(SearchRecord.id).where(
            SearchRecord.status == "done", SearchRecord.probes_purged.is_(False)
        )
    )
    for sid in sorted(set(kept) | set(unpurged)):
        if problem := probe_template_problem(session, sid, kept.get(sid, {})):
            yield f"probe_templates of search {sid}", problem


def _gone(session: Session, kind: str, prefix: str, ids: list[int]) -> str | None:
    """The first subject that ``kind`` entries name (``prefix`` and an id) with no record of
    ``ids`` left: a record deleted behind facetrail's back."""
    named = session.scalars(select(AuditEntryRow.subject).where(AuditEntryRow.kind == kind))
    missing = sorted(set(named) - {f"{prefix}{i}" for i in ids})
    return missing[0] if missing else None


def first_record_problem(session: Session) -> tuple[str, str] | None:
    """The first stored record that disagrees with its audit entry: (which record, how)."""
    problems = _all_problems(session)
    try:
        return next(problems, None)
    finally:  # a search stopped at its first finding lets go of its open results now
        problems.close()
