"""Keep each gallery's vector index equal to the templates in the database.

The database is the truth; the index file is derived. Every open compares a cheap database
fingerprint (count, max id, id sum) with the one saved beside the index; on any difference
(a crash mid-ingest, an erasure) the index is reconciled id by id, so a search can never see
an index that disagrees with the database. ``rebuild_index`` recreates it from scratch.

Authorisation and audit: internal; callers (ingest, search) carry them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Principal, Role
from facetrail.index.faiss_index import FaissIndex
from facetrail.models.registry import get_pack
from facetrail.pipeline.faces import PLAIN
from facetrail.services.accounts import require
from facetrail.services.context import AppContext
from facetrail.services.galleries import get_gallery_row
from facetrail.store.schema import Gallery, TemplateRow

Fingerprint = tuple[int, int, int]


@dataclass(frozen=True)
class IndexReport:
    gallery: str
    entries: int
    added: int
    removed: int
    rebuilt: bool
    description: str


def _paths(ctx: AppContext, gallery: Gallery) -> tuple[Path, Path]:
    base = ctx.settings.index_dir / f"gallery-{gallery.id}-{gallery.pack}"
    return base.with_suffix(".faiss"), base.with_suffix(".json")


def _templates(gallery: Gallery) -> tuple[ColumnElement[bool], ...]:
    return (
        TemplateRow.gallery_id == gallery.id,
        TemplateRow.pack == gallery.pack,
        TemplateRow.kind == PLAIN,
    )


def fingerprint(session: Session, gallery: Gallery) -> Fingerprint:
    row = session.execute(
        select(
            func.count(TemplateRow.id),
            func.coalesce(func.max(TemplateRow.id), 0),
            func.coalesce(func.sum(TemplateRow.id), 0),
        ).where(*_templates(gallery))
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _vectors(
    session: Session, gallery: Gallery, ids: np.ndarray | None, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    stmt = select(TemplateRow.id, TemplateRow.vector).where(*_templates(gallery))
    rows: list[tuple[int, bytes]] = []
    if ids is None:
        rows = [(int(i), bytes(v)) for i, v in session.execute(stmt)]
    else:
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            rows += [
                (int(i), bytes(v)) for i, v in session.execute(stmt.where(TemplateRow.id.in_(part)))
            ]
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    out_ids = np.array([r[0] for r in rows], dtype=np.int64)
    vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return out_ids, vecs


def _save(ctx: AppContext, gallery: Gallery, index: FaissIndex, fp: Fingerprint) -> None:
    index_path, meta_path = _paths(ctx, gallery)
    index.save(index_path)
    meta_path.write_text(
        json.dumps({"fingerprint": list(fp), "pack": gallery.pack, "description": index.describe()})
    )


def open_index(
    ctx: AppContext, session: Session, gallery: Gallery
) -> tuple[FaissIndex, IndexReport]:
    """The gallery's index, reconciled with the database (loading or repairing as needed)."""
    fp = fingerprint(session, gallery)
    cached = ctx.indexes.get(gallery.id)
    if cached is not None and cached[1] == fp:
        return cached[0], IndexReport(
            gallery.name, len(cached[0]), 0, 0, False, cached[0].describe()
        )
    index_path, meta_path = _paths(ctx, gallery)
    dim = get_pack(gallery.pack, ctx.settings.home).manifest.embedding_dim
    index: FaissIndex | None = None
    saved_fp: Fingerprint | None = None
    if index_path.exists() and meta_path.exists():
        index = FaissIndex.load(index_path)
        count, max_id, id_sum = json.loads(meta_path.read_text())["fingerprint"]
        saved_fp = (int(count), int(max_id), int(id_sum))
        if index.dim != dim:
            index = None
    rebuilt = index is None
    added = removed = 0
    if index is None:
        index = FaissIndex(dim)
        ids, vecs = _vectors(session, gallery, None, dim)
        index.add(ids, vecs)
        added = len(ids)
    elif saved_fp != fp or len(index) != fp[0]:
        db_ids = np.array(
            session.scalars(select(TemplateRow.id).where(*_templates(gallery))).all(),
            dtype=np.int64,
        )
        have = index.ids()
        extra = np.setdiff1d(have, db_ids)
        missing = np.setdiff1d(db_ids, have)
        removed = index.remove(extra)
        ids, vecs = _vectors(session, gallery, missing, dim)
        index.add(ids, vecs)
        added = len(ids)
    if rebuilt or added or removed or saved_fp != fp:
        _save(ctx, gallery, index, fp)
    ctx.indexes[gallery.id] = (index, fp)
    return index, IndexReport(gallery.name, len(index), added, removed, rebuilt, index.describe())


def add_to_index(
    ctx: AppContext,
    session: Session,
    gallery: Gallery,
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    save: bool,
) -> None:
    """Add freshly committed templates to the open index (ingest calls this after commit).

    If the index is not open, or another writer changed the gallery meanwhile (the counts no
    longer match), the index is reconciled with the database instead of trusted.
    """
    fp = fingerprint(session, gallery)
    cached = ctx.indexes.get(gallery.id)
    if cached is not None:
        cached[0].add(ids, vectors)
        if len(cached[0]) == fp[0]:
            ctx.indexes[gallery.id] = (cached[0], fp)
            if save:
                _save(ctx, gallery, cached[0], fp)
            return
        ctx.indexes.pop(gallery.id)
    open_index(ctx, session, gallery)
    if save:
        index, fp = ctx.indexes[gallery.id]
        _save(ctx, gallery, index, fp)


def rebuild_index(ctx: AppContext, actor: Principal, gallery_name: str) -> IndexReport:
    """Throw the index away and recreate it from the database's templates."""
    require(ctx, actor, "index.rebuild", gallery_name, Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN)
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, gallery_name)
        for path in _paths(ctx, gallery):
            path.unlink(missing_ok=True)
        ctx.indexes.pop(gallery.id, None)
        _, report = open_index(ctx, session, gallery)
    with ctx.transaction() as session:
        append(
            session,
            AuditEvent(
                actor.username,
                "index.rebuild",
                gallery_name,
                {"entries": report.entries, "index": report.description},
            ),
        )
    return report


def check_index(ctx: AppContext, gallery_name: str) -> IndexReport:
    """Open (and if needed repair) the index; report what had to change."""
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, gallery_name)
        ctx.indexes.pop(gallery.id, None)
        _, report = open_index(ctx, session, gallery)
        return report
