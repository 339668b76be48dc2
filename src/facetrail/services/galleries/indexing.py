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
or its lists, or brings templates its codes cannot hold. With ``Settings.index_url``
(FACETRAIL_INDEX_URL) each is a Milvus collection instead (``_index_milvus``: no file, no
seal), opened, searched, checked and rebuilt through the same functions.

Authorisation: internal, except ``rebuild_index`` and ``check_index_for`` (gallery admins,
system admins; ``check_index`` itself is the operator's, run from a shell). Audit: a
damaged index (``index.damaged``) and an index that disagreed with the store
(``index.mismatch``) are entries, written in their own transaction as soon as they are found
(so never call these inside a write transaction), and so is each file written
(``index.write``: its hash and size); they carry counts and reasons, never vectors or ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import IndexIntegrityError, VectorIndexError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.index.base import VectorIndex
from facetrail.index.choose import build_index, outgrown
from facetrail.index.faiss_index import set_threads
from facetrail.index.files import DAMAGE_WORDS as DAMAGE_WORDS  # said by its pages and CLI
from facetrail.index.files import Fingerprint
from facetrail.index.reconcile import (
    Rescored,
    disagreeing_vectors,
    reconcile,
    rescore,
    score_tolerance,
)
from facetrail.services.context import AppContext
from facetrail.services.galleries import _index_milvus, _index_store
from facetrail.services.galleries._index_files import SYSTEM as SYSTEM
from facetrail.services.galleries._index_files import (
    add_to_cached,
    dim_of,
    files_of,
    opened_files,
    record,
    thresholds,
)
from facetrail.services.galleries._index_files import save as save_index
from facetrail.services.galleries._index_store import (
    fingerprint,
    stored_vectors,
    template_filter,
    templates_version,
)
from facetrail.services.galleries.admin import get_gallery_row
from facetrail.services.unit_of_work import action, require
from facetrail.store.schema import Gallery, TemplateRow

#: For callers that read the templates of the hits ``search_index`` keeps (``TemplateReader``):
#: the gallery's templates, the gallery bound when run (``template_params``), and their ids
#: bound as one array or an expanding ``IN`` as the database binds best (``ids_bound``).
BOUND_TEMPLATE_FILTER = _index_store.BOUND_TEMPLATE_FILTER
template_params = _index_store.template_params
ids_bound = _index_store.ids_bound
binds_arrays = _index_store.binds_arrays

#: How a caller of ``search_index`` reads the rows of the hits it keeps (and whatever it shows
#: with them): their ids -> the (id, vector) rows of those that are still the gallery's
#: templates (``BOUND_TEMPLATE_FILTER``). The short list itself is re-scored from its vectors
#: alone; only the hits kept are read in full, so a search of a large gallery reads ``top``
#: full rows, not its whole short list.
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
    """A new index from the store's templates, saved (and its file sealed), or the gallery's
    Milvus collection refilled with them; cached."""
    version = templates_version(session, gallery)
    fp = fingerprint(session, gallery)
    ids, vectors = stored_vectors(session, gallery, None, dim)
    if ctx.settings.index_url is not None:
        index: VectorIndex = _index_milvus.refilled(ctx, gallery, dim, ids, vectors)
    else:
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
    # Cached: its entries are the count it was reconciled with (a Milvus server is not asked).
    if cached is not None and ctx.index_versions.get(gallery.id) == version:
        index = cached[0]
        return index, IndexReport(gallery.name, cached[1][0], 0, 0, False, index.describe())
    fp = fingerprint(session, gallery)
    if cached is not None and cached[1] == fp:
        index = cached[0]
        ctx.index_versions[gallery.id] = version
        return index, IndexReport(gallery.name, fp[0], 0, 0, False, index.describe())
    dim = dim_of(ctx, gallery)
    if ctx.settings.index_url is not None:  # no file to check: reconciled with the store
        index, added, removed = _index_milvus.reconciled(ctx, session, gallery, dim)
        ctx.indexes[gallery.id], ctx.index_versions[gallery.id] = (index, fp), version
        return index, IndexReport(gallery.name, fp[0], added, removed, False, index.describe())
    opened = opened_files(ctx, session, gallery, dim, fp[0])
    damage = opened.damage
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
    read_kept: TemplateReader | None = None,
) -> tuple[VectorIndex, list[tuple[float, int]]]:
    """The top ``top`` (score, template id) of the gallery for one query, best first, each
    score recomputed from the stored template: the index's short list is re-scored from the
    stored vectors (one statement), then ``read_kept`` (if given) reads the rows of the hits
    kept, and each must hold the very bytes its hit was scored from, so that what the caller
    checks and shows is what was scored.

    An index that returns an id with no template in this gallery (or returns it twice), or a
    score its template does not give, is logged (``index.mismatch``: how many of how many
    disagreed), rebuilt from the store and searched again; so is a kept hit whose row
    ``read_kept`` no longer finds, or finds holding another vector (the store changed between
    the two reads). Raises ``IndexIntegrityError`` (a system fault) if the rebuilt index still
    disagrees.
    """
    with ctx.index_lock:
        dim = dim_of(ctx, gallery)
        index, _ = open_index(ctx, session, gallery, actor=actor)
        result = _rescored_search(session, gallery, index, query, top, dim, read_kept)
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
        again = _rescored_search(session, gallery, index, query, top, dim, read_kept)
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
    read_kept: TemplateReader | None,
) -> Rescored:
    scores, ids = index.search(query[None], top)  # an approximate index: a longer list
    found = ids[0][ids[0] >= 0].tolist()
    stored_ids, stored = _index_store.short_list_vectors(session, gallery, found, dim)
    by_id = dict(zip(stored_ids.tolist(), stored, strict=True))
    result = rescore(query, scores[0], ids[0], by_id, score_tolerance(index), top=top)
    if read_kept is None:
        return result
    # Read apart from the short list, a kept row is believed only as the bytes scored: one
    # gone or changed since (a commit between the two statements) is a disagreement.
    kept = [tid for _, tid in result.hits]
    reread = dict(read_kept(kept))
    changed = sum(reread.get(tid) != by_id[tid].tobytes() for tid in kept)
    return Rescored(result.hits, result.checked, result.disagreed + changed)


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
        added = cached is not None and add_to_cached(ctx, cached[0], ids, vectors, fp[0])
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


