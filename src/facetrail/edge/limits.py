"""Rate limits of sign-in and search, per account and per client address (``limits``).

Counted in the configured store: per worker process by default, shared by every worker with a
store such as Redis. They come on top of what the database enforces for every client (the
lockout after failed sign-ins, each agency's daily search limit). A request over a limit is
refused as ``rate_limited`` (429, with ``Retry-After``) and the refusal is audited."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse_many, storage, strategies
from redis.exceptions import RedisError

from facetrail.errors import RateLimitedError, RateLimitStoreError
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import First, record_refusal

__all__ = ["RateLimits", "check"]

log = logging.getLogger("facetrail.api")


@dataclass
class RateLimits:
    limiter: strategies.MovingWindowRateLimiter
    rules: dict[str, list[RateLimitItem]]

    @classmethod
    def configured(cls, ctx: AppContext) -> RateLimits:
        settings = ctx.settings
        store = storage.storage_from_string(settings.rate_limit_storage)
        return cls(
            strategies.MovingWindowRateLimiter(store),
            {
                "login": parse_many(settings.login_rate_limit),
                "search": parse_many(settings.search_rate_limit),
            },
        )

    def over(self, kind: str, keys: list[str]) -> int | None:
        """Count one more ``kind`` for each key; seconds to wait if any limit is exceeded. A
        shared store out of reach lets nothing through uncounted: ``RateLimitStoreError``
        (503, said in one line of the log)."""
        try:
            for rule in self.rules[kind]:
                for key in keys:
                    if not self.limiter.hit(rule, kind, key):
                        reset = self.limiter.get_window_stats(rule, kind, key).reset_time
                        return max(1, math.ceil(reset - time.time()))
        except RedisError as exc:
            log.error("rate limit store unavailable: %s: %s", type(exc).__name__, exc)
            raise RateLimitStoreError(
                "the store the rate limits are counted in cannot be reached: nothing was "
                "done; try again in a few seconds",
                subject="rate limits",
            ) from exc
        return None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check(
    request: Request,
    ctx: AppContext,
    kind: str,
    username: str,
    audit_kind: str,
    *,
    first: First | None = None,
) -> None:
    """Refuse (audited as ``<audit_kind>.refused``, after ``first``: see ``action``) when
    ``username`` or this client's address is over the ``kind`` limit."""
    limits: RateLimits = request.app.state.limits
    address = client_address(request)
    wait = limits.over(kind, [f"user:{username}", f"address:{address}"])
    if wait is None:
        return
    error = RateLimitedError(f"too many {kind} requests; try again in {wait} s", subject=username)
    error.retry_after = wait
    # Names tried from one address are one flood (a script guessing passwords).
    source = f"address:{address}" if kind == "login" else None
    details: dict[str, object] = {"address": address}
    record_refusal(ctx, username, audit_kind, username, error, details, first=first, source=source)
    raise error
