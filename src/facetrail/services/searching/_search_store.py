"""How a run's outcome is stored (``services.searching.search``): its failure with the fault's kind,
or its candidates with what produced them, as rows and as the run's audit entry, and the result
its requester is shown."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, replace
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, bindparam, column, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from facetrail.errors import (
    FaceIndexError,
    FacetrailError,
    ImageError,
    InvalidRequestError,
    NoFaceError,
    ProbeQualityError,
)
from facetrail.governance.audit import append
from facetrail.governance.events import SearchFailed, SearchRan
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.searching._matching import GalleryRun, crop
from facetrail.services.searching.results import likely_rate
from facetrail.services.searching.search_model import (
    SearchResult,
)
from facetrail.services.unit_of_work import refusals_recorded
from facetrail.store.schema import (
    AuditEntryRow,
    ProbeTemplateRow,
    SearchCandidate,
    SearchRecord,
)

__all__ = [
    "fresh_result",
    "insert_search",
    "log_failure",
    "mark_done",
    "mark_failed",
    "store_failure",
    "store_runs",
]


#: Failures caused by what the requester sent; every other failure is a system fault.
_INPUT_FAULTS = (ImageError, NoFaceError, FaceIndexError, ProbeQualityError, InvalidRequestError)


def _produced(runs: list[GalleryRun]) -> dict[str, dict[str, object]]:
    """What produced each gallery's candidates, as stored and as logged."""
    return {r.gallery: r.producer.__dict__ for r in runs}


def store_failure(
    session: Session, record: SearchRecord, actor: str, agency: str, error: FacetrailError
) -> None:
    """Mark a stored search failed and log the failure (``agency``: the search's)."""
    mark_failed(record, error)
    log_failure(session, record, actor, agency, error)


def mark_failed(record: SearchRecord, error: FacetrailError) -> None:
    record.status = "failed"
    record.completed_at = utc_now()
    record.fault = "input" if isinstance(error, _INPUT_FAULTS) else "system"


def log_failure(
    session: Session, record: SearchRecord, actor: str, agency: str, error: FacetrailError
) -> None:
    """The ``search.failed`` entry of a search marked failed (``agency``: the search's)."""
    event = SearchFailed(
        actor=actor,
        agency=agency,
        search_id=record.id,
        code=error.code,
        reason=str(error),
        fault=record.fault,
    )
    append(session, event.entry())


def mark_done(record: SearchRecord, runs: list[GalleryRun]) -> None:
    record.status = "done"
    record.completed_at = utc_now()
    record.produced_by = json.dumps(_produced(runs))
    record.probe_faces = json.dumps([asdict(f) for f in runs[0].probe_faces])
    record.withheld = sum(len(r.withheld) for r in runs)


def store_runs(
    session: Session,
    record: SearchRecord,
    runs: list[GalleryRun],
    actor: str,
    agency: str,
    seconds: float,
) -> list[int]:
    """Store the candidates of a search marked done (-> their ids, in order); log the run
    (``agency``: the search's)."""
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
    ids = _insert_candidates(session, record.id, rows) if rows else []
    probes = {
        r.producer.pack: r.query.astype(np.float32).tobytes() for r in runs if r.query is not None
    }
    if probes:  # kept as long as the probe images (``retention.purge_expired_probes``)
        session.execute(
            insert(ProbeTemplateRow),
            [{"search_id": record.id, "pack": p, "vector": v} for p, v in probes.items()],
        )
    event = SearchRan(
        actor=actor,
        agency=agency,
        search_id=record.id,
        produced_by=_produced(runs),
        candidates={
            r.gallery: [[c.template_id, round(c.score, 6)] for c in r.candidates] for r in runs
        },
        seconds=round(seconds, 4),
        probe_templates={p: hashlib.sha256(v).hexdigest() for p, v in probes.items()},
        withheld=record.withheld,  # counted by mark_done, which comes first
        withheld_by=_opt_out_entries(session, {e for r in runs for e in r.withheld}),
    )
    append(session, event.entry())
    return ids


def _opt_out_entries(session: Session, erasures: set[int]) -> list[int]:
    """The ``erasure.done`` entries that put these erasure requests' people on the opt-out
    list (their seq numbers)."""
    if not erasures:
        return []
    subjects = [f"erasure:{e}" for e in sorted(erasures)]
    return list(
        session.scalars(
            select(AuditEntryRow.seq)
            .where(AuditEntryRow.kind == "erasure.done", AuditEntryRow.subject.in_(subjects))
            .order_by(AuditEntryRow.seq)
        )
    )


