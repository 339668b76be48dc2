"""The facts the misuse alert rules weigh (``governance.alerts.SearchFact``), read from an
agency's typed audit events by the indexed agency column; and the comparison of its searches'
probes with its staff galleries, which the ``staff_match`` rule reads back as events.

Authorisation: internal, for ``services.oversight.alerts``. Audit: each staff comparison is a
``search.staff_check`` entry (the staff members matched, by reference, never a face).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import FacetrailError
from facetrail.governance.alerts import SearchFact
from facetrail.governance.audit import append
from facetrail.governance.events import (
    Event,
    OutcomeRecorded,
    ReviewRecorded,
    SearchApproved,
    SearchRan,
    SearchRequested,
    StaffChecked,
    read_events,
)
from facetrail.models.calibration import score_at_fmr
from facetrail.models.registry import get_pack
from facetrail.services.accounts import current_policy
from facetrail.services.context import AppContext
from facetrail.services.searching._matching import search_gallery
from facetrail.services.searching.search_model import ProbeImage
from facetrail.services.unit_of_work import SYSTEM, system_action
from facetrail.store.schema import (
    Agency,
    Face,
    Gallery,
    Image,
    ProbeTemplateRow,
    SearchRecord,
    TemplateRow,
)

__all__ = [
    "SAME_FACE_FMR",
    "STAFF_MATCH_FMR",
    "check_staff",
    "probe_faces",
    "search_facts",
]

#: A probe matches a staff member when the score's false match rate is at most this.
STAFF_MATCH_FMR = 1e-4
#: Two searches' probes show the same face when their templates match at this rate or less.
SAME_FACE_FMR = 1e-4


def search_facts(
    ctx: AppContext, session: Session, agency: str, since: datetime, until: datetime
) -> list[SearchFact]:
    """The agency's searches asked for in [since, until), as their typed events record them
    (oldest first), with each run's top candidate per gallery as a gallery person. A search's
    probes are named by the face they show where its probe template is still kept (the same
    face, even re-saved, gets the same name: ``probe_faces``), else by their files' hashes;
    ``files`` are the hashes either way. A crowd probe the policy refused is no search, and
    no fact (its ``search.refused`` entry is the record)."""
    requested = read_events(
        session,
        [SearchRequested],
        agencies=[agency],
        since=since.isoformat(),
        until=until.isoformat(),
    )
    ids = {e.search_id for e in requested}
    ran: dict[int, SearchRan] = {}
    reviewed: set[int] = set()
    outcomes: dict[int, str] = {}
    staff: dict[int, list[str]] = defaultdict(list)
    approvers: dict[int, str] = {}
    #: search -> candidate -> review stage -> reviewer
    reviewers: dict[int, dict[int, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    kinds: list[type[Event]] = [SearchRan, ReviewRecorded, OutcomeRecorded, StaffChecked]
    kinds.append(SearchApproved)
    for event in read_events(session, kinds, agencies=[agency], since=since.isoformat()):
        if isinstance(event, SearchRan) and event.search_id in ids:
            ran[event.search_id] = event
        elif isinstance(event, SearchApproved) and event.search_id in ids:
            approvers[event.search_id] = event.actor
        elif isinstance(event, ReviewRecorded) and event.search_id in ids:
            reviewed.add(event.search_id)
            reviewers[event.search_id][event.candidate][event.stage] = event.actor
        elif isinstance(event, OutcomeRecorded) and event.search_id in ids:
            outcomes[event.search_id] = event.outcome
        elif isinstance(event, StaffChecked) and event.search_id in ids:
            staff[event.search_id] += [f"{event.gallery}/{m}" for m in event.matched]
    tops = {
        sid: [(gallery, found[0]) for gallery, found in e.candidates.items() if found]
        for sid, e in ran.items()
    }
    people = _people(session, {int(pair[0]) for pairs in tops.values() for _, pair in pairs})
    faces = probe_faces(ctx, session, sorted(ids))
    return [
        SearchFact(
            search_id=e.search_id,
            at=datetime.fromisoformat(e.at),
            user=e.actor,
            case=e.case,
            probes=(faces[e.search_id],) if e.search_id in faces else tuple(e.probes),
            ran_at=datetime.fromisoformat(ran[e.search_id].at) if e.search_id in ran else None,
            reviewed=e.search_id in reviewed,
            outcome=outcomes.get(e.search_id),
            top_people=tuple(
                (f"{gallery}/{people.get(int(pair[0]), f'template {int(pair[0])}')}", pair[1])
                for gallery, pair in tops.get(e.search_id, [])
            ),
            staff_matches=tuple(staff.get(e.search_id, ())),
            approver=approvers.get(e.search_id),
            second_reviews=tuple(
                sorted(
                    {
                        (by[1], by[2])
                        for by in reviewers.get(e.search_id, {}).values()
                        if 1 in by and 2 in by
                    }
                )
            ),
            files=tuple(e.probes),
            face=e.face,
            faces=tuple(e.faces),
            crowd=e.crowd,
            offense=e.offense,
            protected=e.protected,
            grounds="\n".join([e.justification, e.protected_reason or ""]),
        )
        for e in requested
    ]


def _people(session: Session, template_ids: set[int]) -> dict[int, str]:
    """template id -> the gallery person it shows (the image's subject, else the image)."""
    if not template_ids:
        return {}
    rows = session.execute(
        select(TemplateRow.id, Image.subject_ref, Image.sha256)
        .join(Face, Face.id == TemplateRow.face_id)
        .join(Image, Image.id == Face.image_id)
        .where(TemplateRow.id.in_(template_ids))
    )
    return {tid: subject or f"image {sha[:12]}" for tid, subject, sha in rows}


def check_staff(ctx: AppContext, agency: str, now: datetime) -> int:
    """Compare the probes of the agency's searches not yet compared with its staff galleries
    (those of the rules' window whose probes are still kept): each comparison is a
    ``search.staff_check`` entry naming the staff members matched at a false match rate of
    at most ``STAFF_MATCH_FMR``. -> how many searches were compared."""
    with ctx.sessions() as session:
        found = session.scalar(select(Agency).where(Agency.name == agency))
        if found is None:
            return 0
        staff = list(session.scalars(select(Gallery.name).where(Gallery.staff_of == found.id)))
        if not staff:
            return 0
        rules = current_policy(session, found.id)[1].alerts
        since = (now - timedelta(days=2 * rules.history_days)).isoformat()
        # A search of the window is compared after it was made: its check is in the window too.
        checked = read_events(session, [StaffChecked], agencies=[agency], since=since)
        done = {e.search_id for e in checked}
        todo = [
            e.search_id
            for e in read_events(session, [SearchRequested], agencies=[agency], since=since)
            if e.search_id not in done
        ]
        records = list(
            session.scalars(
                select(SearchRecord).where(
                    SearchRecord.id.in_(todo), SearchRecord.status.in_(("done", "approved"))
                )
            )
        )
    checks = [_staff_check(ctx, agency, record, gallery) for record in records for gallery in staff]
    if checks:
        with system_action(ctx, "alert.staff_check", agency) as session:
            for check in checks:
                append(session, check.entry())
    return len(records)


def _staff_check(ctx: AppContext, agency: str, record: SearchRecord, gallery: str) -> StaffChecked:
    problem: str | None = None
    matched: list[str] = []
    if record.probes_purged:
        problem = "the probes were purged"
    else:
        try:  # a probe replaced on disk is a problem found, like any other
            probes = tuple(
                ProbeImage(p["name"], ctx.blobs.get(p["sha256"])) for p in json.loads(record.probes)
            )
            run = search_gallery(ctx, gallery, probes, 5, record.face)
        except FacetrailError as error:
            problem = f"{error.code}: {error.message}"
        else:
            matched = [
                c.subject_ref or f"image {c.image_sha256[:12]}"
                for c in run.candidates
                if c.false_match is not None and c.false_match.fmr <= STAFF_MATCH_FMR
            ]
    return StaffChecked(
        actor=SYSTEM,
        agency=agency,
        search_id=record.id,
        gallery=gallery,
        matched=matched,
        problem=problem,
    )


def probe_faces(ctx: AppContext, session: Session, search_ids: list[int]) -> dict[int, str]:
    """search id -> the name of the face its probes show ("face:" and the first search that
    showed it): searches whose probe templates (of one pack) match at a false match rate of
    at most ``SAME_FACE_FMR`` share a name, whichever files they came from."""
    by_pack: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for start in range(0, len(search_ids), 500):
        for sid, pack, vector in session.execute(
            select(ProbeTemplateRow.search_id, ProbeTemplateRow.pack, ProbeTemplateRow.vector)
            .where(ProbeTemplateRow.search_id.in_(search_ids[start : start + 500]))
            .order_by(ProbeTemplateRow.search_id)
        ):
            by_pack[pack].append((int(sid), bytes(vector)))
    names: dict[int, str] = {}
    for pack, rows in sorted(by_pack.items()):
        calibration = get_pack(pack, ctx.settings.home).manifest.calibration
        threshold = score_at_fmr(calibration, SAME_FACE_FMR)
        ids = [sid for sid, _ in rows]
        vectors = np.stack([np.frombuffer(v, np.float32) for _, v in rows])
        same = (vectors @ vectors.T) >= (threshold if threshold is not None else 0.5)
        first = list(range(len(ids)))  # union-find: each search's earliest same face
        for i, j in zip(*np.nonzero(np.triu(same, 1)), strict=True):
            a, b = _root(first, int(i)), _root(first, int(j))
            first[max(a, b)] = min(a, b)
        for i, sid in enumerate(ids):
            names.setdefault(sid, f"face:{ids[_root(first, i)]}")
    return names


def _root(first: list[int], i: int) -> int:
    while first[i] != i:
        first[i] = first[first[i]]
        i = first[i]
    return i
