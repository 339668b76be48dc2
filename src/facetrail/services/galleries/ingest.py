"""Ingest a folder of images into a gallery, under a recorded source.

Resumable by construction: every file is identified by the sha256 of its bytes, and each
batch of results (images, faces, templates, failures) is committed in one transaction, after
the blobs it refers to are on disk. Re-running after an interruption, even ``kill -9``, skips
what is committed and finishes the rest; the index is reconciled with the database on every
open, so the two never disagree.

Only what lies inside the folder it was given is read (``services.galleries._ingest_files`` and
``imaging.intake``): symlinks are never followed out of it, special files never opened for
reading, and manifest rows naming anything outside it are refused. It is never one of
facetrail's own folders, nor holds one (``services.galleries._server_folders``).

Authorisation and audit: see ``ingest``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from facetrail.errors import FacetrailError, StorageFullError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.imaging.intake import open_regular_file
from facetrail.pipeline.batch import BatchConfig, ImageJob, ImageResult, analyse_files
from facetrail.pipeline.faces import PLAIN
from facetrail.services.context import AppContext
from facetrail.services.galleries._ingest_files import (
    FailureInfo,
    list_image_files,
    read_manifest,
    rel_name,
    shown,
)
from facetrail.services.galleries._ingest_refusals import BLOCKLISTED, blocklisted, drop_blobs
from facetrail.services.galleries._server_folders import outside_facetrail
from facetrail.services.galleries.admin import get_gallery_row, get_source_row
from facetrail.services.galleries.indexing import add_to_index, open_index
from facetrail.services.galleries.sources import check_not_retired
from facetrail.services.unit_of_work import action, refuse, require, system_action
from facetrail.store.schema import Face, Gallery, Image, IngestFailure, Source, TemplateRow

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class IngestRequest:
    path: Path
    gallery: str
    source: str
    #: CSV with columns ``file`` (path relative to ``path``) and ``subject_ref``.
    manifest: Path | None = None
    workers: int = 1
    batch_size: int = 64


@dataclass
class IngestSummary:
    gallery: str
    source: str
    files: int = 0
    images_ingested: int = 0
    faces: int = 0
    images_without_face: int = 0
    duplicates_skipped: int = 0
    already_ingested: int = 0
    #: .csv/.txt/... files beside the photos, not offered to the decoder
    side_files_skipped: int = 0
    failures: list[FailureInfo] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.images_ingested / self.seconds if self.seconds > 0 else 0.0


def ingest(
    ctx: AppContext,
    actor: Principal,
    request: IngestRequest,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest every image under ``request.path``; one bad file never stops the batch.

    Authorisation: a gallery admin or system admin. Nothing outside ``request.path`` is read
    (see ``list_image_files`` and ``read_manifest``), and never one of facetrail's own
    folders or a folder holding one (``folder_not_allowed``). Audit: one
    ``gallery.ingest.batch`` entry per committed batch, written with it; files refused unread
    (symlinks out of the folder, loops, FIFOs, devices) in one ``gallery.ingest.files.refused``
    entry and in the summary's failures; a refused request (role, facetrail's own folder, a
    manifest row outside the folder, no such folder, a retired source) as
    ``gallery.ingest.refused``.
    """
    require(ctx, actor, "gallery.ingest", request.gallery, Permission.INGEST)
    started = time.perf_counter()
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, request.gallery)
        source = get_source_row(session, gallery, request.source)
        open_index(ctx, session, gallery)  # repair first, so appends extend a true index
    subject = f"{gallery.name}/{source.name}"
    try:
        with ctx.sessions() as session:
            check_not_retired(session, source)
        # Resolved once, here: what is listed and read is the folder that was checked.
        root = outside_facetrail(ctx.settings, request.path)
        manifest = outside_facetrail(ctx.settings, request.manifest) if request.manifest else None
        subjects = read_manifest(manifest, root) if manifest else {}
        listing = list_image_files(root, exclude=manifest)
    except FacetrailError as exc:
        refuse(ctx, actor.username, "gallery.ingest", subject, exc, {"path": shown(request.path)})
    files = listing.images
    summary = IngestSummary(
        gallery.name, source.name, files=len(files), side_files_skipped=len(listing.side_files)
    )
    if listing.refused:
        _record_refused(ctx, actor.username, subject, listing.refused)
        summary.failures.extend(listing.refused)
    todo, hashes = _plan(ctx, gallery, files, root, summary)
    if progress:
        progress(len(files) - len(todo), len(files))
    config = ctx.batch_config(gallery.pack, request.workers, keep_blobs=True)
    jobs = [ImageJob(p, follow_symlinks=False) for p in todo]
    pending: list[ImageResult] = []
    for chunk in _analysed(ctx, actor, subject, jobs, config, request.workers):
        pending.extend(chunk)
        if len(pending) >= request.batch_size:
            _commit(ctx, actor, gallery, source, pending, hashes, subjects, root, summary)
            pending = []
        if progress:
            progress(len(chunk), len(files))
    _commit(
        ctx,
        actor,
        gallery,
        source,
        pending,
        hashes,
        subjects,
        root,
        summary,
        save_index=True,
    )
    summary.seconds = time.perf_counter() - started
    return summary


