"""The index file loaded is the file hashed: one replaced or written between the check and
the load (an edit timed to slip past the check, or another worker saving) is read again, and
reported as damaged if it no longer matches its metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facetrail.index import files
from facetrail.index.base import VectorIndex
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.files import IndexDamage, IndexFiles

pytestmark = pytest.mark.database_free


def _index(seed: int) -> FaissIndex:
    vectors = np.random.default_rng(seed).standard_normal((20, 8)).astype(np.float32)
    index = FaissIndex(8)
    index.add(np.arange(20, dtype=np.int64), vectors / np.linalg.norm(vectors, axis=1)[:, None])
    return index


def _swapping_once(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]) -> list[Path]:
    """``load_index`` that runs ``swap`` just before its first load (after the hash)."""
    real, calls = files.load_index, []

    def load(path: Path) -> VectorIndex:
        if not calls:
            swap()
        calls.append(path)
        return real(path)

    monkeypatch.setattr(files, "load_index", load)
    return calls


def test_a_file_edited_between_the_check_and_the_load_is_not_believed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = IndexFiles(tmp_path / "g.faiss", tmp_path / "g.json")
    pair.save(_index(1), (20, 19, 190))
    other = tmp_path / "other.faiss"
    other.write_bytes(_index(2).to_bytes())  # the same shape: only the hash can tell
    calls = _swapping_once(monkeypatch, lambda: other.replace(pair.index_path))
    opened = pair.open(8)
    assert opened.index is None and opened.damage is IndexDamage.DIGEST
    assert len(calls) == 1  # read again, hashed, and refused before any second load


def test_a_pair_saved_by_another_worker_meanwhile_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = IndexFiles(tmp_path / "g.faiss", tmp_path / "g.json")
    pair.save(_index(1), (20, 19, 190))
    newer = _index(3)
    calls = _swapping_once(monkeypatch, lambda: pair.save(newer, (20, 19, 190)))
    opened = pair.open(8)
    assert opened.damage is None and opened.index is not None and len(calls) == 2
    assert np.array_equal(opened.index.vectors(np.arange(3)), newer.vectors(np.arange(3)))
