"""The files of a gallery's index and the log's seal on them, for ``indexing``: where they
are, writing them (then sealing the index file's hash by an ``index.write`` entry), believing
a file only when its hash is the sealed one, and adding to an index held in memory. With
``Settings.index_url`` Milvus keeps the index (``_index_milvus``): nothing is written here."""

from __future__ import annotations

from sqlalchemy.orm import Session

from facetrail.config import Settings
from facetrail.errors import VectorIndexError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.seal_checks import row_problem
from facetrail.index.base import Ids, VectorIndex, Vectors
from facetrail.index.choose import Thresholds, outgrown
from facetrail.index.files import Fingerprint, IndexDamage, IndexFiles, Opened
from facetrail.models.registry import get_pack
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries._index_store import saved_if_room
from facetrail.services.unit_of_work import system_action
from facetrail.store.schema import Gallery, IndexSeal

#: Who an entry names when the system itself found and repaired an index.
SYSTEM = "system"


def thresholds(settings: Settings) -> Thresholds:
    """The gallery sizes at which the kind of index changes, as configured."""
    return Thresholds(settings.exact_index_up_to, settings.compressed_index_from)


def files_of(ctx: AppContext, gallery: Gallery) -> IndexFiles:
    base = ctx.settings.index_dir / f"gallery-{gallery.id}-{gallery.pack}"
    return IndexFiles(base.with_suffix(".faiss"), base.with_suffix(".json"))


def dim_of(ctx: AppContext, gallery: Gallery) -> int:
    return get_pack(gallery.pack, ctx.settings.home).manifest.embedding_dim


def record(
    ctx: AppContext, actor: str, kind: str, gallery: Gallery, details: dict[str, object]
) -> None:
    with system_action(ctx, kind, gallery.name, actor=actor) as session:
        append(session, AuditEvent(actor, kind, gallery.name, details))


def save(ctx: AppContext, gallery: Gallery, index: VectorIndex, fp: Fingerprint) -> None:
    """Write the gallery's index files, then seal the index file's hash by the log (in a
    transaction of its own: an ``index.write`` entry and the gallery's ``index_seals`` row).
    A crash between the two leaves a file that is not the sealed one: rebuilt when loaded.
    With ``Settings.index_url`` nothing: Milvus keeps what it was given."""
    if ctx.settings.index_url is not None:
        return
    if (digest := saved_if_room(files_of(ctx, gallery), index, fp, gallery.name)) is None:
        return  # the disk is full: the old file stays, still sealed, reconciled when opened
    with system_action(ctx, "index.write", gallery.name, actor=SYSTEM) as session:
        seal = session.get(IndexSeal, gallery.id)
        if seal is None:
            seal = IndexSeal(gallery_id=gallery.id)
            session.add(seal)
        seal.sha256, seal.entries, seal.written_at = digest, len(index), utc_now()
        details = {"sha256": digest, "entries": len(index), "index": index.describe()}
        append(session, AuditEvent(SYSTEM, "index.write", gallery.name, details))


def opened_files(
    ctx: AppContext, session: Session, gallery: Gallery, dim: int, entries: int
) -> Opened:
    """The gallery's index files as read (``sealed_file``); both gone while the store holds
    ``entries`` templates is damage too (``IndexDamage.MISSING``)."""
    opened = sealed_file(session, gallery, files_of(ctx, gallery).open(dim))
    return Opened(None, None, IndexDamage.MISSING) if opened.absent and entries else opened


def add_to_cached(ctx: AppContext, index: VectorIndex, ids: Ids, vectors: Vectors, n: int) -> bool:
    """Add to the cached index -> False when it must be built anew instead: its codes cannot
    hold the new templates (an inverted file's trained ranges), or the gallery has outgrown
    its kind or its lists (``index.choose.outgrown``; never a Milvus collection, whose kind
    no size changes)."""
    if ctx.settings.index_url is None and outgrown(index, n, at=thresholds(ctx.settings)):
        return False
    try:
        index.add(ids, vectors)
    except VectorIndexError:
        return False
    return True


def sealed_file(session: Session, gallery: Gallery, opened: Opened) -> Opened:
    """``opened`` when its file is the one facetrail last wrote (the hash sealed by the log,
    the seal itself agreeing with the log), else damaged (``IndexDamage.SEAL``)."""
    if opened.index is None:
        return opened
    seal = session.get(IndexSeal, gallery.id)
    if seal is None or seal.sha256 != opened.digest or row_problem(session, "index_seals", seal):
        return Opened(None, None, IndexDamage.SEAL)
    return opened
