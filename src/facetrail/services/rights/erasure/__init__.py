"""Erasure on request, under four eyes: a person asks to be removed from every gallery, and
gets a receipt.

1. ``open_erasure``: a gallery admin records the request (a reference, how the person's
   identity was checked, whether they consent to an opt-out template being kept) with their
   photos, kept as blobs while the request runs. Nothing is matched yet: the request waits
   (``requested``), and the opener's agency head and the privacy officers are told.
2. ``approve_erasure``: a second person (the opener's agency head or a privacy officer, never
   the opener) lets the matching run: facetrail finds the person's faces in every gallery at a
   strict threshold (a false match rate of at most ``ERASURE_MATCH_FMR``). Approvals count
   against the agency's daily search limit, and are reported like searches.
3. ``decide_matches``: a gallery admin confirms or rejects each face found, seeing its crop
   beside the request photos (``match_crop``, ``request_photo``).
4. ``complete_erasure``: a second person (head or privacy officer, not whoever decided)
   confirms the decisions. An image that is a candidate or lead of an open case is held
   (``services.rights.legal_holds``) until its agency's head decides. The confirmed faces' images
   go, with all their faces, templates, index entries and blobs (``services.rights._purge``); search
   results that showed them keep a tombstone; with consent the confirmed faces' templates (or,
   with no face confirmed, the approved request photos') move to the opt-out list, without it
   nothing of theirs is kept. The receipt lists what was removed by hash and is signed by the
   audit log's key: ``open_receipt`` checks it offline. The request photos go at the end.

Audit: ``erasure.open``, ``erasure.approve``, ``erasure.decide``, ``erasure.done``,
``erasure.cancel``, ``erasure.view``, ``erasure.list`` and ``erasure.crop_view`` (hashes and
counts, never a face or a template), refusals too.
"""

from __future__ import annotations

from facetrail.services.rights.erasure._views import (
    ErasureRequest,
    ErasureSummary,
    ErasureView,
    MatchView,
)
from facetrail.services.rights.erasure.completion import complete_erasure
from facetrail.services.rights.erasure.reads import (
    list_erasures,
    match_crop,
    request_photo,
    show_erasure,
)
from facetrail.services.rights.erasure.requests import (
    MAX_PHOTOS,
    approve_erasure,
    cancel_erasure,
    decide_matches,
    may_open,
    open_erasure,
)
from facetrail.services.searching._blocklist import ERASURE_MATCH_FMR

__all__ = [
    "ERASURE_MATCH_FMR",
    "MAX_PHOTOS",
    "ErasureRequest",
    "ErasureSummary",
    "ErasureView",
    "MatchView",
    "approve_erasure",
    "cancel_erasure",
    "complete_erasure",
    "decide_matches",
    "list_erasures",
    "match_crop",
    "may_open",
    "open_erasure",
    "request_photo",
    "show_erasure",
]
