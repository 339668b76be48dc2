"""The probe face of a stored search, as a reviewer compares it with each candidate: the face
the search used, cut from the stored probe image (the crop a candidate shows, cut the same
way), for as long as the agency's probe retention keeps the image.

Authorisation: as the search itself is read (``services.searching.results``: its requester, or a
supervisor, investigator, head or auditor of its agency); another agency's search answers
exactly as a missing one. Audit: each crop served is a ``search.probe_view`` entry naming the
probe and its image's hash; every refusal (not readable, not run, no such probe, the image
deleted when its retention ended) is a ``search.probe_view.refused`` entry.
"""

from __future__ import annotations

import json

from facetrail.errors import NotFoundError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Principal
from facetrail.services.context import AppContext
from facetrail.services.searching._matching import crop
from facetrail.services.searching.results import check_readable, viewing
from facetrail.services.unit_of_work import refusals_recorded
from facetrail.store.schema import SearchRecord

__all__ = ["PURGED", "probe_crop", "probes_kept"]

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


def probes_kept(ctx: AppContext, actor: Principal, search_id: int) -> bool:
    """Whether the search's probe images are still kept (probe retention has not deleted
    them), so that a page offers their crops or says they are gone. Read as the search is
    (refusals audited as ``search.probe_view.refused``); not an entry of its own: it shows
    nothing of a probe, and the page that asks has recorded its ``search.view``."""
    check_readable(ctx, actor, search_id, _KIND)
    with ctx.sessions() as session:
        record = session.get(SearchRecord, search_id)
        return record is not None and not record.probes_purged


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
