"""The records that authorise or report an action must agree with the audit entries that made
them. A row edited in the database (a widened policy, a forged role, a forged review, an edited
search or candidate) passes the Merkle log, but not this check: each function below names how
a row disagrees with its entry, or returns None.

The product calls the checks before it acts on a policy version, a role grant or a review, and
``audit verify`` runs ``first_record_problem`` over every stored record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnExpressionArgument, ScalarSelect, func, select
from sqlalchemy.orm import Session

from facetrail.governance.seal_checks import row_problem, rows_problems
from facetrail.store.schema import (
    Agency,
    AlertRow,
    AuditEntryRow,
    BlocklistEntry,
    ErasureMatch,
    ErasureRow,
    EvaluationRow,
    Gallery,
    OpenCase,
    PolicyVersion,
    ProbeTemplateRow,
    Review,
    SearchCandidate,
    SearchRecord,
    User,
    UserRole,
)

__all__ = [
    "GRANT_KINDS",
    "UNREAD",
    "RoleRow",
    "Unread",
    "alert_problem",
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

#: Entries that set a person's roles, and where each names the person and the roles.
GRANT_KINDS = ("system.init", "account.create", "account.request", "account.roles")


def _details(entry: AuditEntryRow) -> dict[str, Any]:
    try:
        value = json.loads(entry.details)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def grant_roles(entry: AuditEntryRow) -> tuple[str | None, set[str]]:
    """(the person an entry grants roles to, the roles) for a grant entry."""
    details = _details(entry)
    if entry.kind == "system.init":
        return details.get("admin"), {"system_admin"}
    if entry.kind == "account.roles":
        return entry.subject, set(details.get("to", []))
    return entry.subject, set(details.get("roles", []))


class Unread:
    """The type of ``UNREAD``: a value the caller did not read (None is a value read)."""


UNREAD = Unread()

#: Row contents already found to agree with their entries, in this process. A key holds every
#: field the check compares, so an edited row is a new key and is checked afresh; entries
#: are append-only (``audit verify`` catches one that changed). Bounded: cleared when full.
_AGREED: set[tuple[object, ...]] = set()
_AGREED_MAX = 4096


def _agreed(key: tuple[object, ...]) -> bool:
    return key in _AGREED


def _remember(key: tuple[object, ...]) -> None:
    if len(_AGREED) >= _AGREED_MAX:
        _AGREED.clear()
    _AGREED.add(key)


def policy_problem(session: Session, row: PolicyVersion) -> str | None:
    """Why a stored policy version disagrees with the ``policy.change`` entry that made it."""
    if row.audit_seq is None:
        return "policy version has no audit entry"
    if sealed := row_problem(session, "agency_policies", row.id):
        return f"policy version: {sealed}"
    agency = session.get(Agency, row.agency_id)
    name = agency.name if agency is not None else None
    key = ("policy", row.id, row.agency_id, name, row.version, row.audit_seq, row.body)
    if _agreed(key):
        return None
    entry = session.get(AuditEntryRow, row.audit_seq)
    if entry is None or agency is None:
        return "policy version's audit entry is missing"
    details = _details(entry)
    try:
        body = json.loads(row.body)
    except ValueError:
        return "policy version is unreadable"
    if (
        entry.kind != "policy.change"
        or entry.subject != agency.name
        or details.get("version") != row.version
        or details.get("policy") != body
    ):
        return "policy version differs from the audit entry that made it"
    _remember(key)
    return None


def latest_roles_change(username: str | ColumnExpressionArgument[str]) -> ScalarSelect[int | None]:
    """The seq of the latest ``account.roles`` entry about ``username`` (a subquery, so that
    the roles and it are read in one statement)."""
    return (
        select(func.max(AuditEntryRow.seq))
        .where(AuditEntryRow.subject == username, AuditEntryRow.kind == "account.roles")
        .scalar_subquery()
    )


class RoleRow(Protocol):
    """A stored role grant as ``roles_problem`` reads it (a ``UserRole`` or a row of its
    columns)."""

    @property
    def role(self) -> str: ...

    @property
    def audit_seq(self) -> int | None: ...


def roles_problem(
    session: Session,
    user: User,
    rows: Sequence[RoleRow] | None = None,
    latest_change: int | Unread | None = UNREAD,
) -> str | None:
    """Why a person's stored roles (``rows``, read here when not given) disagree with the
    latest entry that set them. ``latest_change``: ``latest_roles_change`` read along with
    the rows (read here when not given)."""
    if rows is None:
        rows = list(session.scalars(select(UserRole).where(UserRole.user_id == user.id)))
    if sealed := rows_problems(session, "user_roles", [(user.id, r.role) for r in rows]):
        return f"role {next(iter(sealed))}: {next(iter(sealed.values()))}"
    if not rows:
        return None
    seqs = {r.audit_seq for r in rows}
    if len(seqs) != 1 or None in seqs:
        return "roles were not granted together by one audited action"
    (seq,) = seqs
    assert seq is not None
    key = ("roles", user.id, user.username, seq, frozenset(r.role for r in rows))
    if not _agreed(key):
        entry = session.get(AuditEntryRow, seq)
        if entry is None or entry.kind not in GRANT_KINDS:
            return "the roles' audit entry is missing"
        who, roles = grant_roles(entry)
        if who != user.username or roles != {r.role for r in rows}:
            return "roles differ from the audit entry that granted them"
        _remember(key)
    if isinstance(latest_change, Unread):
        latest_change = session.scalar(select(latest_roles_change(user.username)))
    if latest_change is not None and latest_change > seq:
        return f"roles were changed by entry {latest_change}, but the stored roles are older"
    return None


def review_problem(session: Session, review: Review, reviewer: str) -> str | None:
    """Why a stored review disagrees with its ``review.record`` entry."""
    if review.audit_seq is None:
        return "review has no audit entry"
    if sealed := row_problem(session, "reviews", review.id):
        return f"review: {sealed}"
    entry = session.get(AuditEntryRow, review.audit_seq)
    if entry is None:
        return "review's audit entry is missing"
    details = _details(entry)
    if (
        entry.kind != "review.record"
        or entry.subject != f"search:{review.search_id}"
        or entry.actor != reviewer
        or details.get("candidate") != review.candidate_id
        or details.get("stage") != review.stage
        or details.get("decision") != review.decision
    ):
        return "review differs from the audit entry that recorded it"
    return None


def _entries(session: Session, subject: str, kind: str) -> list[AuditEntryRow]:
    return list(
        session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.subject == subject, AuditEntryRow.kind == kind)
            .order_by(AuditEntryRow.seq)
        )
    )


def search_problem(session: Session, record: SearchRecord) -> str | None:
    """Why a stored search or its candidates disagree with the entries of its request, its
    decision, its run and its outcome."""
    subject = f"search:{record.id}"
    if sealed := search_rows_problem(session, record.id):
        return sealed
    requests = _entries(session, subject, "search.request")
    if len(requests) != 1:
        return "search has no single request entry"
    asked = _details(requests[0])
    try:
        probes = [p["sha256"] for p in json.loads(record.probes)]
        galleries = json.loads(record.galleries)
    except (ValueError, KeyError, TypeError):
        return "search is unreadable"
    requester = session.get(User, record.requester_id)
    agency = session.get(Agency, record.agency_id)
    if (
        requests[0].actor != (requester.username if requester else None)
        or asked.get("agency") != (agency.name if agency else None)
        or asked.get("case") != record.case_number
        or asked.get("offense") != record.offense
        or asked.get("justification") != record.justification
        or asked.get("galleries") != galleries
        or asked.get("probes") != probes
        or asked.get("policy_version") != record.policy_version
        or asked.get("needs_approval") != record.needs_approval
        or asked.get("second_review") != record.second_review
        or asked.get("top") != record.top
        or asked.get("face") != record.face
    ):
        return "search differs from its request entry"
    decided = _entries(session, subject, "search.approve") + _entries(
        session, subject, "search.deny"
    )
    if record.needs_approval and record.status not in ("pending",) and len(decided) != 1:
        return f"search is {record.status} without one recorded decision"
    runs = _entries(session, subject, "search.run")
    stored = _candidates(session, record.id)
    if record.status == "done":
        if len(runs) != 1:
            return "search is done without one run entry"
        if _details(runs[0]).get("candidates") != stored:
            return "candidates differ from the run entry"
    elif stored or runs:
        return f"search is {record.status} but has a recorded run or candidates"
    if record.outcome is not None:
        outcomes = _entries(session, subject, "search.outcome")
        if len(outcomes) != 1 or _details(outcomes[0]).get("outcome") != record.outcome:
            return "outcome differs from its entry"
    return None


def search_rows_problem(session: Session, search_id: int) -> str | None:
    """Why the rows of a search (itself, its candidates, its reviews) disagree with their
    seals, or with the reviews its entries recorded (a review deleted is a finding)."""
    if sealed := row_problem(session, "searches", search_id):
        return f"search: {sealed}"
    candidates = session.scalars(
        select(SearchCandidate.id).where(SearchCandidate.search_id == search_id)
    ).all()
    if found := rows_problems(session, "search_candidates", candidates):
        return f"candidate {next(iter(found))}: {next(iter(found.values()))}"
    reviews = session.execute(
        select(Review.id, Review.candidate_id, Review.stage).where(Review.search_id == search_id)
    ).all()
    if found := rows_problems(session, "reviews", [r.id for r in reviews]):
        return f"review {next(iter(found))}: {next(iter(found.values()))}"
    logged = sorted(
        (_details(e).get("candidate"), _details(e).get("stage"))
        for e in _entries(session, f"search:{search_id}", "review.record")
    )
    if logged != sorted((r.candidate_id, r.stage) for r in reviews):
        return "reviews differ from the reviews the log recorded (one was removed or added)"
    return None


def _candidates(session: Session, search_id: int) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for gallery, template_id, score in session.execute(
        select(SearchCandidate.gallery, SearchCandidate.template_id, SearchCandidate.score)
        .where(SearchCandidate.search_id == search_id)
        .order_by(SearchCandidate.gallery, SearchCandidate.rank)
    ):
        out.setdefault(gallery, []).append([template_id, round(score, 6)])
    return out


def alert_problem(session: Session, row: AlertRow, agency: str | None) -> str | None:
    """Why a stored alert disagrees with its entries: raised as it says (rule, key, summary,
    user, searches, agency), and acknowledged and closed exactly as recorded, with the notes
    recorded (an alert closed in the database, or made to say less, is tampering)."""
    subject = f"alert:{row.id}"
    raised = _entries(session, subject, "alert.raise")
    if len(raised) != 1:
        return "alert has no single raise entry"
    said = _details(raised[0])
    if (
        raised[0].agency != agency
        or said.get("rule") != row.rule
        or said.get("key") != row.key
        or said.get("summary") != row.summary
        or said.get("user") != row.username
        or said.get("searches") != json.loads(row.searches or "[]")
    ):
        return "alert differs from its raise entry"
    for kind, note in (
        ("alert.acknowledge", row.acknowledge_note),
        ("alert.close", row.close_note),
    ):
        steps = _entries(session, subject, kind)
        if len(steps) > 1 or (_details(steps[0]).get("note") if steps else None) != note:
            return f"alert's {kind.removeprefix('alert.')} differs from its entry"
    closed = bool(_entries(session, subject, "alert.close"))
    acknowledged = row.acknowledge_note is not None
    expected = "closed" if closed else "acknowledged" if acknowledged else "open"
    if row.status != expected:
        return f"alert is {row.status}, its entries say {expected}"
    return None


def open_cases_digest(numbers: Sequence[str]) -> str:
    """SHA-256 of an open-case list (sorted, one number a line): what ``cases.import`` logs,
    so that a case number slipped into the list behind facetrail's back is caught."""
    return hashlib.sha256("\n".join(sorted(numbers)).encode()).hexdigest()


