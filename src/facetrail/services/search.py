"""1:N search and 1:1 verification: the ONLY door to candidate results.

``search`` takes a typed request and returns a typed result. The CLI, the API and the web app
call it and nothing else, so the policy and audit checks that issue 2/6 adds in front of it
cannot be bypassed. Results are investigative leads, never identifications.

Authorisation and audit: none yet in this slice (issue 2/6).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import cv2
import numpy as np
from sqlalchemy import select

from facetrail.errors import FaceIndexError, InvalidRequestError, NoFaceError, PackMismatchError
from facetrail.governance.audit import AuditEvent, append
from facetrail.imaging.decode import decode_image
from facetrail.models.calibration import FalseMatchEstimate, false_match_rate
from facetrail.pipeline.faces import PLAIN, Face
from facetrail.services.context import AppContext
from facetrail.services.galleries import get_gallery_row
from facetrail.services.indexing import open_index
from facetrail.store.schema import Face as FaceRow
from facetrail.store.schema import Image, Source, TemplateRow

LEAD_NOTICE = (
    "Results are investigative leads only, never an identification: "
    "they must be reviewed by trained people and corroborated."
)


@dataclass(frozen=True)
class ProbeImage:
    name: str
    data: bytes


@dataclass(frozen=True)
class SearchRequest:
    probes: tuple[ProbeImage, ...]
    gallery: str
    top: int = 50
    #: Face to search in each probe (0 = largest, the default).
    face: int | None = None
    include_crops: bool = True


@dataclass(frozen=True)
class ProbeFace:
    probe: str
    index: int
    bbox: tuple[float, float, float, float]
    detector_score: float
    inter_eye_px: float
    blur: float
    yaw_deg: float
    used: bool


@dataclass(frozen=True)
class CandidateSource:
    name: str
    kind: str
    legal_basis: str
    supplied_by: str
    collected_at: str


@dataclass(frozen=True)
class Candidate:
    rank: int
    score: float
    false_match: FalseMatchEstimate | None
    template_id: int
    image_sha256: str
    image_name: str
    subject_ref: str | None
    face_index: int
    bbox: tuple[float, float, float, float]
    source: CandidateSource
    crop_jpeg: bytes | None


@dataclass(frozen=True)
class SearchResult:
    gallery: str
    pack: str
    index: str
    gallery_size: int
    probe_faces: list[ProbeFace]
    fused_probes: int
    candidates: list[Candidate]
    seconds: float
    notice: str = LEAD_NOTICE


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
        listed += [_probe_face(probe.name, f, f.index == pick) for f in faces]
        chosen.append(_template_of(faces[pick], pack))
    fused = np.mean(np.stack(chosen), axis=0)
    return (fused / max(float(np.linalg.norm(fused)), 1e-12)).astype(np.float32), listed


def _template_of(face: Face, pack: str) -> np.ndarray:
    template = face.template(PLAIN)
    if template.pack != pack:
        raise PackMismatchError(f"template from {template.pack}, gallery uses {pack}")
    return template.vector


def _probe_face(name: str, f: Face, used: bool) -> ProbeFace:
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


def search(ctx: AppContext, request: SearchRequest) -> SearchResult:
    """Search one gallery with one (possibly fused) probe template; top-k candidates."""
    started = time.perf_counter()
    if not 1 <= request.top <= 1000:
        raise InvalidRequestError("top must be between 1 and 1000", subject="top")
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, request.gallery)
        pack = ctx.pipeline(gallery.pack).pack
        query, probe_faces = probe_template(ctx, gallery.pack, request.probes, request.face)
        index, _ = open_index(ctx, session, gallery)
        scores, ids = index.search(query[None], request.top)
        hits = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        rows = {
            int(t.id): (t, f, img, src)
            for t, f, img, src in session.execute(
                select(TemplateRow, FaceRow, Image, Source)
                .join(FaceRow, TemplateRow.face_id == FaceRow.id)
                .join(Image, FaceRow.image_id == Image.id)
                .join(Source, Image.source_id == Source.id)
                .where(TemplateRow.id.in_([i for _, i in hits]))
            )
        }
        candidates = []
        for rank, (score, tid) in enumerate(hits, start=1):
            _, f, img, src = rows[tid]
            bbox = (f.x1, f.y1, f.x2, f.y2)
            candidates.append(
                Candidate(
                    rank=rank,
                    score=score,
                    false_match=false_match_rate(pack.manifest.calibration, score),
                    template_id=tid,
                    image_sha256=img.sha256,
                    image_name=img.original_name,
                    subject_ref=img.subject_ref,
                    face_index=f.face_index,
                    bbox=bbox,
                    source=CandidateSource(
                        src.name, src.kind, src.legal_basis, src.supplied_by, src.collected_at
                    ),
                    crop_jpeg=_crop(ctx, img.sha256, bbox) if request.include_crops else None,
                )
            )
        result = SearchResult(
            gallery.name,
            gallery.pack,
            index.describe(),
            len(index),
            probe_faces,
            len(request.probes),
            candidates,
            time.perf_counter() - started,
        )
    # The search and what it returned are on the record before anyone sees the result.
    with ctx.transaction() as session:
        append(
            session,
            AuditEvent(
                ctx.actor,
                "search.run",
                result.gallery,
                {
                    "probes": [hashlib.sha256(p.data).hexdigest() for p in request.probes],
                    "face": request.face,
                    "top": request.top,
                    "pack": result.pack,
                    "index": result.index,
                    "candidates": [[c.template_id, round(c.score, 6)] for c in result.candidates],
                },
            ),
        )
    return result


def _crop(ctx: AppContext, sha256: str, bbox: tuple[float, float, float, float]) -> bytes:
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
class VerifyRequest:
    a: ProbeImage
    b: ProbeImage
    pack: str | None = None
    face_a: int | None = None
    face_b: int | None = None


@dataclass(frozen=True)
class VerifyResult:
    pack: str
    score: float
    false_match: FalseMatchEstimate | None
    faces_a: list[ProbeFace]
    faces_b: list[ProbeFace]
    notice: str = LEAD_NOTICE


def verify(ctx: AppContext, request: VerifyRequest) -> VerifyResult:
    """1:1 comparison of two images' faces with the calibrated false match rate of the score."""
    pack = request.pack or ctx.settings.default_pack
    ta, fa = probe_template(ctx, pack, (request.a,), request.face_a)
    tb, fb = probe_template(ctx, pack, (request.b,), request.face_b)
    score = float(np.dot(ta, tb))
    calibration = ctx.pipeline(pack).pack.manifest.calibration
    with ctx.transaction() as session:
        append(
            session,
            AuditEvent(
                ctx.actor,
                "verify.run",
                pack,
                {
                    "a": hashlib.sha256(request.a.data).hexdigest(),
                    "b": hashlib.sha256(request.b.data).hexdigest(),
                    "score": round(score, 6),
                },
            ),
        )
    return VerifyResult(pack, score, false_match_rate(calibration, score), fa, fb)
