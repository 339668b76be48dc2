"""How a run's outcome is stored (``services.search``): its failure with the fault's kind, or
its candidates with what produced them, as rows and as the run's audit entry, and the result
its requester is shown."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    FaceIndexError,
    FacetrailError,
    ImageError,
    InvalidRequestError,
    NoFaceError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.services._matching import GalleryRun, crop
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.search_model import (
    SearchResult,
)
from facetrail.store.schema import (
    SearchCandidate,
    SearchRecord,
)

__all__ = ["fresh_result", "mark_done", "store_failure", "store_runs"]


#: Failures caused by what the requester sent; every other failure is a system fault.
_INPUT_FAULTS = (ImageError, NoFaceError, FaceIndexError, InvalidRequestError)


def _produced(runs: list[GalleryRun]) -> dict[str, dict[str, object]]:
    """What produced each gallery's candidates, as stored and as logged."""
    return {r.gallery: r.producer.__dict__ for r in runs}


def store_failure(
    session: Session, record: SearchRecord, actor: str, error: FacetrailError
) -> None:
    record.status = "failed"
    record.completed_at = utc_now()
    record.fault = "input" if isinstance(error, _INPUT_FAULTS) else "system"
    append(
        session,
        AuditEvent(
            actor,
            "search.failed",
            f"search:{record.id}",
            {"code": error.code, "reason": str(error), "fault": record.fault},
        ),
    )


def mark_done(record: SearchRecord, runs: list[GalleryRun]) -> None:
    record.status = "done"
    record.completed_at = utc_now()
    record.produced_by = json.dumps(_produced(runs))
    record.probe_faces = json.dumps([asdict(f) for f in runs[0].probe_faces])


def store_runs(
    session: Session, record: SearchRecord, runs: list[GalleryRun], actor: str, seconds: float
) -> list[int]:
    """Store the candidates of a search marked done (-> their ids, in order); log the run."""
    sources = {c.source for run in runs for c in run.candidates}  # few: serialised once each
    source_json = {source: json.dumps(source.__dict__) for source in sources}
    rows = [
        {
            "search_id": record.id,
            "gallery": run.gallery,
            "rank": c.rank,
            "score": c.score,
            "template_id": c.template_id,
            "image_sha256": c.image_sha256,
            "image_name": c.image_name,
            "subject_ref": c.subject_ref,
            "face_index": c.face_index,
            "x1": c.bbox[0],
            "y1": c.bbox[1],
            "x2": c.bbox[2],
            "y2": c.bbox[3],
            "source": source_json[c.source],
        }
        for run in runs
        for c in run.candidates
    ]
    ids: list[int] = []
    if rows:  # one plain executemany (RETURNING would go row by row on SQLite), then the ids;
        # Core on the session's connection: the ORM's bulk path and autoflush cost more
        connection = session.connection()
        connection.execute(insert(SearchCandidate), rows)
        assigned = {
            (gallery, rank): cid
            for cid, gallery, rank in connection.execute(
                select(SearchCandidate.id, SearchCandidate.gallery, SearchCandidate.rank).where(
                    SearchCandidate.search_id == record.id
                )
            )
        }
        ids = [assigned[(run.gallery, c.rank)] for run in runs for c in run.candidates]
    append(
        session,
        AuditEvent(
            actor,
            "search.run",
            f"search:{record.id}",
            {
                "produced_by": _produced(runs),
                "candidates": {
                    r.gallery: [[c.template_id, round(c.score, 6)] for c in r.candidates]
                    for r in runs
                },
                "seconds": round(seconds, 4),
            },
        ),
    )
    return ids


def fresh_result(
    ctx: AppContext,
    record: SearchRecord,
    agency: str,
    requester: str,
    runs: list[GalleryRun],
    ids: list[int],
    include_crops: bool,
    seconds: float,
) -> SearchResult:
    """The result of a search that just ran, from memory (no one has reviewed it yet)."""
    candidates = [c for run in runs for c in run.candidates]
    return SearchResult(
        search_id=record.id,
        status=record.status,
        agency=agency,
        requester=requester,
        case_number=record.case_number,
        offense=record.offense,
        galleries=[r.gallery for r in runs],
        produced_by={r.gallery: r.producer for r in runs},
        probe_faces=runs[0].probe_faces,
        fused_probes=len(json.loads(record.probes)),
        candidates=[
            replace(
                c,
                id=cid,
                crop_jpeg=crop(ctx, c.image_sha256, c.bbox) if include_crops else None,
            )
            for c, cid in zip(candidates, ids, strict=True)
        ],
        second_review=record.second_review,
        outcome=None,
        seconds=seconds,
    )
