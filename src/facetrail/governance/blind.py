"""Blind review: who may see a reviewer's call on a candidate.

A call stays hidden from everyone but the person who made it until every call the search
needs on that candidate is in (two where the policy asks for a second review, else one): a
second reviewer, a head reading the audit log or a supervisor exporting the case all see it
only then, or once they have made their own call. Every path that shows a call (results,
exports, the case disclosure, audit entries) asks ``call_visible``, through
``services.searching.results.reviews_seen_by``.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["HIDDEN", "call_visible"]

#: What a hidden call reads as, where its place is shown.
HIDDEN = "hidden until the review of this candidate is complete (blind review)"


def call_visible(viewer_id: int, reviewers: Collection[int], calls_needed: int) -> bool:
    """May ``viewer_id`` see the calls made on a candidate by ``reviewers`` (their user ids,
    one per call made), when the search needs ``calls_needed`` calls on it?"""
    return len(reviewers) >= calls_needed or viewer_id in reviewers
