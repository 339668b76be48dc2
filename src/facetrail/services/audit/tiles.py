"""Publish the audit log as C2SP tlog-tiles into a folder that any web server can serve as it
is (``governance.tiles``), and check a published folder as any tiles client would.

``publish_tiles`` brings the folder up to the latest signed checkpoint: it reads the folder's
own checkpoint, checks it (the log's signature, the root its partial tiles fold to, the same
root kept in the database for that size), then streams only the entries since, writing each
full tile once and the new partial tiles, and the checkpoint last, so a reader never finds a
checkpoint whose tiles are missing. A full tile already there with other bytes, a published
checkpoint the database never signed, or an entry whose bytes no longer give its recorded
hash stops it with ``TilesConflictError``: the published log and the database disagree, which
is evidence, never overwritten.

Hash tiles hold only hashes and are public by design. Entry bundles hold the entries
themselves (names, case numbers, reasons), so they are written only when asked for
(``entries=True``), for auditors who may read the log; each such publication is an
``audit.tiles`` entry.

Authorisation: whoever runs it on the server with the home (an operator's command, like
``audit export``); a folder a client reads needs only the log's public key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from facetrail._atomic import write_atomically
from facetrail.errors import AuditInputError, TilesConflictError
from facetrail.governance._entry_bytes import entry_bytes
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.checkpoints import Checkpoint, parse_checkpoint, signature_ok
from facetrail.governance.merkle import leaf_hash
from facetrail.governance.note import VerifierKey
from facetrail.governance.tiles import (
    WIDTH,
    TileBuilder,
    hashes_of,
    partial_widths,
    tile_path,
    unbundle,
)
from facetrail.governance.verify import ENTRY_ROWS, stored_checkpoints
from facetrail.services.audit.log import public_key
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import system_action
from facetrail.store.schema import AuditEntryRow

__all__ = ["TilesReport", "check_tiles", "publish_tiles"]

CHECKPOINT = "checkpoint"
#: Entries read from the database at a time.
BATCH = 4096


@dataclass(frozen=True)
class TilesReport:
    """What a publication (or a check) covered."""

    tree_size: int
    root: str
    #: the size the folder held before (0: a new folder)
    from_size: int
    tiles_written: int
    entries: bool


def publish_tiles(ctx: AppContext, folder: Path, *, entries: bool = False) -> TilesReport:
    """Bring ``folder`` up to the log's latest checkpoint (see the module's text)."""
    verifier = public_key(ctx)
    with ctx.sessions() as session:
        signed = stored_checkpoints(session, verifier.name)
    if not signed:
        raise AuditInputError(
            "the log has no checkpoint yet: run 'facetrail audit checkpoint' first",
            subject="audit-log",
        )
    target = signed[-1]
    published = _published(folder, verifier)
    entries = entries or (folder / "tile" / "entries").exists()  # bundles, once begun, go on
    start = _resume(folder, published, signed, entries)
    written = 0
    with ctx.sessions() as session:
        for _seq, entry in _entries(session, start.size, target.tree_size):
            for tile in start.push(entry):
                written += _write_full(folder, tile.path, tile.data)
    if start.root() != target.root:
        raise TilesConflictError(
            f"the entries in the database do not give the root checkpoint {target.tree_size} "
            "signed: the log was changed after it was signed (run 'facetrail audit verify')",
            subject=str(folder),
        )
    for tile in start.partial():
        write_atomically(folder / tile.path, tile.data, what="a partial tile")
        written += 1
    write_atomically(folder / CHECKPOINT, target.note().encode(), what="the checkpoint")
    if entries:
        details = {"folder": str(folder), "tree_size": target.tree_size}
        with system_action(ctx, "audit.tiles", "audit-log") as session:
            append(session, AuditEvent("facetrail", "audit.tiles", "audit-log", details))
    from_size = published.tree_size if published else 0
    return TilesReport(target.tree_size, target.root.hex(), from_size, written, entries)


def check_tiles(folder: Path, verifier: VerifierKey) -> TilesReport:
    """Check a published folder as a tiles client would, with nothing but the log's public
    key: the checkpoint's signature, and every tile rebuilt from the tiles below it (from the
    entry bundles, when they are there) folding to the checkpoint's root. Streams: memory
    does not grow with the log. ``TilesConflictError`` names the first tile that is wrong."""
    checkpoint = _published(folder, verifier)
    if checkpoint is None:
        raise AuditInputError("no checkpoint in this folder", subject=str(folder))
    has_entries = (folder / "tile" / "entries").exists()
    builder = TileBuilder(entries=None)
    for n in range(-(-checkpoint.tree_size // WIDTH)):
        width = min(WIDTH, checkpoint.tree_size - n * WIDTH)
        hashes = hashes_of(_read(folder, tile_path(0, n, width)))
        if has_entries:
            bundled = unbundle(_read(folder, tile_path("entries", n, width)))
            if [leaf_hash(e) for e in bundled] != hashes:
                raise TilesConflictError(
                    f"entry bundle {n} does not hash to its tile", subject=str(folder)
                )
        for tile in builder.push_hashes(hashes):
            if tile.path.startswith("tile/0/"):
                continue
            if _read(folder, tile.path) != tile.data:
                raise TilesConflictError(f"{tile.path} is not what the tiles below it give")
    for tile in builder.partial():
        if not tile.path.startswith("tile/entries/") and _read(folder, tile.path) != tile.data:
            raise TilesConflictError(f"{tile.path} is not what the tiles below it give")
    if builder.root() != checkpoint.root:
        raise TilesConflictError(
            f"the tiles do not give the root of the signed checkpoint of "
            f"{checkpoint.tree_size} entries",
            subject=str(folder),
        )
    return TilesReport(checkpoint.tree_size, checkpoint.root.hex(), 0, 0, has_entries)


def _published(folder: Path, verifier: VerifierKey) -> Checkpoint | None:
    path = folder / CHECKPOINT
    if not path.exists():
        return None
    try:
        checkpoint = parse_checkpoint(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AuditInputError("cannot read the published checkpoint", subject=str(path)) from exc
    if checkpoint.origin != verifier.name or not signature_ok(verifier, checkpoint):
        raise TilesConflictError(
            f"the published checkpoint is not signed by this log's key ({verifier.name})",
            subject=str(path),
        )
    return checkpoint


def _resume(
    folder: Path, published: Checkpoint | None, signed: list[Checkpoint], entries: bool
) -> TileBuilder:
    """A builder at the folder's published size, checked against the database's checkpoints
    (a new folder, or bundles asked for where there were none: from the first entry)."""
    if published is None or (entries and not (folder / "tile" / "entries").exists()):
        return TileBuilder(entries=[] if entries else None)
    same = [c for c in signed if c.tree_size == published.tree_size]
    if not same or same[-1].root != published.root or published.tree_size > signed[-1].tree_size:
        raise TilesConflictError(
            f"the folder holds a checkpoint of {published.tree_size} entries that this log's "
            "database never signed (a log restored from a backup, or another log): publish "
            "into a new folder",
            subject=str(folder),
        )
    widths = partial_widths(published.tree_size)
    partials = [
        hashes_of(_read(folder, tile_path(level, published.tree_size >> (8 * (level + 1)), w)))
        if w
        else []
        for level, w in enumerate(widths)
    ]
    bundle_data = b""
    if entries and widths and widths[0]:
        bundle_data = _read(folder, tile_path("entries", published.tree_size >> 8, widths[0]))
    builder = TileBuilder.resumed(published.tree_size, partials, bundle_data, entries=entries)
    if builder.root() != published.root:
        raise TilesConflictError(
            "the published partial tiles do not give the published checkpoint's root",
            subject=str(folder),
        )
    return builder


def _entries(session: Session, after: int, upto: int) -> Iterator[tuple[int, bytes]]:
    """Entries ``after`` < seq <= ``upto``, in order, as the bytes the log hashed; one whose
    bytes no longer give its recorded hash stops the publication."""
    expected = after + 1
    while expected <= upto:
        rows = session.execute(
            ENTRY_ROWS.where(AuditEntryRow.seq >= expected, AuditEntryRow.seq <= upto).limit(BATCH)
        ).all()
        if not rows:
            break
        for seq, at, actor, kind, subject, details, agency, stored in rows:
            data = entry_bytes(seq, at, actor, kind, subject, details, agency)
            if seq != expected or leaf_hash(data) != stored:
                raise TilesConflictError(
                    f"entry {expected} is missing or altered: run 'facetrail audit verify'",
                    subject="audit-log",
                )
            expected += 1
            yield seq, data
    if expected <= upto:
        raise TilesConflictError(f"entry {expected} is missing", subject="audit-log")


def _read(folder: Path, path: str) -> bytes:
    try:
        return (folder / path).read_bytes()
    except OSError as exc:
        raise AuditInputError(f"cannot read {path}", subject=str(folder)) from exc


def _write_full(folder: Path, path: str, data: bytes) -> int:
    """Write a full tile once -> 1, or 0 when it is there with the same bytes."""
    target = folder / path
    if target.exists():
        if target.read_bytes() != data:
            raise TilesConflictError(
                f"{path} was published with other bytes: the published log and the database "
                "disagree",
                subject=str(folder),
            )
        return 0
    write_atomically(target, data, fsync=False, what="a tile")
    return 1
