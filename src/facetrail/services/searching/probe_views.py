"""The probe face of a stored search, as a reviewer compares it with each candidate: the face
the search used, cut from the stored probe image (the crop a candidate shows, cut the same
way), for as long as the agency's probe retention keeps the image.

``show_result`` is the stored search as its page shows it: every candidate's face with the
probe's beside it, from one audited look (one ``search.view`` entry naming what it showed),
rather than an entry for the page and one more for each picture on it.

Authorisation: as the search itself is read (``services.searching.results``: its requester, or a
supervisor, investigator, head or auditor of its agency); another agency's search answers
exactly as a missing one. Audit: each crop served is a ``search.probe_view`` entry naming the
probe and its image's hash; every refusal (not readable, not run, no such probe, the image
deleted when its retention ended) is a ``search.probe_view.refused`` entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select

from facetrail.errors import NotFoundError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Principal
from facetrail.services.context import AppContext
from facetrail.services.searching._matching import crop
from facetrail.services.searching.results import load_result, viewing
from facetrail.services.searching.search_model import SearchResult
from facetrail.services.signin.tokens import TokenUse
from facetrail.services.unit_of_work import refusals_recorded
from facetrail.store.schema import SearchCandidate, SearchRecord

__all__ = ["PURGED", "ShownResult", "probe_crop", "show_result"]

_KIND = "search.probe_view"
#: What a probe whose image probe retention deleted answers (``NotFoundError``'s message).
PURGED = "the probe image is deleted: the agency's probe retention for this search has ended"


def probe_crop(ctx: AppContext, actor: Principal, search_id: int, probe_index: int = 0) -> bytes:
    """The face the search used in its probe number ``probe_index`` (0: the first), cut from
    the stored probe image with the margin a candidate's crop has, as JPEG. Read as the search
    is; audited as ``search.probe_view`` (refusals too); a search not run yet, a probe it does
    not have and one whose image retention deleted answer not found, the last as ``PURGED``."""
    subject = f"search:{search_id}"
    with viewing(ctx, actor, search_id, _KIND, {"probe": probe_index}) as (session, record):
        sha256, bbox = _searched_face(record, probe_index, subject)
        append(
            session,
            AuditEvent(actor.username, _KIND, subject, {"probe": probe_index, "image": sha256}),
        )
    with refusals_recorded(ctx, actor.username, _KIND, subject):
        return crop(ctx, sha256, bbox)


@dataclass(frozen=True)
class ShownResult:
    """A stored search as its page shows it."""

    #: the search, each candidate with its face (``crop_jpeg``; None for a person erased since)
    result: SearchResult
    #: the face the search used in its first probe, as JPEG; None when there is none to show
    probe_face: bytes | None
    #: why there is no probe face: retention deleted the probe image (``PURGED``), or None
    probe_gone: str | None


def show_result(
    ctx: AppContext, actor: Principal, search_id: int, *, token_use: TokenUse | None = None
) -> ShownResult:
    """The stored search with every candidate's face and the probe's, read as the search is,
    in one audited look: one ``search.view`` entry naming what was shown (how many candidates
    and faces, and whether the probe's face), refusals too. A stored photo found replaced on
    disk refuses the view (``search.view.refused``). ``token_use``: the session's token, checked
    again and named in that entry (``TokenUse.in_entry``), or in the refusal's."""
    subject = f"search:{search_id}"
    with viewing(ctx, actor, search_id, "search.view", first=token_use) as (session, record):
        kept = SearchCandidate.erased_at.is_(None)
        shown = session.execute(
            select(func.count(), func.count(SearchCandidate.id).filter(kept)).where(
                SearchCandidate.search_id == search_id
            )
        ).one()
        try:
            face = _searched_face(record, 0, subject)
            gone = None
        except NotFoundError:  # not run yet, or deleted by probe retention
            face, gone = None, (PURGED if record.probes_purged else None)
        details = {
            "shown": "result page",
            "candidates": int(shown[0]),
            "faces": int(shown[1]),
            "probe_face": face is not None,
        }
        if token_use is not None and token_use.in_entry:
            details["token"] = token_use.named
        append(session, AuditEvent(actor.username, "search.view", subject, details))
    result = load_result(ctx, actor, search_id, include_crops=True)
    probe = None
    if face is not None:
        with refusals_recorded(ctx, actor.username, "search.view", subject):
            probe = crop(ctx, *face)
    return ShownResult(result, probe, gone)


def _searched_face(
    record: SearchRecord, probe_index: int, subject: str
) -> tuple[str, tuple[float, float, float, float]]:
    """The probe image's hash and the box of the face the search used in it."""
    if record.probes_purged:
        raise NotFoundError(PURGED, subject=subject)
    probes = json.loads(record.probes)
    if not 0 <= probe_index < len(probes):
        raise NotFoundError(
            f"the search has {len(probes)} probe image(s): there is no probe {probe_index + 1}",
            subject=subject,
        )
    # One face is marked used in each probe, in the probes' order (``probe_template``).
    used = [f for f in json.loads(record.probe_faces or "[]") if f.get("used")]
    if len(used) != len(probes):
        raise NotFoundError(
            f"the search is {record.status}: no probe face was searched", subject=subject
        )
    x1, y1, x2, y2 = (float(v) for v in used[probe_index]["bbox"])
    return str(probes[probe_index]["sha256"]), (x1, y1, x2, y2)
