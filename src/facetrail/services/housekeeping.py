"""Housekeeping that keeps promises made elsewhere: what an erasure or retention purge left
to do after its commit (a crash in between) is done, probe images are deleted when their
retention ends, approved searches stranded by a crash are run, signed audit checkpoints
are made periodically, queued e-mail is retried, and photos no row holds (left by an action
refused, failed or crashed before its commit) are deleted once a day.

Every signed-in CLI command runs it on exit (the web service will run it on a timer).
Authorisation: internal. Audit: purges and checkpoints are entries (see the functions called).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from facetrail.services.audit.log import checkpoint_if_due
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox
from facetrail.services.rights._orphans import sweep_orphans
from facetrail.services.rights._purge import finish_purges
from facetrail.services.rights.retention import purge_expired_probes
from facetrail.services.searching.search import resume_stranded


@dataclass(frozen=True)
class HousekeepingReport:
    searches_purged: int
    checkpoint_size: int | None
    emails_sent: int
    #: approved searches whose run had never completed (a crash in between), run now
    searches_resumed: int = 0
    #: photos no row held, left by an action refused, failed or crashed before its commit
    orphan_blobs_deleted: int = 0


def housekeeping(ctx: AppContext, *, now: datetime | None = None) -> HousekeepingReport:
    ctx.write_floods()  # the repeated refusals of minutes that are over, one entry each
    finish_purges(ctx)
    purged = purge_expired_probes(ctx, now=now)
    resumed = resume_stranded(ctx)
    checkpoint = checkpoint_if_due(ctx, now=now)
    sent = deliver_outbox(ctx)
    orphans = sweep_orphans(ctx, now=now)
    return HousekeepingReport(
        purged, checkpoint.tree_size if checkpoint else None, sent, resumed, orphans
    )
