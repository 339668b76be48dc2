"""Pairs of people who approve and review for each other far more than their colleagues do
(the ``pairs`` alert rule of ``governance.alerts``): pure counting over who acted with whom.

Each search counts once for the pair (requester, the supervisor who approved it), and once
for each pair (first reviewer, second reviewer) of its candidates: what two people need to do
together to turn a search into a lead under the four-eyes rules. A pair stands out when its
count is at least ``minimum`` and at least ``factor`` times the median count of the agency's
pairs who did any of it together.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PairCount", "Together", "standing_out"]


@dataclass(frozen=True)
class Together:
    """One search's acts of two people for each other."""

    search_id: int
    #: (requester, approver), if a supervisor approved it
    approval: tuple[str, str] | None
    #: (first reviewer, second reviewer) of its candidates
    second_reviews: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PairCount:
    people: tuple[str, str]
    count: int
    #: the median count of the agency's pairs who acted together at all
    median: float
    searches: tuple[int, ...]


def standing_out(acts: Iterable[Together], minimum: int, factor: float) -> list[PairCount]:
    """The pairs whose count is at least ``minimum`` and ``factor`` times the median pair's,
    in name order."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    searches: dict[tuple[str, str], set[int]] = defaultdict(set)
    for act in acts:
        pairs = [act.approval] if act.approval is not None else []
        pairs += sorted(set(act.second_reviews))
        for first, second in pairs:
            if first == second:
                continue
            pair = (min(first, second), max(first, second))
            counts[pair] += 1
            searches[pair].add(act.search_id)
    if not counts:
        return []
    median = statistics.median(counts.values())
    return [
        PairCount(pair, count, median, tuple(sorted(searches[pair])))
        for pair, count in sorted(counts.items())
        if count >= minimum and count >= factor * median
    ]
