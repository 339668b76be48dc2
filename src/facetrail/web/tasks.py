"""What each role can do, as the web app offers it: the header's links and the home page's
list. Links only lead to pages; whether an action is allowed is decided by the service the
page calls, never here."""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.governance.credentials import Principal, Role

__all__ = ["Task", "tasks_for"]


@dataclass(frozen=True)
class Task:
    role: Role | None
    title: str
    #: the page that does it, or None where the web app does not offer it yet
    href: str | None
    summary: str


_ELSEWHERE = "Not in the web app yet: use the command line (facetrail --help) or the REST API."

_TASKS: tuple[Task, ...] = (
    Task(
        Role.INVESTIGATOR,
        "New search",
        "/searches/new",
        "Search a probe photo under a case number, offense and justification.",
    ),
    Task(
        Role.INVESTIGATOR,
        "Your searches",
        "/searches",
        "Results, pending approvals, candidate reviews and outcomes of the searches you asked.",
    ),
    Task(
        Role.SUPERVISOR,
        "Searches awaiting approval",
        "/approvals",
        "Read why each search is asked for, then approve or deny it.",
    ),
    Task(
        Role.AGENCY_HEAD,
        "Agency oversight",
        None,
        f"Every user and search of your agency, digests and misuse alerts. {_ELSEWHERE}",
    ),
    Task(
        Role.AUDITOR, "Audit log", None, f"Browse and verify the tamper-evident log. {_ELSEWHERE}"
    ),
    Task(
        Role.GALLERY_ADMIN,
        "Galleries",
        None,
        f"Lawful sources, ingestion, opt-out, erasure and retention. {_ELSEWHERE}",
    ),
    Task(
        Role.NETWORK_OPERATOR,
        "Searches for member agencies",
        None,
        f"Searches run on behalf of member agencies. {_ELSEWHERE}",
    ),
    Task(Role.SYSTEM_ADMIN, "Installation", None, f"Accounts, agencies and models. {_ELSEWHERE}"),
    Task(None, "Inbox", "/inbox", "Your notifications: approvals, decisions, account changes."),
)


def tasks_for(principal: Principal) -> tuple[Task, ...]:
    """The tasks of the person's roles, then those everyone has."""
    return tuple(t for t in _TASKS if t.role is None or principal.has(t.role))