def open_cases_problem(session: Session, agency: str, numbers: Sequence[str]) -> str | None:
    """Why an agency's stored open-case list is not the one its last import logged."""
    last = session.scalars(
        select(AuditEntryRow)
        .where(AuditEntryRow.kind == "cases.import", AuditEntryRow.subject == agency)
        .order_by(AuditEntryRow.seq.desc())
        .limit(1)
    ).first()
    logged = _details(last).get("digest") if last is not None else open_cases_digest([])
    if logged != open_cases_digest(numbers):
        return "open-case list differs from the one its last import logged"
    return None


def erasure_problem(session: Session, row: ErasureRow) -> str | None:
    """Why a stored erasure request disagrees with its entries: its state, its receipt, and
    the blocklist entries it keeps (one deleted would let the person be enrolled again)."""
    subject = f"erasure:{row.id}"
    if len(_entries(session, subject, "erasure.open")) != 1:
        return "erasure request has no single open entry"
    done = _entries(session, subject, "erasure.done")
    cancelled = _entries(session, subject, "erasure.cancel")
    opened = _details(_entries(session, subject, "erasure.open")[0])
    approved = _entries(session, subject, "erasure.approve")
    waiting = opened.get("approval_needed", False) and not approved
    expected = "done" if done else "cancelled" if cancelled else "requested" if waiting else "open"
    if row.status != expected:
        return f"erasure request is {row.status}, its entries say {expected}"
    kept = sorted(
        hashlib.sha256(bytes(v)).hexdigest()
        for v in session.scalars(
            select(BlocklistEntry.vector).where(BlocklistEntry.erasure_id == row.id)
        )
    )
    said = _details(done[0]) if done else {}
    if done and (
        said.get("receipt_id") != row.receipt_id
        or said.get("blocklist_entries", 0) != len(kept)
        or said.get("blocklist", kept) != kept
    ):
        return "erasure differs from its entry (receipt or blocklist entries)"
    if not done and kept:
        return "blocklist entries of an erasure that is not done"
    return _decisions_problem(session, row, subject)


