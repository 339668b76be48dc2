"""The writes under the services on a full disk: an atomic write (and a pair of them, an index
and its metadata) on a real filled tmpfs leaves the old content whole and no temporary file,
and says ``storage_full`` naming the file; the databases' own words for a full disk (SQLite's
SQLITE_FULL, PostgreSQL's SQLSTATE 53100) become the same typed error."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from facetrail._atomic import write_all_atomically, write_atomically
from facetrail.errors import StorageFullError
from facetrail.store.blobs import BlobStore
from facetrail.store.db import _full_disk
from tests.full_disk import fill, free, tmpfs

pytestmark = pytest.mark.one_backend


def test_a_full_disk_keeps_the_old_files_whole_and_leaves_no_temporary_one(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        index, meta = disk / "gallery.faiss", disk / "gallery.json"
        write_all_atomically([(index, b"old index"), (meta, b"old meta")])
        fill(disk)
        with pytest.raises(StorageFullError) as full:
            write_all_atomically([(index, b"n" * 200_000), (meta, b"new meta")], what="an index")
        assert full.value.code == "storage_full"
        assert full.value.subject == str(index) and "nothing was stored" in full.value.message
        assert (index.read_bytes(), meta.read_bytes()) == (b"old index", b"old meta")
        with pytest.raises(StorageFullError):
            write_atomically(meta, b"m" * 200_000)
        assert sorted(p.name for p in disk.iterdir()) == [".filler", index.name, meta.name]

        blobs = BlobStore(disk / "blobs")
        with pytest.raises(StorageFullError) as photo:
            blobs.put(b"p" * 100_000)
        assert "photo" in photo.value.message
        free(disk)
        digest = blobs.put(b"p" * 100_000)
        assert blobs.get(digest) == b"p" * 100_000


def _context(exc: BaseException) -> Any:
    return SimpleNamespace(original_exception=exc)


def test_the_databases_words_for_a_full_disk_are_a_typed_error() -> None:
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    assert isinstance(_full_disk(_context(sqlite_full)), StorageFullError)
    postgres_full = Exception('could not extend file "base/16384/2619": No space left on device')
    postgres_full.sqlstate = "53100"  # type: ignore[attr-defined]
    refused = _full_disk(_context(postgres_full))
    assert refused is not None and refused.subject == "database"
    assert _full_disk(_context(sqlite3.OperationalError("database is locked"))) is None
    gone = Exception("terminating connection due to administrator command")
    gone.sqlstate = "57P01"  # type: ignore[attr-defined]
    assert _full_disk(_context(gone)) is None