def rewrite_index(ctx: AppContext, session: Session, gallery: Gallery) -> int:
    """Write the gallery's index anew from the store (the old files removed first), so that
    nothing deleted from the store survives in them (erasure, retention): -> its entries. A
    Milvus collection has the ids the store lacks erased, and proven gone, instead.
    The caller's action logs it."""
    with ctx.index_lock:
        ctx.indexes.pop(gallery.id, None)
        ctx.index_versions.pop(gallery.id, None)
        files_of(ctx, gallery).remove()  # and any left from before FACETRAIL_INDEX_URL was set
        if ctx.settings.index_url is not None:
            return len(_index_milvus.rewritten(ctx, session, gallery, dim_of(ctx, gallery)))
        index, _ = _build(ctx, session, gallery, dim_of(ctx, gallery))
    return len(index)


def rebuild_index(ctx: AppContext, actor: Principal, gallery_name: str) -> IndexReport:
    """Throw the index away and recreate it from the database's templates (a Milvus
    collection: refilled). Gallery admins and system admins; refusals and the rebuild are
    audited."""
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
        details = {"disagreed": disagreed, "checked": len(ids), "entries": len(index)}
        record(ctx, actor, "index.mismatch", gallery, details | {"index": index.describe()})
        index, _ = _build(ctx, session, gallery, dim)
        entries, description = len(index), index.describe()
        return replace(
            report, entries=entries, rebuilt=True, description=description, disagreed=disagreed
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
