"""Keep each gallery's vector index equal to the templates in the database.

The database is the truth; the index is derived. Opening one checks its files (digest,
metadata, shape: ``index.files``) and compares a cheap database fingerprint (count, max id,
id sum) with the one saved beside it; a difference in ids (a crash mid-ingest, an erasure) is
reconciled id by id, damaged files are rebuilt from the store. Each file facetrail writes has
its SHA-256 sealed by the log (an ``index.write`` entry and the gallery's ``index_seals``
row): a file that is not the one last written (a vector negated or replaced with noise, the
metadata re-hashed to match) is rebuilt when a worker loads it, and by the service's scheduled
``check_indexes``. A search believes no score the index returns: ``search_index`` recomputes
each from the stored template, and an index that disagrees is rebuilt and searched again.
``rebuild_index`` recreates it from scratch. A full disk keeps the old files
(``_index_files.save``). Up to ``Settings.exact_index_up_to`` templates a gallery's index is
exact; above, an inverted file of 8-bit codes, and above ``Settings.compressed_index_from``
one of 64-byte product codes (``index.choose``), built anew when the gallery outgrows its kind
or its lists, or brings templates its codes cannot hold.

Authorisation: internal, except ``rebuild_index`` and ``check_index_for`` (gallery admins,
system admins; ``check_index`` itself is the operator's, run from a shell). Audit: a
damaged index (``index.damaged``) and an index that disagreed with the store
(``index.mismatch``) are entries, written in their own transaction as soon as they are found
(so never call these inside a write transaction), and so is each file written
(``index.write``: its hash and size); they carry counts and reasons, never vectors or ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import IndexIntegrityError, VectorIndexError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.index.base import VectorIndex
from facetrail.index.choose import build_index, changed_on_disk, outgrown
from facetrail.index.faiss_index import set_threads
from facetrail.index.files import DAMAGE_WORDS as DAMAGE_WORDS  # said by its pages and CLI
from facetrail.index.files import Fingerprint, IndexDamage
from facetrail.index.reconcile import (
    Rescored,
    disagreeing_vectors,
    reconcile,
    rescore,
    score_tolerance,
)
from facetrail.services.context import AppContext
from facetrail.services.galleries import _index_store
from facetrail.services.galleries._index_files import SYSTEM as SYSTEM
from facetrail.services.galleries._index_files import (
    dim_of,
    files_of,
    record,
    sealed_file,
    thresholds,
)
from facetrail.services.galleries._index_files import save as save_index
from facetrail.services.galleries._index_store import (
    fingerprint,
    stored_vectors,
    template_filter,
    templates_version,
    vectors_of,
)
from facetrail.services.galleries.admin import get_gallery_row
from facetrail.services.unit_of_work import action, require
from facetrail.store.schema import Gallery, TemplateRow

#: For callers that read the templates ``search_index`` rescores with (``TemplateReader``):
#: the gallery's templates, the gallery bound when run (``template_params``).
BOUND_TEMPLATE_FILTER = _index_store.BOUND_TEMPLATE_FILTER
template_params = _index_store.template_params

#: How a caller of ``search_index`` reads the stored templates it rescores with: ids -> the
#: (id, vector) rows of those that are the gallery's templates (``BOUND_TEMPLATE_FILTER``).
TemplateReader = Callable[[list[int]], list[tuple[int, bytes]]]


@dataclass(frozen=True)
class IndexReport:
    gallery: str
    entries: int
    added: int
    removed: int
    rebuilt: bool
    description: str
    #: why the stored index could not be used (``IndexDamage``), if it could not
    damage: str | None = None
    #: how many entries disagreed with the stored templates (``check_index``, searches)
    disagreed: int = 0


def _build(
    ctx: AppContext, session: Session, gallery: Gallery, dim: int
) -> tuple[VectorIndex, Fingerprint]:
    """A new index from the store's templates, saved (and its file sealed) and cached."""
    version = templates_version(session, gallery)
    fp = fingerprint(session, gallery)
    ids, vectors = stored_vectors(session, gallery, None, dim)
    index = build_index(dim, ids, vectors, at=thresholds(ctx.settings))
    save_index(ctx, gallery, index, fp)
    ctx.indexes[gallery.id] = (index, fp)
    ctx.index_versions[gallery.id] = version
    return index, fp


