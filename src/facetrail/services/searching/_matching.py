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
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import (
    FaceIndexError,
    InvalidRequestError,
    NoFaceError,
    PackMismatchError,
)
from facetrail.governance.seal_checks import tampered
from facetrail.imaging.decode import decode_image
from facetrail.models.calibration import false_match_rate
from facetrail.pipeline.faces import PLAIN, Face
from facetrail.services.context import AppContext
from facetrail.services.galleries.admin import get_gallery_row
from facetrail.services.galleries.indexing import SYSTEM, search_index
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


def _unblocked(
    ctx: AppContext,
    session: Session,
    gallery: Gallery,
    hits: list[tuple[float, int]],
    rows: Mapping[int, tuple[Any, ...]],
) -> tuple[list[tuple[float, int]], list[int]]:
    """The hits without those of people erased with consent to the blocklist, and the
    erasure request that withheld each one left out."""
    blocklist, erasures = blocklist_of(ctx, session, gallery)
    if blocklist.size == 0 or not hits:
        return hits, []
    vectors = np.stack([np.frombuffer(bytes(rows[tid][3]), np.float32) for _, tid in hits])
    by = blocked_by(ctx, gallery.pack, blocklist, vectors)
    kept = [hit for hit, row in zip(hits, by, strict=True) if row < 0]
    return kept, [int(erasures[row]) for row in by if row >= 0]


def probe_template(
    ctx: AppContext, pack: str, probes: tuple[ProbeImage, ...], face: int | None
) -> tuple[np.ndarray, list[ProbeFace]]:
    """Analyse every probe image, pick one face in each, fuse their templates (mean, renorm)."""
    if not probes:
        raise InvalidRequestError("at least one probe image is needed", subject="probes")
    pipeline = ctx.pipeline(pack)
    listed: list[ProbeFace] = []
    chosen: list[np.ndarray] = []
    for probe in probes:
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
) -> GalleryRun:
    """The bare search of one gallery: probes -> fused template -> top-k candidates.

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
        query, probe_faces = probe_template(ctx, gallery.pack, probes, face)
        index, hits = search_index(ctx, session, gallery, query, top, actor=actor)
        read = session.execute(
            select(TemplateRow, FaceRow, Image, Source)
            .join(FaceRow, TemplateRow.face_id == FaceRow.id)
            .join(Image, FaceRow.image_id == Image.id)
            .join(Source, Image.source_id == Source.id)
            .where(TemplateRow.id.in_([i for _, i in hits]))
        ).all()
        rows = {int(t.id): (f, img, src, t.vector) for t, f, img, src in read}
        read_templates = [t for t, _, _, _ in read]
        # Every row a candidate is scored and shown from must be the one the log sealed: a
        # vector swapped or a face re-pointed at someone else is refused, never ranked. (The
        # rows as just read: their digests are taken without reading them again.)
        found = list(rows.values())
        refusal = tampered(
            session,
            f"a candidate face of gallery {gallery.name}",
            {
                "templates": read_templates,
                "faces": [f for f, _, _, _ in found],
                "images": [img for _, img, _, _ in found],
                "sources": list({src.id: src for _, _, src, _ in found}.values()),
            },
        )
        if refusal is not None:
            raise refusal
        hits, withheld = _unblocked(ctx, session, gallery, hits, rows)
        candidates = []
        for rank, (score, tid) in enumerate(hits, start=1):
            f, img, src, _ = rows[tid]
            candidates.append(
                Candidate(
                    id=0,
                    gallery=gallery.name,
                    rank=rank,
                    score=score,
                    false_match=false_match_rate(pack.manifest.calibration, score),
                    template_id=tid,
                    image_sha256=img.sha256,
                    image_name=img.original_name,
                    subject_ref=img.subject_ref,
                    face_index=f.face_index,
                    bbox=(f.x1, f.y1, f.x2, f.y2),
                    source=CandidateSource(
                        src.name, src.kind, src.legal_basis, src.supplied_by, src.collected_at
                    ),
                    crop_jpeg=None,
                )
            )
        producer = Producer(gallery.pack, index.describe(), len(index))
    return GalleryRun(gallery.name, producer, probe_faces, candidates, query, tuple(withheld))
