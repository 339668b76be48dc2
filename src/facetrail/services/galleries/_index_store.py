"""What a gallery index is built from and checked against in the store: its templates (their
rows, the version that moves on with every change, and a fingerprint of their ids). Private
to ``indexing``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.orm import Session

from facetrail.errors import StorageFullError, VectorIndexError
from facetrail.index.base import Ids, VectorIndex, Vectors
from facetrail.index.files import Fingerprint, IndexFiles
from facetrail.pipeline.faces import PLAIN
from facetrail.store.schema import Gallery, TemplateRow

__all__ = [
    "BOUND_TEMPLATE_FILTER",
    "binds_arrays",
    "fingerprint",
    "ids_bound",
    "saved_if_room",
    "short_list_vectors",
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


_TEMPLATES: Table = TemplateRow.__table__  # type: ignore[assignment]

#: ``template_filter`` with the gallery bound when run (``template_params``): for statements
#: built once. Of the table's columns, so that a statement built on it is plain Core, which a
#: connection runs without the ORM's compilation and result handling.
BOUND_TEMPLATE_FILTER: tuple[ColumnElement[bool], ...] = (
    _TEMPLATES.c.gallery_id == bindparam("gallery_id"),
    _TEMPLATES.c.pack == bindparam("pack"),
    _TEMPLATES.c.kind == PLAIN,
)


def ids_bound(column: ColumnElement[int], *, array: bool) -> ColumnElement[bool]:
    """``column`` among the ids bound as ``ids`` (a list): one array parameter (``= ANY``)
    where the driver binds arrays (``binds_arrays``), else an expanding ``IN``. With one
    parameter the statement's text is the same for any number of ids, so psycopg parses it
    once and PostgreSQL can keep its plan; rendering and parsing a short list's 200
    placeholders anew for each search took about a fifth of reading its vectors."""
    if array:
        return column == any_(bindparam("ids", type_=ARRAY(BigInteger)))
    return column.in_(bindparam("ids", expanding=True))


def binds_arrays(connection: Connection) -> bool:
    """Whether ``connection``'s database takes a list of ids as one array (``ids_bound``)."""
    return connection.dialect.name == "postgresql"


#: The (id, vector) of the gallery's templates among the ids bound as ``ids``: what a search's
#: short list is re-scored from, in one round trip; built once (each search only binds), by
#: whether the database binds arrays.
_SHORT_LIST_VECTORS = {
    array: select(_TEMPLATES.c.id, _TEMPLATES.c.vector).where(
        *BOUND_TEMPLATE_FILTER, ids_bound(_TEMPLATES.c.id, array=array)
    )
    for array in (False, True)
}


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


def short_list_vectors(
    session: Session, gallery: Gallery, ids: list[int], dim: int
) -> tuple[Ids, Vectors]:
    """The stored templates of those of ``ids`` that are the gallery's, in one Core statement
    on the session's connection (its transaction): a search's short list, re-scored from them.
    In no particular order; an id not the gallery's, or given twice, is there at most once."""
    if not ids:
        return vectors_of(gallery, [], dim)
    connection = session.connection()
    statement = _SHORT_LIST_VECTORS[binds_arrays(connection)]
    rows = connection.execute(statement, {**template_params(gallery), "ids": ids}).all()
    return vectors_of(gallery, rows, dim)


def vectors_of(
    gallery: Gallery, rows: Sequence[tuple[int, bytes]], dim: int
) -> tuple[Ids, Vectors]:
    """Stored (template id, vector) rows as arrays; a vector of the wrong size is named."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    ids, blobs = zip(*rows, strict=True)
    lengths = list(map(len, blobs))
    if lengths.count(dim * 4) != len(lengths):  # named, never reshaped into a traceback
        tid, size = next((t, n) for t, n in zip(ids, lengths, strict=True) if n != dim * 4)
        raise VectorIndexError(
            f"template {tid} holds {size} bytes, not a {dim}-d vector", subject=gallery.name
        )
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(rows), dim)
    return np.array(ids, dtype=np.int64), vectors