def open_index(
    ctx: AppContext, session: Session, gallery: Gallery, *, actor: str = SYSTEM
) -> tuple[VectorIndex, IndexReport]:
    """The gallery's index, reconciled with the database (loading or repairing as needed).

    Damaged files are rebuilt from the store and logged as ``index.damaged`` (by ``actor``).
    A warm worker's cached index is current while the gallery's templates version is the one
    it was reconciled at (one row read); otherwise the fingerprint (a count over the
    gallery's templates) decides. A template removed behind facetrail's back without a new
    version stays in the cached index until then, and is never shown: ``search_index``
    recomputes every score from the stored template and rebuilds an index that disagrees.
    """
    version = templates_version(session, gallery)
    cached = ctx.indexes.get(gallery.id)
    if cached is not None and changed_on_disk(cached[0]):
        cached = None  # its mapped file was replaced or written: opened again, and checked
        ctx.indexes.pop(gallery.id, None)
    if cached is not None and ctx.index_versions.get(gallery.id) == version:
        index = cached[0]
        return index, IndexReport(gallery.name, len(index), 0, 0, False, index.describe())
    fp = fingerprint(session, gallery)
    if cached is not None and cached[1] == fp:
        index = cached[0]
        ctx.index_versions[gallery.id] = version
        return index, IndexReport(gallery.name, len(index), 0, 0, False, index.describe())
    dim = dim_of(ctx, gallery)
    opened = sealed_file(session, gallery, files_of(ctx, gallery).open(dim))
    damage = opened.damage
    if opened.absent and fp[0] > 0:
        damage = IndexDamage.MISSING  # both files gone while the store has templates
    if opened.index is None:
        index, fp = _build(ctx, session, gallery, dim)
        report = IndexReport(
            gallery.name, len(index), len(index), 0, True, index.describe(), damage
        )
        if damage is not None:
            record(
                ctx,
                actor,
                "index.damaged",
                gallery,
                {"reason": str(damage), "entries": len(index), "index": index.describe()},
            )
        return index, report
    index, added, removed = opened.index, 0, 0
    if opened.fingerprint != fp or len(index) != fp[0]:
        truth = np.array(
            session.scalars(select(TemplateRow.id).where(*template_filter(gallery))).all(),
            dtype=np.int64,
        )
        try:
            added, removed = reconcile(
                index, truth, lambda ids: stored_vectors(session, gallery, ids, dim)
            )
        except VectorIndexError:  # templates its codes cannot hold: trained anew
            index, fp = _build(ctx, session, gallery, dim)
            return index, IndexReport(gallery.name, len(index), 0, 0, True, index.describe())
        save_index(ctx, gallery, index, fp)
    if outgrown(index, len(index), at=thresholds(ctx.settings)):
        index, fp = _build(ctx, session, gallery, dim)  # another kind for its size
        return index, IndexReport(gallery.name, len(index), 0, 0, True, index.describe())
    ctx.indexes[gallery.id] = (index, fp)
    ctx.index_versions[gallery.id] = version
    return index, IndexReport(gallery.name, len(index), added, removed, False, index.describe())


def search_index(
    ctx: AppContext,
    session: Session,
    gallery: Gallery,
    query: np.ndarray,
    top: int,
    *,
    actor: str = SYSTEM,
    read: TemplateReader | None = None,
) -> tuple[VectorIndex, list[tuple[float, int]]]:
    """The top ``top`` (score, template id) of the gallery for one query, best first, each
    score recomputed from the stored template (``read``: how the caller reads them, keeping
    what else it reads with them; by default their vectors alone).

    An index that returns an id with no template in this gallery, or a score its template does
    not give, is logged (``index.mismatch``: how many of how many disagreed), rebuilt from the
    store and searched again. Raises ``IndexIntegrityError`` (a system fault) if the rebuilt
    index still disagrees.
    """
    with ctx.index_lock:
        dim = dim_of(ctx, gallery)
        index, _ = open_index(ctx, session, gallery, actor=actor)
        result = _rescored_search(session, gallery, index, query, top, dim, read)
        if result.disagreed == 0:
            return index, result.hits
        record(
            ctx,
            actor,
            "index.mismatch",
            gallery,
            {
                "disagreed": result.disagreed,
                "checked": result.checked,
                "entries": len(index),
                "index": index.describe(),
            },
        )
        index, _ = _build(ctx, session, gallery, dim)
        again = _rescored_search(session, gallery, index, query, top, dim, read)
        if again.disagreed:
            raise IndexIntegrityError(
                f"the rebuilt index still disagrees with {again.disagreed} stored templates",
                subject=gallery.name,
            )
        return index, again.hits


def _rescored_search(
    session: Session,
    gallery: Gallery,
    index: VectorIndex,
    query: np.ndarray,
    top: int,
    dim: int,
    read: TemplateReader | None,
) -> Rescored:
    scores, ids = index.search(query[None], top)  # an approximate index: a longer list
    found = ids[0][ids[0] >= 0]
    if read is None:
        stored_ids, stored = stored_vectors(session, gallery, found, dim)
    else:
        stored_ids, stored = vectors_of(gallery, read([int(i) for i in found]), dim)
    by_id = dict(zip(stored_ids.tolist(), stored, strict=True))
    return rescore(query, scores[0], ids[0], by_id, score_tolerance(index), top=top)


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
    with ctx.index_lock:
        fp = fingerprint(session, gallery)
        cached = ctx.indexes.get(gallery.id)
        added = cached is not None and _added(ctx, cached[0], ids, vectors, fp[0])
        if cached is not None and added and len(cached[0]) == fp[0]:
            ctx.indexes[gallery.id] = (cached[0], fp)
            if save:
                save_index(ctx, gallery, cached[0], fp)
            return
        ctx.indexes.pop(gallery.id, None)
        ctx.index_versions.pop(gallery.id, None)
        open_index(ctx, session, gallery)
        if save:
            index, fp = ctx.indexes[gallery.id]
            save_index(ctx, gallery, index, fp)


