"""What a public report tells of face search near protected activity (issue 25): the crowd
probes (photos of a demonstration or an assembly: more faces fit to search than the policy's
``crowd_faces``), step by step, and the searches under offense categories the agency's policy
marked as close to protected activity. Private to ``reports``.

- ``refused``: ``search.refused`` entries with the code ``crowd_probe`` (the policy refuses
  crowd probes: nothing of the search was stored);
- ``held``: searches asked in the month that were crowd probes, held for a supervisor's
  approval (``search.request`` with ``crowd``);
- ``approved``, ``denied``, ``run``: of those, the ones approved, denied, and run, by the
  report's end (as a search's outcome is counted: a crowd probe decided the next month shows as
  neither in this month's report);
- the searches whose ``search.request`` says ``protected``: its offense was marked in the
  policy in force when it was asked (a mark added or lifted later changes nothing), and by
  offense.

How they are published: the crowd steps are not a breakdown of a published total (a refused
probe was never a search, a held one may still wait, a run one was approved first), and what
they leave out (the probes still waiting) is published nowhere, so no hidden step can be worked
out from the others: each is ``published`` alone (1 to 4 as ``"<5"``). The marked searches by
offense do add up to a published total (``protected_searches``), so they are published as a
breakdown (``published_breakdown``), as the searches by offense are.
"""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import CrowdProbeError
from facetrail.governance.events import (
    SearchApproved,
    SearchDenied,
    SearchRan,
    SearchRequested,
    read_events,
)
from facetrail.services.audit.refusal_floods import refusals_in
from facetrail.services.searching._suppression import Count
from facetrail.store.schema import AuditEntryRow

__all__ = ["crowd_probes", "marked_offenses"]


def crowd_probes(
    session: Session,
    searches: list[SearchRequested],
    agencies: list[str],
    since: str,
    until: str,
) -> dict[str, Count]:
    """How many crowd probes of ``agencies`` took each step (refused, held, approved, denied,
    run, in that order) in [``since``, ``until``); ``searches``: their ``search.request``
    events of that period."""
    held = {e.search_id for e in searches if e.crowd}
    decided: list[SearchApproved | SearchDenied | SearchRan] = read_events(
        session,
        [SearchApproved, SearchDenied, SearchRan],
        agencies=agencies,
        since=since,
        until=until,
    )

    def took(kind: type[SearchApproved | SearchDenied | SearchRan]) -> int:
        return len({e.search_id for e in decided if isinstance(e, kind) and e.search_id in held})

    return {
        "refused": _refused(session, agencies, since, until),
        "held": len(held),
        "approved": took(SearchApproved),
        "denied": took(SearchDenied),
        "run": took(SearchRan),
    }


def marked_offenses(searches: list[SearchRequested]) -> dict[str, Count]:
    """The searches asked under an offense category their policy marked as close to
    protected activity, by offense."""
    return dict(Counter(e.offense for e in searches if e.protected))


def _refused(session: Session, agencies: list[str], since: str, until: str) -> int:
    """The crowd probes the policy refused: ``search.refused`` entries have no typed event,
    and a refusal for another reason (the daily limit, a gallery) is not a crowd probe; an
    entry for a minute of repeated refusals stands for as many (``refusals_in``)."""
    details = session.scalars(
        select(AuditEntryRow.details).where(
            AuditEntryRow.kind == "search.refused",
            AuditEntryRow.agency.in_(agencies),
            AuditEntryRow.at >= since,
            AuditEntryRow.at < until,
        )
    )
    found = [json.loads(d) for d in details]
    return sum(refusals_in(d) for d in found if d.get("code") == CrowdProbeError.code)
