"""How a public report hides the counts that could point at a person or a single search
(``services.oversight.reports``): counts from 1 to 4, and in a breakdown whose total is published,
the counts that would give a hidden one away. Pure functions of counts."""

from __future__ import annotations

__all__ = [
    "FEWER_THAN_5",
    "SMALLEST_SHOWN",
    "WITHHELD",
    "Count",
    "published",
    "published_breakdown",
]

#: A published count: a number, or ``FEWER_THAN_5`` or ``WITHHELD`` in its place.
Count = int | str
#: The smallest count published as it is (0 aside).
SMALLEST_SHOWN = 5
#: What a count from 1 to 4 is published as.
FEWER_THAN_5 = "<5"
#: What a count of 5 or more is published as where it would give a hidden count away.
WITHHELD = ">=5"


def published(count: int) -> Count:
    """A count as a public report shows it: 0, ``FEWER_THAN_5`` for 1 to 4, else itself."""
    return FEWER_THAN_5 if 0 < count < SMALLEST_SHOWN else count


def published_breakdown(cells: dict[str, int]) -> dict[str, Count]:
    """A breakdown as a public report shows it: each count ``published``. The breakdown's
    total is published too (the searches, the alerts raised), and the total less the shown
    counts could give a hidden one away: then the smallest shown counts are ``WITHHELD`` as
    well, one at a time, until no hidden count can be worked out exactly."""
    shown = {key: published(n) for key, n in cells.items()}
    hidden = [n for n in cells.values() if 0 < n < SMALLEST_SHOWN]
    withheld: list[int] = []
    for n, key in sorted((n, key) for key, n in cells.items() if n >= SMALLEST_SHOWN):
        if not hidden or not _worked_out(hidden, withheld):
            break
        shown[key] = WITHHELD
        withheld.append(n)
    return shown


def _worked_out(hidden: list[int], withheld: list[int]) -> bool:
    """Does the sum of the masked counts (the total less the shown ones) leave a hidden count
    only one value, each hidden one being 1 to 4 and each withheld one 5 or more?"""
    masked = sum(hidden) + sum(withheld)
    others = len(hidden) - 1
    least = others + SMALLEST_SHOWN * len(withheld)
    most = 4 * others if not withheld else masked
    return sum(1 for v in range(1, SMALLEST_SHOWN) if least <= masked - v <= most) < 2
