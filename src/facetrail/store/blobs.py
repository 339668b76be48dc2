"""Content-addressed blob store: ``blobs/ab/<sha256>``, written atomically.

Blobs are written before the database row that refers to them is committed, so a crash can
leave an unreferenced blob (harmless, same content next time) but never a row without its blob.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from facetrail._atomic import write_atomically
from facetrail.errors import StoreError


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[Path] = set()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        if target.parent not in self._made:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(target.parent)
        write_atomically(target, data, fsync=False, make_parents=False)
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError("blob missing from the blob store", subject=sha256) from exc

    def delete(self, sha256: str) -> None:
        """Remove a blob (after the rows that referred to it are committed as gone)."""
        self.path(sha256).unlink(missing_ok=True)
