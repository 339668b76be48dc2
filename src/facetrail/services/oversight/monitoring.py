"""Monitoring: who may read the service's metrics (``/metrics``: requests by route and status,
and their latency, of one worker). Counted by route, they still show when each search, sign-in
or account request was made: no one reads them without signing in.

Authorisation: a system admin (``Permission.READ_METRICS``). Audit: the token's use is an
entry, as every use is (``auth.token.use``); a refusal is ``metrics.read.refused``.
"""

from __future__ import annotations

from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import require

__all__ = ["check_metrics_reader"]


def check_metrics_reader(ctx: AppContext, actor: Principal) -> None:
    """Refuse (audited) unless ``actor`` may read the service's metrics."""
    require(ctx, actor, "metrics.read", "metrics", Permission.READ_METRICS)
