"""What each role can do, as the web app offers it: the header's links and the home page's
list. A task is offered to whoever holds its permission, as the authority module grants it
(``governance.authority``), or, where no permission says it alone, to the roles named. Links
only lead to pages; whether an action is allowed is decided by the service the page calls,
never here."""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.governance.authority import Actor, Permission, may
from facetrail.governance.credentials import Principal, Role

__all__ = ["Task", "tasks_for"]


@dataclass(frozen=True)
class Task:
    #: who is offered it: those holding the permission, or any one of the roles (empty:
    #: everyone)
    roles: Permission | tuple[Role, ...]
    title: str
    #: the page that does it, or None where the web app does not offer it yet
    href: str | None
    summary: str
    #: the queue whose count the navigation shows beside it (``services.waiting.QUEUES``)
    queue: str | None = None


_ELSEWHERE = "Not in the web app yet: use the command line (facetrail --help) or the REST API."

_TASKS: tuple[Task, ...] = (
    Task(
        (Role.INVESTIGATOR,),
        "New search",
        "/searches/new",
        "Search a probe photo under a case number, offense and justification.",
    ),
    Task(
        (Role.NETWORK_OPERATOR,),
        "Search for a member agency",
        "/searches/new",
        "Search a probe photo on behalf of a member agency of your network, under its policy.",
    ),
    Task(
        Permission.SEARCH,
        "Your searches",
        "/searches",
        "Results, pending approvals, candidate reviews and outcomes of the searches you asked.",
    ),
    Task(
        Permission.REVIEW_CANDIDATES,
        "Reviews waiting",
        "/reviews",
        "Searches of your agency with candidates waiting for your review, second reviews first.",
        "reviews",
    ),
    Task(
        (Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_HEAD, Role.AUDITOR),
        "Cases",
        "/cases",
        "A case's every search, review, outcome and disclosure, and its disclosure to print.",
    ),
    Task(
        Permission.DECIDE_SEARCHES,
        "Searches awaiting approval",
        "/approvals",
        "Read why each search is asked for, then approve or deny it.",
        "approvals",
    ),
    Task(
        (Role.AGENCY_HEAD,),
        "Agency policy",
        "/policy",
        "What your agency may search for and how, every change and what it relaxed.",
    ),
    Task(
        (Role.AGENCY_HEAD, Role.SUPERVISOR, Role.AUDITOR),
        "Agency searches",
        "/agency/searches",
        "Every search of your agency by case, state and date.",
    ),
    Task(
        (Role.AGENCY_HEAD, Role.AUDITOR),
        "Oversight",
        "/agency/oversight",
        "Every person and search of your agency, your network's searches for it among them, "
        "and the digest.",
    ),
    Task(
        (Role.AGENCY_HEAD, Role.AUDITOR),
        "Alerts",
        "/alerts",
        "Misuse alerts raised from your agency's searches: acknowledge and close them.",
        "alerts",
    ),
    Task(
        (Role.AGENCY_HEAD, Role.SUPERVISOR, Role.AUDITOR, Role.SYSTEM_ADMIN),
        "People",
        "/agency/people",
        "Your agency's accounts with their status and roles (a system admin: everyone's), "
        "and the requests for new ones to approve.",
        "accounts",
    ),
    Task(
        Permission.READ_AUDIT_LOG,
        "Audit log",
        "/audit",
        "Browse the tamper-evident log, verify it and prove any entry is in it.",
    ),
    Task(
        Permission.MANAGE_GALLERIES,
        "Galleries",
        "/galleries",
        "Galleries, their lawful sources with legal basis and retention, and ingestion.",
    ),
    Task(
        Permission.MANAGE_JOBS,
        "Ingestion jobs",
        "/jobs",
        "Folders being ingested in the background: progress, results, cancelling.",
    ),
    Task(
        Permission.READ_ERASURES,
        "Erasure and retention",
        "/erasures",
        "A person's request to be removed, approved by a second person, with a signed "
        "receipt; sources' retention.",
        "erasures",
    ),
    Task(
        Permission.DECIDE_HOLDS,
        "Legal holds",
        "/holds",
        "Images of your open cases that an erasure or retention would remove: keep or release.",
    ),
    Task(
        (Role.SYSTEM_ADMIN, Role.NETWORK_OPERATOR),
        "Agencies",
        "/agencies",
        "Agencies and networks: their heads, people and policy versions; a system admin "
        "creates them.",
    ),
    Task(
        (Role.SYSTEM_ADMIN,),
        "Installation",
        None,
        f"Model packs, keys, witnesses and backups. {_ELSEWHERE}",
    ),
    Task((), "Inbox", "/inbox", "Your notifications: approvals, decisions, account changes."),
)


def tasks_for(principal: Principal) -> tuple[Task, ...]:
    """The tasks of the person's roles, then those everyone has."""
    actor = Actor(principal.user_id, principal.agency_id, principal.roles)
    return tuple(t for t in _TASKS if _offered(t, actor, principal))


def _offered(task: Task, actor: Actor, principal: Principal) -> bool:
    if isinstance(task.roles, Permission):
        return may(actor, task.roles)
    return not task.roles or principal.has_any(*task.roles)
