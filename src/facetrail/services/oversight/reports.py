"""Transparency reports: for an agency or a network, for a calendar month, what face search was
used for and how it turned out, with no personal data: searches by offense and outcome,
approvals and denials, leads, how many people searched, alerts raised and closed, erasures,
retention purges, every relaxation of the agency's oversight proposed or decided (what it
relaxed, its dates, the role of the second person who decided it), the crowd probes refused,
held, approved, denied and run, and the searches under offense categories marked as close to
protected activity (``_report_protected``), and the measured
accuracy of the model packs in use (with and without masks, by group, from the recorded
evaluations). And the table reporters could otherwise
only build from a leaked customer list: every agency with access, since when, and the
network it reaches facetrail through.

Every figure is counted from the typed audit events of the period (``governance.events``),
read by the indexed agency column: a network operator's search for a member agency counts in
the member's report (and in the network's, which sums its members), never as the operator's
own agency's. Erasures and retention purges concern galleries, which agencies share: they are
counted across facetrail.

What a public figure may not tell: which search happened when, or what one search was.

- A report covers one calendar month (UTC), and only one that is over: a period of a minute
  would show one search, two overlapping periods would show their difference, and a month
  still under way would change with each search. Months never overlap, so no two reports
  differ by less than a month; a longer period is the sum of its months.
- A count from 1 to 4 is published as ``"<5"`` (``FEWER_THAN_5``); 0 and counts from 5 are
  published as they are. A breakdown (by offense, outcome or alert rule) has its total
  published elsewhere, and the total less the shown counts could give a hidden one away: its
  smallest counts of 5 or more are then withheld too, as ``">=5"`` (``WITHHELD``), until none
  can be worked out (``published_breakdown``; where every count above 0 is hidden or withheld
  already, a small total may still tell). The crowd probes' steps are no breakdown of a
  published total (the probes still waiting are published nowhere): each is ``published``.

Authorisation: none: reports are public by design. Audit: none for reading (as the public
checkpoints); the figures come from the log, which anyone with a report can hold the
agency to.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError, NotFoundError
from facetrail.governance.events import (
    ERASURE_STEPS,
    AccountApproved,
    AccountCreated,
    AgencyCreated,
    AlertClosed,
    AlertRaised,
    ErasureDone,
    Event,
    OutcomeRecorded,
    RetentionPurged,
    SearchApproved,
    SearchDenied,
    SearchRequested,
    read_events,
)
from facetrail.governance.policy import Policy
from facetrail.services.accounts import current_policy
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.oversight._report_accuracy import PackEvaluation, evaluations
from facetrail.services.oversight._report_protected import crowd_probes, marked_offenses
from facetrail.services.oversight.policy_proposals import OversightRelaxation, relaxations_in
from facetrail.services.searching._suppression import (
    FEWER_THAN_5,
    SMALLEST_SHOWN,
    WITHHELD,
    Count,
    published,
    published_breakdown,
)
from facetrail.store.schema import (
    Agency,
    AuditEntryRow,
    Network,
    User,
)

__all__ = [
    "FEWER_THAN_5",
    "SMALLEST_SHOWN",
    "WITHHELD",
    "AgencyAccess",
    "Count",
    "OversightRelaxation",
    "PackEvaluation",
    "TransparencyReport",
    "access_table",
    "published",
    "published_breakdown",
    "report_month",
    "transparency_report",
]

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class AgencyAccess:
    agency: str
    network: str | None
    since: str | None


@dataclass(frozen=True)
class TransparencyReport:
    scope: str  # "agency" or "network"
    name: str
    agencies: list[str]
    #: the calendar month reported on (YYYY-MM), from its first day to the next month's
    month: str
    period_from: str
    period_to: str
    generated_at: str
    searches: Count
    searches_by_offense: dict[str, Count]
    #: lead, no_lead, or open (no outcome recorded by the report's end)
    searches_by_outcome: dict[str, Count]
    #: searches run for the agency by a network operator of another agency
    searches_by_network: Count
    approvals: Count
    denials: Count
    leads: Count
    searchers: Count
    new_accounts: Count
    alerts_raised: Count
    alerts_by_rule: dict[str, Count]
    alerts_closed: Count
    erasures: Count
    retention_purges: Count
    evaluations: list[PackEvaluation] = field(default_factory=list)
    #: relaxations of the oversight proposed or decided in the month, with their dates
    oversight_relaxations: list[OversightRelaxation] = field(default_factory=list)
    #: the agencies' erasure requests: opened, approved (the matching ran), cancelled,
    #: completed; each approval is a search of every gallery for the person
    erasure_requests: dict[str, Count] = field(default_factory=dict)
    #: crowd probes: refused by the policy, held for approval, and of those held, approved,
    #: denied and run by the report's end (steps, each published alone)
    crowd_probes: dict[str, Count] = field(default_factory=dict)
    #: searches under an offense category the policy marked as close to protected activity
    protected_searches: Count = 0
    protected_by_offense: dict[str, Count] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, Count | float]]:
        """(figure, breakdown, value) for every figure: what the CSV holds."""
        out: list[tuple[str, str, Count | float]] = [
            ("searches", "", self.searches),
            ("searches_by_network", "", self.searches_by_network),
            ("approvals", "", self.approvals),
            ("denials", "", self.denials),
            ("leads", "", self.leads),
            ("searchers", "", self.searchers),
            ("new_accounts", "", self.new_accounts),
            ("alerts_raised", "", self.alerts_raised),
            ("alerts_closed", "", self.alerts_closed),
            ("erasures", "", self.erasures),
            ("retention_purges", "", self.retention_purges),
            ("protected_searches", "", self.protected_searches),
        ]
        out += [("searches_by_offense", k, v) for k, v in sorted(self.searches_by_offense.items())]
        out += [("searches_by_outcome", k, v) for k, v in sorted(self.searches_by_outcome.items())]
        out += [("alerts_by_rule", k, v) for k, v in sorted(self.alerts_by_rule.items())]
        out += [("erasure_requests", k, v) for k, v in self.erasure_requests.items()]
        out += [("crowd_probes", k, v) for k, v in self.crowd_probes.items()]
        out += [
            ("protected_by_offense", k, v) for k, v in sorted(self.protected_by_offense.items())
        ]
        out += [("oversight_relaxed", r.said(), 1) for r in self.oversight_relaxations]
        for e in self.evaluations:
            where = f"{e.pack} mask={e.mask}"
            out += [("rank1", where, e.rank1), ("fnir_at_fpir_1pc", where, e.fnir_at_fpir_1pc)]
            for key, per in sorted(e.groups.items()):
                for value, g in sorted(per.items()):
                    out.append(("group_fnir", f"{where} {key}={value}", g.get("fnir", 0.0)))
        return out


def _events(
    session: Session, kinds: list[type[Event]], agencies: list[str], since: str, until: str
) -> list[Event]:
    return read_events(session, kinds, agencies=agencies, since=since, until=until)


def transparency_report(
    ctx: AppContext,
    *,
    agency: str | None = None,
    network: str | None = None,
    month: str | None = None,
    now: datetime | None = None,
) -> TransparencyReport:
    """The report of one agency, or of a network (its member agencies together), for a
    calendar ``month`` (YYYY-MM) that is over; by default the last one. Small counts are
    hidden (see the module's docstring). Public: no authorisation, no personal data."""
    if (agency is None) == (network is None):
        raise InvalidRequestError("name an agency or a network", subject="agency")
    since, until = report_month(month, now or utc_now())
    with ctx.sessions() as session:
        counted = _counted(session, agency, network, since, until)
    return _published(counted)


def report_month(month: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[the first moment of ``month`` (YYYY-MM, UTC), that of the next): the period a public
    report covers; by default the last month over at ``now``. A month not over yet is
    refused (``InvalidRequestError``), and so is anything but a month."""
    this_month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if month is None:
        return (this_month - timedelta(days=1)).replace(day=1), this_month
    found = _MONTH.fullmatch(month.strip())
    if found is None or not 1 <= int(found[2]) <= 12:
        raise InvalidRequestError(
            "a public report covers one calendar month: YYYY-MM", subject="month"
        )
    since = datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)
    until = (since + timedelta(days=32)).replace(day=1)
    if until > now:
        raise InvalidRequestError(
            f"{month} is not over yet: a report covers a month that is over (its figures "
            "would change with each search)",
            subject="month",
        )
    return since, until


def _published(report: TransparencyReport) -> TransparencyReport:
    def one(count: Count) -> Count:
        return published(count) if isinstance(count, int) else count

    def cells(breakdown: dict[str, Count]) -> dict[str, Count]:
        return published_breakdown({k: int(v) for k, v in breakdown.items()})

    return replace(
        report,
        searches=one(report.searches),
        searches_by_offense=cells(report.searches_by_offense),
        searches_by_outcome=cells(report.searches_by_outcome),
        searches_by_network=one(report.searches_by_network),
        approvals=one(report.approvals),
        denials=one(report.denials),
        leads=one(report.leads),
        searchers=one(report.searchers),
        new_accounts=one(report.new_accounts),
        alerts_raised=one(report.alerts_raised),
        alerts_by_rule=cells(report.alerts_by_rule),
        alerts_closed=one(report.alerts_closed),
        erasures=one(report.erasures),
        retention_purges=one(report.retention_purges),
        erasure_requests=cells(report.erasure_requests),
        crowd_probes={k: one(v) for k, v in report.crowd_probes.items()},
        protected_searches=one(report.protected_searches),
        protected_by_offense=cells(report.protected_by_offense),
    )


def _counted(
    session: Session, agency: str | None, network: str | None, since: datetime, until: datetime
) -> TransparencyReport:
    """The report with every count as it is (``_published`` hides the small ones)."""
    start, end = since.isoformat(), until.isoformat()
    names, policies = _scope(session, agency, network)
    searches = [
        e
        for e in _events(session, [SearchRequested], names, start, end)
        if isinstance(e, SearchRequested)
    ]
    ids = {e.search_id for e in searches}
    outcomes = {
        e.search_id: e.outcome
        for e in _events(session, [OutcomeRecorded], names, start, utc_now().isoformat())
        if isinstance(e, OutcomeRecorded) and e.search_id in ids and e.at < end
    }
    in_period = _events(
        session,
        [SearchApproved, SearchDenied, OutcomeRecorded, AccountCreated, AccountApproved],
        names,
        start,
        end,
    )
    raised = [
        e for e in _events(session, [AlertRaised], names, start, end) if isinstance(e, AlertRaised)
    ]
    closed = _events(session, [AlertClosed], names, start, end)
    members = _own_agencies(session, {e.actor for e in searches})
    return TransparencyReport(
        scope="agency" if agency is not None else "network",
        name=agency or network or "",
        agencies=names,
        month=f"{since:%Y-%m}",
        period_from=start,
        period_to=end,
        generated_at=utc_now().isoformat(timespec="seconds"),
        searches=len(searches),
        searches_by_offense=dict(Counter(e.offense for e in searches)),
        searches_by_outcome=dict(Counter(outcomes.get(e.search_id, "open") for e in searches)),
        searches_by_network=sum(1 for e in searches if members.get(e.actor) != e.agency),
        approvals=sum(1 for e in in_period if isinstance(e, SearchApproved)),
        denials=sum(1 for e in in_period if isinstance(e, SearchDenied)),
        leads=sum(1 for e in in_period if isinstance(e, OutcomeRecorded) and e.outcome == "lead"),
        searchers=len({e.actor for e in searches}),
        new_accounts=len(
            {e.username for e in in_period if isinstance(e, AccountCreated | AccountApproved)}
        ),
        alerts_raised=len(raised),
        alerts_by_rule=dict(Counter(e.rule for e in raised)),
        alerts_closed=len(closed),
        # Gallery-wide: counted across facetrail, not by agency.
        erasures=len(read_events(session, [ErasureDone], since=start, until=end)),
        retention_purges=len(read_events(session, [RetentionPurged], since=start, until=end)),
        evaluations=evaluations(session, policies),
        oversight_relaxations=relaxations_in(session, names, start, end),
        erasure_requests=_erasure_requests(session, names, start, end),
        crowd_probes=crowd_probes(session, searches, names, start, end),
        protected_searches=sum(1 for e in searches if e.protected),
        protected_by_offense=marked_offenses(searches),
    )


def _erasure_requests(session: Session, names: list[str], start: str, end: str) -> dict[str, Count]:
    """How many of the agencies' erasure requests took each step in the period."""
    return {step: len(_events(session, [kind], names, start, end)) for step, kind in ERASURE_STEPS}


def _scope(
    session: Session, agency: str | None, network: str | None
) -> tuple[list[str], list[Policy]]:
    if agency is not None:
        rows = list(session.scalars(select(Agency).where(Agency.name == agency)))
        if not rows:
            raise NotFoundError("no such agency", subject=agency)
    else:
        network_id = session.scalar(select(Network.id).where(Network.name == network))
        if network_id is None:
            raise NotFoundError("no such network", subject=str(network))
        rows = list(
            session.scalars(
                select(Agency).where(Agency.network_id == network_id).order_by(Agency.name)
            )
        )
    return [a.name for a in rows], [current_policy(session, a.id)[1] for a in rows]


def _own_agencies(session: Session, usernames: set[str]) -> dict[str, str]:
    """username -> their own agency's name (an operator's is another than the search's)."""
    return dict(
        session.execute(
            select(User.username, Agency.name)
            .join(Agency, Agency.id == User.agency_id)
            .where(User.username.in_(sorted(usernames)))
        ).all()
    )


def access_table(ctx: AppContext) -> list[AgencyAccess]:
    """Every agency with access to facetrail, since when, and the network it reaches it
    through (from each agency's ``agency.create`` entry and its current network)."""
    with ctx.sessions() as session:
        created = {e.name: e.at for e in read_events(session, [AgencyCreated])}
        # The first agency comes with the installation (its system admin's).
        for subject, at in session.execute(
            select(AuditEntryRow.subject, AuditEntryRow.at).where(
                AuditEntryRow.kind == "system.init"
            )
        ):
            created.setdefault(subject, at)
        rows = session.execute(
            select(Agency.name, Network.name)
            .outerjoin(Network, Network.id == Agency.network_id)
            .order_by(Agency.name)
        ).all()
    return [AgencyAccess(name, network, created.get(name)) for name, network in rows]