def _analysed(
    ctx: AppContext,
    actor: Principal,
    subject: str,
    jobs: list[ImageJob],
    config: BatchConfig,
    workers: int,
) -> Iterator[list[ImageResult]]:
    """``analyse_files``, whose workers keep each photo before its result is returned: a full
    disk there stops the run as a refusal (``gallery.ingest.refused``, code ``storage_full``);
    the batches committed before it stay, and the same ingest finishes once there is room."""
    try:
        yield from analyse_files(jobs, config, workers=workers, chunk=16)
    except StorageFullError as exc:
        refuse(ctx, actor.username, "gallery.ingest", subject, exc)


def _plan(
    ctx: AppContext, gallery: Gallery, files: list[Path], root: Path, summary: IngestSummary
) -> tuple[list[Path], dict[Path, str]]:
    """Hash every file; drop those already committed and duplicates within this run."""
    hashes: dict[Path, str] = {}
    for path in files:
        try:
            digest = hashlib.sha256()
            # Not following links and never blocking: a file swapped for a symlink or a FIFO
            # since it was listed is refused here.
            with os.fdopen(open_regular_file(path, follow_symlinks=False), "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            hashes[path] = digest.hexdigest()
        except FacetrailError as exc:
            summary.failures.append(FailureInfo(rel_name(path, root), exc.code, exc.message))
        except OSError as exc:
            summary.failures.append(FailureInfo(rel_name(path, root), "image_unreadable", str(exc)))
    known: set[str] = set()
    with ctx.sessions() as session:
        shas = list(set(hashes.values()))
        for start in range(0, len(shas), 500):
            part = shas[start : start + 500]
            known.update(
                session.scalars(
                    select(Image.sha256).where(
                        Image.gallery_id == gallery.id, Image.sha256.in_(part)
                    )
                )
            )
            known.update(
                session.scalars(
                    select(IngestFailure.sha256).where(
                        IngestFailure.gallery_id == gallery.id, IngestFailure.sha256.in_(part)
                    )
                )
            )
    todo: list[Path] = []
    seen: set[str] = set()
    for path, sha in hashes.items():
        if sha in known:
            summary.already_ingested += 1
        elif sha in seen:
            summary.duplicates_skipped += 1
        else:
            seen.add(sha)
            todo.append(path)
    return todo, hashes


def _commit(
    ctx: AppContext,
    actor: Principal,
    gallery: Gallery,
    source: Source,
    results: list[ImageResult],
    hashes: dict[Path, str],
    subjects: dict[Path, str],
    root: Path,
    summary: IngestSummary,
    *,
    save_index: bool = False,
) -> None:
    """Write one batch (blobs are on disk already) in a single transaction, then the index."""
    good: list[ImageResult] = []
    bad: list[tuple[ImageResult, str, str]] = []
    for r in results:
        if not r.ok:
            bad.append((r, r.error_code or "error", r.error_message or ""))
            continue
        if r.sha256 != hashes[r.job.path]:
            bad.append((r, "image_changed", "file changed while being ingested"))
            continue
        good.append(r)
    refused = blocklisted(ctx, gallery, good)
    if refused:
        good = [r for r in good if r not in refused]
        bad += [(r, "blocklisted", BLOCKLISTED) for r in refused]
    subject = f"{gallery.name}/{source.name}"
    with action(ctx, actor, "gallery.ingest", subject, Permission.INGEST) as (session, _):
        check_not_retired(session, source)  # retired while this ingest ran: it stops here
        if bad:
            session.execute(
                insert(IngestFailure),
                [
                    {
                        "gallery_id": gallery.id,
                        "source_id": source.id,
                        "sha256": hashes[r.job.path],
                        "original_name": rel_name(r.job.path, root),
                        "code": code,
                        "message": message,
                    }
                    for r, code, message in bad
                ],
            )
        new_ids, new_vecs = _insert_images(session, gallery, source, good, hashes, subjects, root)
        if good or bad:
            append(
                session,
                AuditEvent(
                    actor.username,
                    "gallery.ingest.batch",
                    f"{gallery.name}/{source.name}",
                    {
                        "images": sorted(r.sha256 for r in good),
                        "faces": sum(len(r.faces) for r in good),
                        "failed": sorted(hashes[r.job.path] for r, _, _ in bad),
                    },
                ),
            )
    drop_blobs(ctx, [r.sha256 for r in refused if r.sha256])
    for r, code, message in bad:
        summary.failures.append(FailureInfo(rel_name(r.job.path, root), code, message))
    summary.images_ingested += len(good)
    summary.faces += sum(len(r.faces) for r in good)
    summary.images_without_face += sum(1 for r in good if not r.faces)
    with ctx.sessions() as session:
        vecs = np.stack(new_vecs) if new_vecs else np.zeros((0, 1), np.float32)
        add_to_index(ctx, session, gallery, np.array(new_ids, np.int64), vecs, save=save_index)


def _insert_images(
    session: Session,
    gallery: Gallery,
    source: Source,
    good: list[ImageResult],
    hashes: dict[Path, str],
    subjects: dict[Path, str],
    root: Path,
) -> tuple[list[int], list[np.ndarray]]:
    """Bulk-insert images, then their faces, then templates: three statements per batch."""
    if not good:
        return [], []
    image_ids = session.scalars(
        insert(Image).returning(Image.id, sort_by_parameter_order=True),
        [
            {
                "gallery_id": gallery.id,
                "source_id": source.id,
                "sha256": hashes[r.job.path],
                "original_name": rel_name(r.job.path, root),
                "subject_ref": subjects.get(r.job.path.resolve()),
                "width": r.width,
                "height": r.height,
                "format": r.format,
                "face_count": len(r.faces),
            }
            for r in good
        ],
    ).all()
    faces = [(image_id, f) for image_id, r in zip(image_ids, good, strict=True) for f in r.faces]
    if not faces:
        return [], []
    face_ids = session.scalars(
        insert(Face).returning(Face.id, sort_by_parameter_order=True),
        [
            {
                "image_id": image_id,
                "face_index": f.index,
                "x1": float(f.detection.bbox[0]),
                "y1": float(f.detection.bbox[1]),
                "x2": float(f.detection.bbox[2]),
                "y2": float(f.detection.bbox[3]),
                "landmarks": json.dumps(f.detection.landmarks.round(2).tolist()),
                "detector_score": f.quality.detector_score,
                "inter_eye_px": f.quality.inter_eye_px,
                "blur": f.quality.blur,
                "yaw_deg": f.quality.yaw_deg,
                "roll_deg": f.quality.roll_deg,
            }
            for image_id, f in faces
        ],
    ).all()
    templates = [
        (face_id, kind, t)
        for face_id, (_, f) in zip(face_ids, faces, strict=True)
        for kind, t in f.templates.items()
    ]
    template_ids = session.scalars(
        insert(TemplateRow).returning(TemplateRow.id, sort_by_parameter_order=True),
        [
            {
                "face_id": face_id,
                "gallery_id": gallery.id,
                "pack": t.pack,
                "kind": kind,
                "dim": t.dim,
                "vector": t.vector.astype(np.float32).tobytes(),
            }
            for face_id, kind, t in templates
        ],
    ).all()
    if template_ids:  # workers' cached indexes are stale from this commit on
        session.execute(
            update(Gallery)
            .where(Gallery.id == gallery.id)
            .values(templates_version=Gallery.templates_version + 1)
        )
    indexed = [
        (int(tid), t.vector.astype(np.float32))
        for tid, (_, kind, t) in zip(template_ids, templates, strict=True)
        if kind == PLAIN and t.pack == gallery.pack
    ]
    return [i for i, _ in indexed], [v for _, v in indexed]


def _record_refused(ctx: AppContext, actor: str, subject: str, refused: list[FailureInfo]) -> None:
    """Files refused unread are audited together, before anything is read."""
    with system_action(ctx, "gallery.ingest.files", subject, actor=actor) as session:
        append(
            session,
            AuditEvent(
                actor,
                "gallery.ingest.files.refused",
                subject,
                {"files": [{"file": f.file, "code": f.code} for f in refused]},
            ),
        )
