"""A gallery's index kept in Milvus (``Settings.index_url``, FACETRAIL_INDEX_URL), for
``indexing``: one collection per gallery and pack, opened once per process (and closed with
its context), held to the store's templates.

Milvus keeps the vectors itself, so nothing is written to the home and nothing is sealed by
the log: the seal holds a FAISS file to the one facetrail wrote, and here there is no file.
What stands in for it is what every backend gets from ``indexing``: each open reconciles the
collection's ids with the store's templates, every score a search returns is recomputed from
the stored template (a vector edited inside Milvus is an ``index.mismatch``, and the collection
is refilled), and ``check_index`` compares every vector held with its template.

Every worker of a deployment shares the collection, so refilling never empties it (a search
elsewhere meanwhile would miss true templates): each stored template is written again over
whatever is held under its id, then the ids the store lacks are erased. An erasure
(``rewritten``) erases the ids the store no longer has: deleted, flushed, compacted, and proven
answered neither by id nor by a search with the erased vector (``MilvusIndex.erase``).

pymilvus (``facetrail[milvus]``) is imported only when a collection is first opened: a
deployment on FAISS files neither needs it nor waits a second for its import.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import VectorIndexError
from facetrail.index.base import Ids, Vectors
from facetrail.index.reconcile import reconcile
from facetrail.services.context import AppContext
from facetrail.services.galleries._index_store import stored_vectors, template_filter
from facetrail.store.schema import Gallery, TemplateRow

if TYPE_CHECKING:
    from facetrail.index.milvus_index import MilvusIndex

__all__ = ["collection_name", "reconciled", "refilled", "rewritten"]

#: What Milvus allows in a collection's name (letters, digits, underscores; not a digit first).
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")
#: Milvus's longest collection name.
_LONGEST = 255


def collection_name(gallery: Gallery) -> str:
    """``facetrail_gallery_<id>_<pack>``, stable for the gallery's life. Characters of the
    pack's name that Milvus refuses (``arcface-mbf``) become underscores, and then a hash of
    the name itself is added, which keeps apart two packs that would read alike."""
    safe = _NOT_ALLOWED.sub("_", gallery.pack)
    name = f"facetrail_gallery_{gallery.id}_{safe}"
    if safe == gallery.pack and len(name) <= _LONGEST:
        return name
    digest = hashlib.sha256(gallery.pack.encode()).hexdigest()[:8]
    return f"{name[: _LONGEST - len(digest) - 1]}_{digest}"


def reconciled(
    ctx: AppContext, session: Session, gallery: Gallery, dim: int
) -> tuple[MilvusIndex, int, int]:
    """The gallery's collection with the store's ids: those it lacks added from their stored
    templates, those the store lacks removed. -> (it, added, removed)."""
    index = _collection(ctx, gallery, dim)
    added, removed = reconcile(
        index,
        _template_ids(session, gallery),
        lambda ids: stored_vectors(session, gallery, ids, dim),
    )
    return index, added, removed


def refilled(
    ctx: AppContext, gallery: Gallery, dim: int, ids: Ids, vectors: Vectors
) -> MilvusIndex:
    """The gallery's collection made to hold exactly ``ids`` (the store's templates) with
    their ``vectors``: each written over whatever is held under its id, then every other id
    erased. Never empty meanwhile (see the module's text)."""
    index = _collection(ctx, gallery, dim)
    index.add(ids, vectors)  # an upsert: an edited vector is replaced
    index.erase(np.setdiff1d(index.ids(), ids))
    return index


def rewritten(ctx: AppContext, session: Session, gallery: Gallery, dim: int) -> MilvusIndex:
    """The gallery's collection after templates were deleted from the store (erasure,
    retention): the ids it holds that the store lacks erased and proven gone, and any
    template it lacks added."""
    index = _collection(ctx, gallery, dim)
    truth, have = _template_ids(session, gallery), index.ids()
    index.erase(np.setdiff1d(have, truth))
    index.add(*stored_vectors(session, gallery, np.setdiff1d(truth, have), dim))
    return index


def _collection(ctx: AppContext, gallery: Gallery, dim: int) -> MilvusIndex:
    """The gallery's collection at ``Settings.index_url``, opened (and made, if missing) the
    first time this context needs it."""
    url = ctx.settings.index_url
    assert url is not None, "only with FACETRAIL_INDEX_URL set"
    name = collection_name(gallery)
    with ctx.index_lock:  # one connection a collection, whichever request thread asks first
        held = ctx.milvus_collections.get(name)
        if held is None:
            held = ctx.milvus_collections[name] = _milvus_index().open(url, name, dim)
    return held


def _milvus_index() -> type[MilvusIndex]:
    try:
        from facetrail.index.milvus_index import MilvusIndex
    except ModuleNotFoundError as exc:
        raise VectorIndexError(
            f"FACETRAIL_INDEX_URL names Milvus, but {exc.name!r} is not installed: pip install "
            "'facetrail[milvus]'",
            subject="FACETRAIL_INDEX_URL",
        ) from exc
    return MilvusIndex


def _template_ids(session: Session, gallery: Gallery) -> Ids:
    found = session.scalars(select(TemplateRow.id).where(*template_filter(gallery))).all()
    return np.array(found, dtype=np.int64)
