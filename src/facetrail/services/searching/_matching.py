"""The bare matching machinery behind a search: probe images -> one fused template -> the
top-k candidates of one gallery, with their provenance; candidate crops.

No policy and no audit here, on purpose: ``services.searching.search`` is the only caller that hands
results to people (``bench/audit_cost.py`` also times it, as the bare cost).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    FaceIndexError,
    FacetrailError,
    InvalidRequestError,
    NoFaceError,
    PackMismatchError,
    ProbeQualityError,
    SearchFailedError,
)
from facetrail.governance.probe_quality import quality_warnings
from facetrail.governance.seal_checks import AsRead, read_columns, tampered
from facetrail.imaging.decode import decode_image
from facetrail.models.calibration import false_match_rate
from facetrail.pipeline.faces import PLAIN, Face
from facetrail.services.context import AppContext
from facetrail.services.galleries.admin import get_gallery_row
from facetrail.services.galleries.indexing import (
    BOUND_TEMPLATE_FILTER,
    SYSTEM,
    binds_arrays,
    ids_bound,
    search_index,
    template_params,
)
from facetrail.services.searching._blocklist import blocked_by, blocklist_of
from facetrail.services.searching.search_model import (
    Candidate,
    CandidateSource,
    ProbeFace,
    ProbeImage,
    Producer,
)
from facetrail.store.schema import Face as FaceRow
from facetrail.store.schema import (
    Gallery,
    Image,
    Source,
    TemplateRow,
)

_CANDIDATE_TABLES: tuple[Table, ...] = (
    TemplateRow.__table__,  # type: ignore[assignment]
    FaceRow.__table__,
    Image.__table__,
    Source.__table__,
)
#: Each candidate table's columns as ``_CANDIDATE_ROWS`` selects them (``read_columns``).
_COLUMNS = tuple(read_columns(t) for t in _CANDIDATE_TABLES)
_TEMPLATES, _FACES, _IMAGES, _SOURCES = _CANDIDATE_TABLES
#: A gallery's templates of the ids bound as ``ids`` with their face, image and source: every
#: sealed column of each, in one round trip; built once (each search only binds), by whether
#: the database binds arrays (``ids_bound``). Plain Core, run on the session's connection: no
#: ORM compilation or result handling per search.
_CANDIDATE_ROWS = {
    array: select(*(c for columns in _COLUMNS for c in columns))
    .join(_FACES, _TEMPLATES.c.face_id == _FACES.c.id)
    .join(_IMAGES, _FACES.c.image_id == _IMAGES.c.id)
    .join(_SOURCES, _IMAGES.c.source_id == _SOURCES.c.id)
    .where(*BOUND_TEMPLATE_FILTER, ids_bound(_TEMPLATES.c.id, array=array))
    for array in (False, True)
}
_TEMPLATE_VECTOR = [c.name for c in _COLUMNS[0]].index("vector")


@dataclass(frozen=True)
class _CandidateRows:
    """A candidate's template, face, image and source rows as ``_CANDIDATE_ROWS`` read them."""

    template_id: int
    vector: bytes
    rows: tuple[AsRead, AsRead, AsRead, AsRead]

    @classmethod
    def of(cls, row: Any) -> _CandidateRows:
        parts, start = [], 0
        for columns in _COLUMNS:
            parts.append(AsRead(row[start : start + len(columns)]))
            start += len(columns)
        template_id, vector = row[0], row[_TEMPLATE_VECTOR]
        return cls(int(template_id), bytes(vector), tuple(parts))  # type: ignore[arg-type]

    def fields(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The face's, image's and source's columns by name."""
        return tuple(  # type: ignore[return-value]
            dict(zip((c.name for c in columns), values, strict=True))
            for columns, values in zip(_COLUMNS[1:], self.rows[1:], strict=True)
        )


def candidate_rows(session: Session, gallery: Gallery, ids: list[int]) -> dict[int, _CandidateRows]:
    """The rows of those of ``ids`` that are the gallery's templates, by template id: one
    statement (``_CANDIDATE_ROWS``) in the session's transaction."""
    if not ids:
        return {}
    connection = session.connection()
    statement = _CANDIDATE_ROWS[binds_arrays(connection)]
    rows = connection.execute(statement, {**template_params(gallery), "ids": ids})
    return {c.template_id: c for c in map(_CandidateRows.of, rows)}


def _unblocked(
    ctx: AppContext,
    session: Session,
    gallery: Gallery,
    hits: list[tuple[float, int]],
    rows: Mapping[int, _CandidateRows],
) -> tuple[list[tuple[float, int]], list[int]]:
    """The hits without those of people erased with consent to the blocklist, and the
    erasure request that withheld each one left out."""
    blocklist, erasures = blocklist_of(ctx, session, gallery)
    if blocklist.size == 0 or not hits:
        return hits, []
    vectors = np.stack([np.frombuffer(rows[tid].vector, np.float32) for _, tid in hits])
    by = blocked_by(ctx, gallery.pack, blocklist, vectors)
    kept = [hit for hit, row in zip(hits, by, strict=True) if row < 0]
    return kept, [int(erasures[row]) for row in by if row >= 0]


def probe_template(
    ctx: AppContext,
    pack: str,
    probes: tuple[ProbeImage, ...],
    face: int | None,
    analysed: Mapping[tuple[str, int], list[Face]] | None = None,
) -> tuple[np.ndarray, list[ProbeFace]]:
    """Analyse every probe image (unless ``analysed`` holds its faces for this pack, by its
    position), pick one face in each, fuse their templates (mean, renorm)."""
    if not probes:
        raise InvalidRequestError("at least one probe image is needed", subject="probes")
    pipeline = ctx.pipeline(pack)
    listed: list[ProbeFace] = []
    chosen: list[np.ndarray] = []
    for i, probe in enumerate(probes):
        faces = (analysed or {}).get((pack, i))
        if faces is None:
            image = decode_image(probe.data, name=probe.name, limits=ctx.limits)
            faces = pipeline.analyse(image.bgr)
        if not faces:
            raise NoFaceError("no face found in the probe image", subject=probe.name)
        pick = 0 if face is None else face
        if not 0 <= pick < len(faces):
            raise FaceIndexError(
                f"face {pick} asked for, the probe has {len(faces)} (0..{len(faces) - 1})",
                subject=probe.name,
            )
        listed += [probe_face_view(probe.name, f, f.index == pick) for f in faces]
        chosen.append(_template_of(faces[pick], pack))
    fused = np.mean(np.stack(chosen), axis=0)
    return (fused / max(float(np.linalg.norm(fused)), 1e-12)).astype(np.float32), listed


def _template_of(face: Face, pack: str) -> np.ndarray:
    template = face.template(PLAIN)
    if template.pack != pack:
        raise PackMismatchError(f"template from {template.pack}, gallery uses {pack}")
    return template.vector


def probe_face_view(name: str, f: Face, used: bool) -> ProbeFace:
    """A face found in a probe as people see it: where, and its quality."""
    b = f.detection.bbox
    return ProbeFace(
        name,
        f.index,
        (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
        f.quality.detector_score,
        f.quality.inter_eye_px,
        f.quality.blur,
        f.quality.yaw_deg,
        used,
        tuple(quality_warnings(f.quality.inter_eye_px, f.quality.blur, f.quality.yaw_deg)),
    )


def crop(ctx: AppContext, sha256: str, bbox: tuple[float, float, float, float]) -> bytes:
    image = decode_image(ctx.blobs.get(sha256), name=sha256, limits=ctx.limits).bgr
    x1, y1, x2, y2 = bbox
    mx, my = (x2 - x1) * 0.25, (y2 - y1) * 0.25
    h, w = image.shape[:2]
    crop = image[
        max(0, int(y1 - my)) : min(h, int(y2 + my)), max(0, int(x1 - mx)) : min(w, int(x2 + mx))
    ]
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return bytes(buf) if ok else b""


@dataclass(frozen=True)
class GalleryRun:
    gallery: str
    producer: Producer
    probe_faces: list[ProbeFace]
    candidates: list[Candidate]
    #: the fused probe template searched with (the gallery's pack's)
    query: np.ndarray | None = None
    #: for each candidate left out as an opted-out person's: the erasure request that put
    #: them on the opt-out list
    withheld: tuple[int, ...] = ()


def search_gallery(
    ctx: AppContext,
    gallery_name: str,
    probes: tuple[ProbeImage, ...],
    top: int,
    face: int | None,
    *,
    actor: str = SYSTEM,
    refuse_poor: bool = False,
    analysed: Mapping[tuple[str, int], list[Face]] | None = None,
) -> GalleryRun:
    """The bare search of one gallery: probes -> fused template -> top-k candidates.
    ``refuse_poor``: a probe face too poor to search well is refused (``ProbeQualityError``).
    ``analysed``: the probes' faces found already (``probe_template``).

    No policy here: ``search`` and ``decide_search`` are the only callers (and
    ``bench/audit_cost.py``, which measures what governance adds on top of this). Every
    candidate's score is its stored template's, never the index's word alone; an index found
    damaged or disagreeing is rebuilt and logged (by ``actor``) in its own transaction, so call
    this outside any write transaction. ``VectorIndexError`` (``IndexIntegrityError`` among
    them) is a fault of the system, not of the probe.
    """
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, gallery_name)
        pack = ctx.pipeline(gallery.pack).pack
        query, probe_faces = probe_template(ctx, gallery.pack, probes, face, analysed)
        poor = [f for f in probe_faces if f.used and f.warnings]
        if refuse_poor and poor:
            raise ProbeQualityError(
                f"the face searched is {'; '.join(poor[0].warnings)}: your agency's policy "
                "refuses probes like this, so choose a clearer photo of the person",
                subject=poor[0].probe,
            )
        read: dict[int, _CandidateRows] = {}

        def read_kept(ids: list[int]) -> list[tuple[int, bytes]]:
            """The kept hits' rows (the short list is re-scored from its vectors alone), read
            once: held to the bytes scored, checked against their seals and shown alike."""
            read.clear()  # only the last search's: an index rebuilt is searched again
            read.update(candidate_rows(session, gallery, ids))
            return [(t, c.vector) for t, c in read.items()]

        index, hits = search_index(
            ctx, session, gallery, query, top, actor=actor, read_kept=read_kept
        )
        found = [read[tid] for _, tid in hits]
        # Every row a candidate is scored and shown from must be the one the log sealed: a
        # vector swapped or a face re-pointed at someone else is refused, never ranked. (The
        # rows as just read: their digests are taken without reading them again.)
        refusal = tampered(
            session,
            f"a candidate face of gallery {gallery.name}",
            {
                "templates": [c.rows[0] for c in found],
                "faces": [c.rows[1] for c in found],
                "images": [c.rows[2] for c in found],
                "sources": list({c.rows[3]: c.rows[3] for c in found}),
            },
        )
        if refusal is not None:
            raise refusal
        rows = {c.template_id: c for c in found}
        hits, withheld = _unblocked(ctx, session, gallery, hits, rows)
        candidates = []
        for rank, (score, tid) in enumerate(hits, start=1):
            f, img, src = rows[tid].fields()
            candidates.append(
                Candidate(
                    id=0,
                    gallery=gallery.name,
                    rank=rank,
                    score=score,
                    false_match=false_match_rate(pack.manifest.calibration, score),
                    template_id=tid,
                    image_sha256=img["sha256"],
                    image_name=img["original_name"],
                    subject_ref=img["subject_ref"],
                    face_index=f["face_index"],
                    bbox=(f["x1"], f["y1"], f["x2"], f["y2"]),
                    source=CandidateSource(
                        src["name"],
                        src["kind"],
                        src["legal_basis"],
                        src["supplied_by"],
                        src["collected_at"],
                    ),
                    crop_jpeg=None,
                )
            )
        producer = Producer(gallery.pack, index.describe(), len(index))
    return GalleryRun(gallery.name, producer, probe_faces, candidates, query, tuple(withheld))


def run_galleries(
    ctx: AppContext,
    galleries: list[str],
    probes: tuple[ProbeImage, ...],
    top: int,
    face: int | None,
    refuse_poor: bool = False,
    analysed: Mapping[tuple[str, int], list[Face]] | None = None,
) -> tuple[list[GalleryRun], FacetrailError | None]:
    """Search every gallery; a failure is returned (to be recorded), not raised. An
    unexpected error is a system fault: recorded as one, never shown as a traceback."""
    try:
        runs = [
            search_gallery(ctx, g, probes, top, face, refuse_poor=refuse_poor, analysed=analysed)
            for g in galleries
        ]
        return runs, None
    except FacetrailError as exc:
        return [], exc
    except Exception as exc:
        return [], SearchFailedError(
            f"the search engine failed ({type(exc).__name__}); it can be run again",
            subject="search",
        )
