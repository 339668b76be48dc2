"""What waits for a person: the counts the navigation shows beside each queue (reviews,
approvals, alerts, erasure decisions, account requests), so that nobody needs a colleague to
send them an address.

Authorisation: a person's own counts, read as the database says now
(``authorization.actor_of``: a suspended account waits for nothing); each count applies the
authority module's rule for the step it counts (``may_decide_search``, ``may_handle_alerts``,
``may_approve_erasure``, ``may_approve_account``, ``Permission.REVIEW_CANDIDATES``). Audit:
none. A count names no search, person or face; the queue it leads to is the audited read
(``review.queue``, ``search.queue``, ``alert.list``, ``erasure.list``, ``account.list``), and
writing an entry for every page's navigation would bury the log in noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.errors import AccountInactiveError
from facetrail.governance.credentials import Principal
from facetrail.services.accounts.account_approval import count_accounts_waiting
from facetrail.services.authorization import actor_of
from facetrail.services.context import AppContext
from facetrail.services.oversight.alerts import count_alerts_waiting
from facetrail.services.rights.erasure.reads import count_erasures_waiting
from facetrail.services.searching.listings import count_approvals_waiting
from facetrail.services.searching.review_queue import count_reviews_waiting

__all__ = ["QUEUES", "Waiting", "work_waiting"]

#: The queues counted, as ``Waiting``'s fields name them.
QUEUES = ("reviews", "approvals", "alerts", "erasures", "accounts")


@dataclass(frozen=True)
class Waiting:
    """How many things wait for one person's step, queue by queue."""

    #: searches with candidates waiting for their review (second reviews included)
    reviews: int = 0
    #: pending searches they may approve or deny
    approvals: int = 0
    #: open alerts of their agency they may acknowledge (none about themselves)
    alerts: int = 0
    #: erasure requests waiting for a step they may take
    erasures: int = 0
    #: requested accounts they may approve
    accounts: int = 0

    def of(self, queue: str) -> int:
        """The count of one queue (a name in ``QUEUES``)."""
        if queue not in QUEUES:
            raise ValueError(f"no queue {queue!r}")
        return int(getattr(self, queue))

    @property
    def total(self) -> int:
        return sum(self.of(q) for q in QUEUES)


def work_waiting(ctx: AppContext, actor: Principal) -> Waiting:
    """The person's counts, read in one transaction (see the module: not audited)."""
    with ctx.sessions() as session:
        try:
            who = actor_of(session, actor.user_id, actor.username)
        except AccountInactiveError:
            return Waiting()
        return Waiting(
            reviews=count_reviews_waiting(session, who),
            approvals=count_approvals_waiting(session, who),
            alerts=count_alerts_waiting(session, who, actor.username),
            erasures=count_erasures_waiting(session, who),
            accounts=count_accounts_waiting(session, who),
        )
