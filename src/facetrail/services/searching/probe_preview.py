"""The faces in a probe, before the search: so that the investigator picks which face to
search (each shown with its quality) instead of facetrail taking the largest.

The same policy check as the search itself comes first (role, case number, offense,
justification, galleries, daily limit: ``_search_policy.request_problem``), so no probe is
looked at for a request policy would refuse. Nothing is stored: not the probe, not its faces;
the search that follows is a request of its own.

A probe photo with more faces fit to search than the policy allows is a crowd probe: each of its
faces says so (``ProbeFace.crowd``, in words: held for approval or refused), so that the
investigator knows before spending the search.

Authorisation: as ``services.searching.search.search``. Audit: ``search.preview`` with the probes'
hashes, how many faces each holds and whether it is a crowd; a refusal as
``search.preview.refused``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries.admin import get_gallery_row
from facetrail.services.searching._crowd import Crowd, count_faces
from facetrail.services.searching._matching import probe_face_view
from facetrail.services.searching._search_policy import request_problem
from facetrail.services.searching.search_model import ProbeFace, SearchRequest
from facetrail.services.unit_of_work import action

__all__ = ["preview_faces"]


def preview_faces(ctx: AppContext, request: SearchRequest) -> list[ProbeFace]:
    """Every face found in each probe, largest first (``used`` marks the one a search would
    take without a choice), for a request policy allows."""
    request = replace(request, galleries=tuple(dict.fromkeys(request.galleries)))
    subject = request.case_number or "(no case number)"
    details: dict[str, object] = {"offense": request.offense, "galleries": list(request.galleries)}
    with action(ctx, request.requester, "search.preview", subject, Permission.SEARCH, details) as (
        session,
        _,
    ):
        problem, _agency, _version, policy = request_problem(
            session, request, utc_now(), preview=True
        )
        if problem is not None:
            raise problem
        pack = get_gallery_row(session, request.galleries[0]).pack
    searchable, analysed = count_faces(ctx, pack, request.probes)
    found: list[ProbeFace] = []
    counts: list[int] = []
    crowds: list[bool] = []
    chosen = 0 if request.face is None else request.face
    for i, probe in enumerate(request.probes):
        faces = analysed[(pack, i)]
        crowd = Crowd((searchable[i],), policy.crowd_faces, policy.crowd_probes)
        said = crowd.in_words() if crowd.is_crowd else None
        found += [
            replace(probe_face_view(probe.name, f, f.index == chosen), crowd=said) for f in faces
        ]
        counts.append(len(faces))
        crowds.append(crowd.is_crowd)
    with action(ctx, request.requester, "search.preview", subject, Permission.SEARCH, details) as (
        session,
        _,
    ):
        hashes = [hashlib.sha256(p.data).hexdigest() for p in request.probes]
        append(
            session,
            AuditEvent(
                request.requester.username,
                "search.preview",
                subject,
                details | {"probes": hashes, "faces": counts, "crowd": crowds},
            ),
        )
    return found
