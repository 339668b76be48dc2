"""Content-addressed blob store: ``blobs/ab/<sha256>``, written atomically.

Blobs are written before the database row that refers to them is committed, so a crash, or an
action refused or failed after the write, can leave a blob no row holds, but never a row
without its blob; housekeeping deletes such orphans once they are old enough that no action
can still be writing their row (``services.rights._orphans``).

A blob is its name's content or nothing: every read hashes what it read and refuses bytes
that are not the name's (a photo replaced on disk by an insider is never shown, searched or
matched: ``BlobMismatchError``), and a write over a file that is not the name's content
replaces it.

A full disk is a ``StorageFullError`` naming the blob, with no partial file left
(``facetrail._atomic``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from facetrail._atomic import full_disk, write_atomically
from facetrail.errors import BlobMismatchError, StoreError

_HEX = frozenset("0123456789abcdef")
#: What a blob is, in a ``StorageFullError``.
PHOTO = "a photo into the blob store"


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[Path] = set()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists() and self._holds(target, digest):
            return digest
        if target.parent not in self._made:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # no room for even the folder: say so, as for the file
                if (full := full_disk(exc, target, PHOTO)) is not None:
                    raise full from exc
                raise
            self._made.add(target.parent)
        write_atomically(target, data, fsync=False, make_parents=False, what=PHOTO)
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError("blob missing from the blob store", subject=sha256) from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobMismatchError(
                "a stored photo was replaced outside facetrail and will not be used",
                subject=sha256,
            )
        return data

    @staticmethod
    def _holds(target: Path, digest: str) -> bool:
        try:
            return hashlib.sha256(target.read_bytes()).hexdigest() == digest
        except OSError:
            return False

    def stored(self) -> Iterator[tuple[str, float]]:
        """(name, modification time) of every blob held, in no order; files that are not
        blobs (no 64-hex name under its two-character folder) are not listed."""
        for folder in self.root.glob("??"):
            for path in folder.iterdir():
                name = path.name
                if len(name) == 64 and name[:2] == folder.name and _HEX.issuperset(name):
                    try:
                        yield name, path.stat().st_mtime
                    except FileNotFoundError:
                        continue  # deleted meanwhile

    def delete(self, sha256: str) -> None:
        """Remove a blob (after the rows that referred to it are committed as gone)."""
        self.path(sha256).unlink(missing_ok=True)
