"""What a gallery index is built from and checked against in the store: its templates (their
rows, the version that moves on with every change, and a fingerprint of their ids). Private
to ``indexing``."""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session

from facetrail.errors import StorageFullError, VectorIndexError
from facetrail.index.base import Ids, VectorIndex, Vectors
from facetrail.index.files import Fingerprint, IndexFiles
from facetrail.pipeline.faces import PLAIN
from facetrail.store.schema import Gallery, TemplateRow

__all__ = [
    "BOUND_TEMPLATE_FILTER",
    "fingerprint",
    "saved_if_room",
    "stored_vectors",
    "template_filter",
    "template_params",
    "templates_version",
    "vectors_of",
]


log = logging.getLogger("facetrail.index")


def saved_if_room(files: IndexFiles, index: VectorIndex, fp: Fingerprint, name: str) -> str | None:
    """``files.save``: -> the index file's SHA-256; None when the disk is full. The index is
    derived from the store, so a search or an ingest already committed does not fail for want
    of room to keep it: the old files stay whole (and sealed), this process keeps the index in
    memory, and the next open reconciles the old file with the store. Said in one log line."""
    try:
        return files.save(index, fp)
    except StorageFullError as exc:
        log.warning("gallery %s: its index is kept in memory, not saved: %s", name, exc)
        return None


def template_filter(gallery: Gallery) -> tuple[ColumnElement[bool], ...]:
    return (
        TemplateRow.gallery_id == gallery.id,
        TemplateRow.pack == gallery.pack,
        TemplateRow.kind == PLAIN,
    )


#: ``template_filter`` with the gallery bound when run (``template_params``): for statements
#: built once.
BOUND_TEMPLATE_FILTER: tuple[ColumnElement[bool], ...] = (
    TemplateRow.gallery_id == bindparam("gallery_id"),
    TemplateRow.pack == bindparam("pack"),
    TemplateRow.kind == PLAIN,
)


def template_params(gallery: Gallery) -> dict[str, object]:
    """The parameters of ``BOUND_TEMPLATE_FILTER`` for ``gallery``."""
    return {"gallery_id": gallery.id, "pack": gallery.pack}


def templates_version(session: Session, gallery: Gallery) -> int:
    """The gallery's templates version (one row read): what a warm worker checks per search.
    Read it before the fingerprint, so that a version never claims more than the index holds
    (under READ COMMITTED each statement sees the latest commits)."""
    return int(
        session.scalar(select(Gallery.templates_version).where(Gallery.id == gallery.id)) or 0
    )


def fingerprint(session: Session, gallery: Gallery) -> Fingerprint:
    row = session.execute(
        select(
            func.count(TemplateRow.id),
            func.coalesce(func.max(TemplateRow.id), 0),
            func.coalesce(func.sum(TemplateRow.id), 0),
        ).where(*template_filter(gallery))
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def stored_vectors(
    session: Session, gallery: Gallery, ids: Ids | None, dim: int
) -> tuple[Ids, Vectors]:
    """The gallery's stored templates (all, or those of ``ids`` that belong to it)."""
    stmt = select(TemplateRow.id, TemplateRow.vector).where(*template_filter(gallery))
    rows: list[tuple[int, bytes]] = []
    if ids is None:
        rows = [(int(i), bytes(v)) for i, v in session.execute(stmt)]
    else:
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            rows += [
                (int(i), bytes(v)) for i, v in session.execute(stmt.where(TemplateRow.id.in_(part)))
            ]
    return vectors_of(gallery, rows, dim)


def vectors_of(gallery: Gallery, rows: list[tuple[int, bytes]], dim: int) -> tuple[Ids, Vectors]:
    """Stored (template id, vector) rows as arrays; a vector of the wrong size is named."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    for tid, blob in rows:
        if len(blob) != dim * 4:  # a damaged row is named, never reshaped into a traceback
            raise VectorIndexError(
                f"template {tid} holds {len(blob)} bytes, not a {dim}-d vector",
                subject=gallery.name,
            )
    out_ids = np.array([r[0] for r in rows], dtype=np.int64)
    vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return out_ids, vecs
