"""A FAISS index kept on disk beside its metadata: written atomically, checked when read.

The metadata records the database fingerprint the index was last reconciled with, the
number of entries and the SHA-256 of the index file. Opening checks all of it, so a file that
was cut short, garbled, deleted, replaced or edited (vectors traded between ids, which the id
fingerprint cannot see) is reported as damaged and the caller rebuilds it from the store.

The digest here is no secret: whoever can write both files can re-hash an edit. The hash that
counts is the one facetrail sealed in the log when it wrote the file
(``services.galleries.indexing`` holds the file to it), and a search also re-scores every candidate
from its stored template (``index.reconcile.rescore``). Measured once (100k 512-d vectors, a 206 MB
file): an open with the digest and checks takes 0.41 s against 0.14 s to load the file unchecked,
once per process; rebuilding from SQLite instead would take about 1.6 s.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from facetrail._atomic import write_all_atomically
from facetrail.errors import VectorIndexError
from facetrail.index.base import VectorIndex
from facetrail.index.choose import load_index
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.ivf_index import IvfIndex
from facetrail.index.ivfpq_index import FileIdentity, IvfPqIndex

#: What the index was reconciled with (for the database: count, max id, id sum).
Fingerprint = tuple[int, int, int]

_FORMAT = 2
#: Reads of an index file that changed while it was read, before it is reported damaged.
_ATTEMPTS = 3


class IndexDamage(StrEnum):
    """Why a stored index could not be used (logged; never biometric data)."""

    MISSING = "missing"  # one file of the pair is gone, or both while the store has templates
    METADATA = "metadata"  # unreadable, not JSON, or not the fields this version writes
    DIGEST = "digest"  # the index file is not the one the metadata was written for
    UNREADABLE = "unreadable"  # FAISS cannot read it
    SHAPE = "shape"  # readable, but not the dimension or size the metadata says
    SEAL = "seal"  # whole, but not the file facetrail last wrote (its hash, sealed by the log)


#: each damage as the CLI and the web app say it
DAMAGE_WORDS: dict[str, str] = {
    IndexDamage.MISSING: "its files were missing",
    IndexDamage.METADATA: "its metadata could not be read",
    IndexDamage.DIGEST: "its file did not match its metadata",
    IndexDamage.UNREADABLE: "its file could not be read",
    IndexDamage.SHAPE: "its file was not the size its metadata says",
    IndexDamage.SEAL: "its file was not the one the audit log sealed",
}


@dataclass(frozen=True)
class Opened:
    """What was on disk: an index with the fingerprint it was saved with, or nothing (never
    written, or damaged)."""

    index: VectorIndex | None
    fingerprint: Fingerprint | None
    damage: IndexDamage | None
    #: the SHA-256 of the index file read (hex), when it was read whole
    digest: str | None = None

    @property
    def absent(self) -> bool:
        return self.index is None and self.damage is None


@dataclass(frozen=True)
class IndexFiles:
    """The pair of files one gallery's index lives in."""

    index_path: Path
    meta_path: Path

    def open(self, dim: int) -> Opened:
        """Read and check the pair; any damage is reported, never raised. The file loaded is
        the file hashed: one replaced or written between the two (another worker saving, or
        an edit timed to slip past the check) is read again, and reported as not matching its
        metadata if it keeps changing."""
        for _ in range(_ATTEMPTS):
            opened = self._open_once(dim)
            if opened is not None:
                return opened
        return _damaged(IndexDamage.DIGEST)

    def _open_once(self, dim: int) -> Opened | None:
        """The pair as read once; None: the index file changed while it was read."""
        has_index, has_meta = self.index_path.exists(), self.meta_path.exists()
        if not has_index and not has_meta:
            return Opened(None, None, None)
        if not (has_index and has_meta):
            return _damaged(IndexDamage.MISSING)
        meta = _read_meta(self.meta_path)
        if meta is None:
            return _damaged(IndexDamage.METADATA)
        fp, entries, digest = meta
        try:
            before = FileIdentity.of(self.index_path)
            with self.index_path.open("rb") as fh:
                actual = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError:
            return _damaged(IndexDamage.UNREADABLE)
        if actual != digest:
            return _damaged(IndexDamage.DIGEST)
        try:
            index = load_index(self.index_path)
            if FileIdentity.of(self.index_path) != before:
                return None
        except (VectorIndexError, OSError):
            return _damaged(IndexDamage.UNREADABLE)
        if index.dim != dim or len(index) != entries or len(np.unique(index.ids())) != entries:
            return _damaged(IndexDamage.SHAPE)
        return Opened(index, fp, None, actual)

    def save(self, index: VectorIndex, fp: Fingerprint) -> str:
        """Index file first, then its metadata, each written atomically (a crash between the
        two leaves a digest that does not match: the next open rebuilds, and says so).
        -> the index file's SHA-256 (hex), for its seal."""
        if not isinstance(index, FaissIndex | IvfIndex | IvfPqIndex):
            raise VectorIndexError(
                f"only FAISS indexes are kept in files, not {index.describe()}",
                subject=str(self.index_path),
            )
        data = index.to_bytes()
        digest = hashlib.sha256(data).hexdigest()
        meta = {
            "format": _FORMAT,
            "fingerprint": list(fp),
            "entries": len(index),
            "sha256": digest,
            "description": index.describe(),
        }
        files = [
            (self.index_path, data),
            (self.meta_path, json.dumps(meta, sort_keys=True).encode()),
        ]
        try:
            # Both written before either replaces its old file: a full disk (a typed
            # ``StorageFullError``) leaves the old pair whole.
            write_all_atomically(files, what="the gallery index")
        except OSError as exc:
            raise VectorIndexError(
                f"cannot write the index: {exc.strerror}", subject=str(self.index_path)
            ) from exc
        return digest

    def remove(self) -> None:
        try:
            for path in (self.meta_path, self.index_path):
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise VectorIndexError(
                f"cannot remove the index: {exc.strerror}", subject=str(self.index_path)
            ) from exc


def _damaged(why: IndexDamage) -> Opened:
    return Opened(None, None, why)


def _read_meta(path: Path) -> tuple[Fingerprint, int, str] | None:
    """(fingerprint, entries, sha256) when the metadata is exactly what ``save`` writes."""
    try:
        raw: Any = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
        return None
    fp, entries, digest = raw.get("fingerprint"), raw.get("entries"), raw.get("sha256")
    if not (
        isinstance(fp, list)
        and len(fp) == 3
        and all(type(x) is int for x in fp)
        and type(entries) is int
        and isinstance(digest, str)
        and len(digest) == 64
    ):
        return None
    return (fp[0], fp[1], fp[2]), entries, digest


__all__ = ["Fingerprint", "IndexDamage", "IndexFiles", "Opened"]
