"""An agency's use over time, for its head and auditors to look at rather than read: searches
per day (or week, over a longer period), by person and by offense, supervisors' decisions and
misuse alerts raised, for a period and optionally one person or one offense.

Counted from the typed audit events (``governance.events``), so the figures are the log's
own: a search is counted when it was asked for (``search.request``), a decision when it was
made, an alert when it was raised.

Authorisation: the agency's head and auditors, or a system admin
(``governance.authority.may_oversee_agency``); another agency answers as not found. Audit:
``oversight.trends`` with the period and filters, refusals too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select

from facetrail.errors import InvalidRequestError, NotFoundError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may_oversee_agency
from facetrail.governance.credentials import Principal
from facetrail.governance.events import (
    AlertRaised,
    Event,
    SearchApproved,
    SearchDenied,
    SearchRequested,
    read_events,
)
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import action
from facetrail.store.schema import Agency

__all__ = ["DAILY_UP_TO_DAYS", "MAX_DAYS", "Trends", "agency_trends"]

E = TypeVar("E", bound=Event)

#: Periods up to this many days are counted per day; longer ones per week.
DAILY_UP_TO_DAYS = 62
#: The longest period counted at once.
MAX_DAYS = 731


@dataclass(frozen=True)
class Trends:
    agency: str
    since: str
    until: str
    #: "day" or "week": what each of ``searches``' buckets counts
    bucket: str
    #: bucket (its first day, YYYY-MM-DD) -> searches asked for in it, every bucket listed
    searches: dict[str, int]
    by_person: dict[str, int]
    by_offense: dict[str, int]
    #: "approved" / "denied" -> supervisors' decisions in the period
    decisions: dict[str, int]
    #: rule -> alerts raised in the period
    alerts: dict[str, int]
    #: the filters' choices: everyone who searched for the agency, every offense searched for
    people: list[str]
    offenses: list[str]
    person: str | None = None
    offense: str | None = None

    @property
    def total(self) -> int:
        return sum(self.searches.values())


def agency_trends(
    ctx: AppContext,
    actor: Principal,
    since: datetime,
    until: datetime,
    *,
    agency: str | None = None,
    person: str | None = None,
    offense: str | None = None,
) -> Trends:
    """The agency's use in [since, until) (``agency``: the actor's own when not given),
    narrowed to one person or offense when given. Audited as ``oversight.trends``."""
    name = agency or actor.agency
    span: dict[str, object] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "person": person,
        "offense": offense,
    }
    with action(ctx, actor, "oversight.trends", name, Permission.USE_ACCOUNT, span) as (
        session,
        who,
    ):
        if since >= until:
            raise InvalidRequestError("the period ends before it starts", subject="until")
        if until - since > timedelta(days=MAX_DAYS):
            raise InvalidRequestError(f"a period is {MAX_DAYS} days at most", subject="since")
        row = session.scalar(select(Agency).where(Agency.name == name))
        if row is None or not may_oversee_agency(who, row.id):
            raise NotFoundError("no such agency", subject=name)

        def logged(kinds: Sequence[type[E]]) -> list[E]:
            return read_events(
                session, kinds, agencies=[name], since=since.isoformat(), until=until.isoformat()
            )

        asked = logged([SearchRequested])
        people = sorted({e.actor for e in asked})
        offenses = sorted({e.offense for e in asked})
        shown = [
            e
            for e in asked
            if (person is None or e.actor == person) and (offense is None or e.offense == offense)
        ]
        ids = {e.search_id for e in shown}
        decided = logged([SearchApproved, SearchDenied])
        raised = logged([AlertRaised])
        append(session, AuditEvent(actor.username, "oversight.trends", name, span, name))
    daily = until - since <= timedelta(days=DAILY_UP_TO_DAYS)
    return Trends(
        agency=name,
        since=since.isoformat(),
        until=until.isoformat(),
        bucket="day" if daily else "week",
        searches=_buckets([e.at for e in shown], since, until, daily=daily),
        by_person=dict(Counter(e.actor for e in shown)),
        by_offense=dict(Counter(e.offense for e in shown)),
        decisions=dict(
            Counter(
                "approved" if isinstance(e, SearchApproved) else "denied"
                for e in decided
                if e.search_id in ids or (person is None and offense is None)
            )
        ),
        alerts=dict(Counter(e.rule for e in raised)),
        people=people,
        offenses=offenses,
        person=person,
        offense=offense,
    )


def _buckets(times: list[str], since: datetime, until: datetime, *, daily: bool) -> dict[str, int]:
    """Every day (or week, from ``since``'s day) of the period with its count, zeros too."""
    step = timedelta(days=1 if daily else 7)
    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    found: dict[str, int] = {}
    at = start
    while at < until:
        found[at.date().isoformat()] = 0
        at += step
    for moment in times:
        day = datetime.fromisoformat(moment)
        offset = (day.replace(tzinfo=start.tzinfo) - start) // step
        key = (start + offset * step).date().isoformat()
        if key in found:
            found[key] += 1
    return found