_SEARCHES = cast(Table, SearchRecord.__table__)
#: The searches table's columns but the key (a value left None gets the column's default).
_SEARCH_COLUMNS = tuple(c.name for c in _SEARCHES.columns if c.name != "id")


def insert_search(session: Session, record: SearchRecord) -> int:
    """Insert a new search, as it stands, by one plain INSERT ... RETURNING id (an ORM flush
    of one row costs more than the statement); ``record`` stays out of the session, with its
    id and column defaults filled in. For a search stored as it will stay (pending, or done
    or failed at once): a later change to ``record`` is not written."""
    values = {name: getattr(record, name) for name in _SEARCH_COLUMNS}
    row = session.execute(
        insert(_SEARCHES).returning(*_SEARCHES.c),
        {name: value for name, value in values.items() if value is not None},
    ).one()
    for name, value in row._mapping.items():
        setattr(record, name, value)
    return record.id


_CANDIDATE_COLUMNS = tuple(c for c in SearchCandidate.__table__.columns if c.name != "id")
#: PostgreSQL: INSERT INTO search_candidates (...) SELECT * FROM json_to_recordset(:rows) AS
#: anon(search_id BIGINT, ...) RETURNING id, gallery, rank. One statement of a fixed text
#: whose one parameter is the rows as JSON (made in C; arrays or executemany cost more).
_ROWS = func.json_to_recordset(bindparam("rows", type_=postgresql.JSON)).table_valued(
    *(column(c.name, c.type) for c in _CANDIDATE_COLUMNS)
)
_JSON_INSERT = (
    insert(SearchCandidate)
    .from_select(
        [c.name for c in _CANDIDATE_COLUMNS],
        select(*_ROWS.render_derived(with_types=True).c),
    )
    .returning(SearchCandidate.id, SearchCandidate.gallery, SearchCandidate.rank)
)


@functools.cache
def _sqlite_insert(names: tuple[str, ...]) -> str:
    """SQLite: the candidates' insert of these columns as the driver takes it."""
    columns = SearchCandidate.__table__.columns
    assert all(name in columns for name in names)
    return (
        f"INSERT INTO search_candidates ({', '.join(names)}) "
        f"VALUES ({', '.join('?' for _ in names)})"
    )


_SQLITE_IDS = "SELECT id, gallery, rank FROM search_candidates WHERE search_id = ?"


def _insert_candidates(session: Session, search_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Insert a run's candidate rows -> their ids, in the rows' order. Core on the session's
    connection: the ORM's bulk path and autoflush cost more."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        returned = list(connection.execute(_JSON_INSERT, {"rows": rows}))
    else:  # SQLite would RETURN row by row: one executemany, then the ids read back
        # on the driver's cursor (plain values, no defaults: SQLAlchemy's work per statement
        # is not needed)
        driver: Any = connection.connection.driver_connection
        cursor = driver.cursor()
        try:
            names = tuple(rows[0])
            cursor.executemany(_sqlite_insert(names), [tuple(r[n] for n in names) for r in rows])
            cursor.execute(_SQLITE_IDS, (search_id,))
            returned = cursor.fetchall()
        finally:
            cursor.close()
    assigned = {(gallery, rank): cid for cid, gallery, rank in returned}
    return [assigned[(row["gallery"], row["rank"])] for row in rows]


def fresh_result(
    ctx: AppContext,
    record: SearchRecord,
    agency: str,
    requester: str,
    runs: list[GalleryRun],
    ids: list[int],
    include_crops: bool,
    seconds: float,
    likely: float | None = None,
) -> SearchResult:
    """The result of a search that just ran, from memory (no one has reviewed it yet); a
    stored photo found replaced on disk refuses it, recorded as ``search.view.refused``.
    ``likely``: its policy's bar for a likely candidate (read again when not given)."""
    if likely is None:
        with ctx.sessions() as session:
            likely = likely_rate(session, record)
    candidates = [c for run in runs for c in run.candidates]
    with refusals_recorded(ctx, requester, "search.view", f"search:{record.id}"):
        shown = [
            replace(
                c,
                id=cid,
                crop_jpeg=crop(ctx, c.image_sha256, c.bbox) if include_crops else None,
            )
            for c, cid in zip(candidates, ids, strict=True)
        ]
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
        candidates=shown,
        second_review=record.second_review,
        outcome=None,
        seconds=seconds,
        withheld=record.withheld,
        likely_false_match_rate=likely,
    )