def _decisions_problem(session: Session, row: ErasureRow, subject: str) -> str | None:
    """Why the faces found for a request, or the calls on them, are not those logged."""
    opened = _details(_entries(session, subject, "erasure.open")[0])
    approved = _entries(session, subject, "erasure.approve")
    found = _details(approved[0]).get("matches") if approved else opened.get("matches")
    logged: dict[int, str] = {}
    for entry in _entries(session, subject, "erasure.decide"):
        said = _details(entry)
        logged |= {int(i): "confirmed" for i in said.get("confirmed", [])}
        logged |= {int(i): "rejected" for i in said.get("rejected", [])}
    stored = dict(
        session.execute(
            select(ErasureMatch.id, ErasureMatch.decision).where(ErasureMatch.erasure_id == row.id)
        ).all()
    )
    if len(stored) != found:
        return f"{len(stored)} faces stored for the request, its entries found {found}"
    if any(logged.get(mid) != decision for mid, decision in stored.items()):
        return "a face's confirmation differs from the decisions logged"
    return None


def evaluation_problem(session: Session, row: EvaluationRow) -> str | None:
    """Why a recorded evaluation (published accuracy) is not what its entry recorded."""
    entry = session.get(AuditEntryRow, row.audit_seq) if row.audit_seq is not None else None
    said = _details(entry) if entry is not None else {}
    if (
        entry is None
        or entry.kind != "evaluation.record"
        or entry.subject != row.pack
        or said.get("mask") != row.mask
        or said.get("dataset") != row.dataset
        or said.get("figures") != json.loads(row.figures)
    ):
        return "evaluation differs from the entry that recorded it"
    return None


def probe_template_problem(
    session: Session, search_id: int, templates: dict[str, str]
) -> str | None:
    """Why a search's kept probe templates (pack -> SHA-256) are not those its run logged: one
    edited or removed would hide the same face searched under another case."""
    runs = _entries(session, f"search:{search_id}", "search.run")
    logged = _details(runs[0]).get("probe_templates", {}) if runs else {}
    if templates != logged:
        return "probe templates differ from the run entry"
    return None


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
        created = _entries(session, name, "gallery.create")
        said = _details(created[0]).get("staff_of") if created else None
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