def _added(
    ctx: AppContext, index: VectorIndex, ids: np.ndarray, vectors: np.ndarray, n: int
) -> bool:
    """Add to the cached index -> False when it must be built anew instead: its codes cannot
    hold the new templates (an inverted file's trained ranges), or the gallery has outgrown
    its kind or its lists (``index.choose.outgrown``)."""
    if outgrown(index, n, at=thresholds(ctx.settings)):
        return False
    try:
        index.add(ids, vectors)
    except VectorIndexError:
        return False
    return True


def rewrite_index(ctx: AppContext, session: Session, gallery: Gallery) -> int:
    """Write the gallery's index anew from the store (the old files removed first), so that
    nothing deleted from the store survives in them (erasure, retention): -> its entries.
    The caller's action logs it."""
    with ctx.index_lock:
        ctx.indexes.pop(gallery.id, None)
        ctx.index_versions.pop(gallery.id, None)
        files_of(ctx, gallery).remove()
        index, _ = _build(ctx, session, gallery, dim_of(ctx, gallery))
    return len(index)


def rebuild_index(ctx: AppContext, actor: Principal, gallery_name: str) -> IndexReport:
    """Throw the index away and recreate it from the database's templates. Gallery admins
    and system admins; refusals and the rebuild are audited."""
    require(ctx, actor, "index.rebuild", gallery_name, Permission.MAINTAIN_INDEX)
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, gallery_name)
        ctx.indexes.pop(gallery.id, None)
        files_of(ctx, gallery).remove()
        index, _ = _build(ctx, session, gallery, dim_of(ctx, gallery))
        report = IndexReport(gallery.name, len(index), len(index), 0, True, index.describe())
    with action(ctx, actor, "index.rebuild", gallery_name, Permission.MAINTAIN_INDEX) as (
        session,
        _,
    ):
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


def check_index(ctx: AppContext, gallery_name: str, *, actor: str = SYSTEM) -> IndexReport:
    """Open (and if needed repair) the index, then compare every vector it holds with the
    stored template: the full check no digest can be forged past. Disagreement is logged as
    ``index.mismatch`` (by ``actor``) and the index rebuilt; the report says what had to
    change."""
    with ctx.index_lock, ctx.sessions() as session:
        gallery = get_gallery_row(session, gallery_name)
        ctx.indexes.pop(gallery.id, None)
        index, report = open_index(ctx, session, gallery, actor=actor)
        dim = dim_of(ctx, gallery)
        ids, stored = stored_vectors(session, gallery, None, dim)
        disagreed = disagreeing_vectors(index, ids, stored)
        if disagreed == 0:
            return report
        record(
            ctx,
            actor,
            "index.mismatch",
            gallery,
            {
                "disagreed": disagreed,
                "checked": len(ids),
                "entries": len(index),
                "index": index.describe(),
            },
        )
        index, _ = _build(ctx, session, gallery, dim)
        return IndexReport(
            gallery.name,
            len(index),
            report.added,
            report.removed,
            True,
            index.describe(),
            report.damage,
            disagreed,
        )


def check_indexes(ctx: AppContext) -> list[IndexReport]:
    """``check_index`` for every gallery (the service's schedule): each index file held to
    its sealed hash and each vector to its stored template, rebuilt and logged where not."""
    with ctx.sessions() as session:
        names = list(session.scalars(select(Gallery.name).order_by(Gallery.id)))
    return [check_index(ctx, name) for name in names]


def check_index_for(ctx: AppContext, actor: Principal, gallery_name: str) -> IndexReport:
    """``check_index`` at a signed-in person's request (the API).

    Gallery admins and system admins; a refusal is ``index.check.refused``, the check itself
    ``index.check`` with what had to change (counts, never vectors or ids)."""
    require(ctx, actor, "index.check", gallery_name, Permission.MAINTAIN_INDEX)
    report = check_index(ctx, gallery_name, actor=actor.username)
    details = {
        "entries": report.entries,
        "added": report.added,
        "removed": report.removed,
        "rebuilt": report.rebuilt,
        "disagreed": report.disagreed,
        "damage": None if report.damage is None else str(report.damage),
    }
    with action(ctx, actor, "index.check", gallery_name, Permission.MAINTAIN_INDEX) as (session, _):
        append(session, AuditEvent(actor.username, "index.check", gallery_name, details))
    return report


def use_search_threads(threads: int) -> None:
    """How many threads an index search may use in this process (see ``set_threads``)."""
    set_threads(threads)
