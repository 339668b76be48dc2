"""Exact inner-product FAISS index keyed by template id (IndexIDMap2 over IndexFlatIP)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from facetrail.errors import VectorIndexError
from facetrail.index.base import Ids, Vectors


class FaissIndex:
    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: Ids, vectors: Vectors) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise VectorIndexError(f"vectors of shape {vectors.shape}, index dim {self.dim}")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: Ids) -> int:
        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def search(self, queries: Vectors, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if len(self) == 0 or k <= 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        scores, ids = self._index.search(queries, min(k, len(self)))
        return scores.astype(np.float32), ids.astype(np.int64)

    def ids(self) -> Ids:
        id_map = self._index.id_map  # type: ignore[attr-defined]
        return np.asarray(faiss.vector_to_array(id_map), dtype=np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def describe(self) -> str:
        return f"faiss-{faiss.__version__}:IDMap2,Flat,IP,d={self.dim}"

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        try:
            faiss.write_index(self._index, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
        return cls(index.d, index)
