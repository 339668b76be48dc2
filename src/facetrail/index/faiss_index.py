"""Exact inner-product FAISS index keyed by template id (IndexIDMap2 over IndexFlatIP)."""

from __future__ import annotations

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
        if _search_threads is not None:  # per thread in OpenMP: see set_threads
            faiss.omp_set_num_threads(_search_threads)
        scores, ids = self._index.search(queries, min(k, len(self)))
        return scores.astype(np.float32), ids.astype(np.int64)

    def ids(self) -> Ids:
        id_map = self._index.id_map  # type: ignore[attr-defined]
        return np.asarray(faiss.vector_to_array(id_map), dtype=np.int64)

    def vectors(self, ids: Ids) -> Vectors:
        return reconstructed(self._index, ids, self.dim)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def describe(self) -> str:
        return f"faiss-{faiss.__version__}:IDMap2,Flat,IP,d={self.dim}"

    def to_bytes(self) -> bytes:
        """The index as FAISS writes it to a file (``load`` reads it back)."""
        return bytes(faiss.serialize_index(self._index).tobytes())

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
        if (
            not isinstance(index, faiss.IndexIDMap2)
            or index.metric_type != faiss.METRIC_INNER_PRODUCT
        ):
            raise VectorIndexError("not an inner-product IndexIDMap2", subject=str(path))
        return cls(index.d, index)


def reconstructed(index: faiss.Index, ids: Ids, dim: int) -> Vectors:
    """The vectors ``index`` holds under ``ids`` (each must be there), in that order: its own
    (exact index) or decoded from its codes (an inverted file's)."""
    keys = np.ascontiguousarray(ids, dtype=np.int64)
    if len(keys) == 0:
        return np.zeros((0, dim), np.float32)
    try:
        held = index.reconstruct_batch(keys)
    except RuntimeError as exc:
        raise VectorIndexError(f"ids not in the index: {exc}") from exc
    return np.asarray(held, dtype=np.float32).reshape(len(keys), dim)


def set_threads(threads: int) -> None:
    """OpenMP threads FAISS uses for a search in this process. A service worker uses one:
    its parallelism is the worker processes, and FAISS's threads then only fight over cores
    (measured: a flat search of 100k templates took 112-132 ms on 2 threads against 24-41 ms
    on 1, on a busy 2-core machine).

    OpenMP keeps this number per thread: a thread the setting was not made in (a web
    server's thread pool) would use every core. So it is kept here too, and every search
    sets it in the thread that searches."""
    global _search_threads
    _search_threads = max(1, threads)
    faiss.omp_set_num_threads(_search_threads)


#: Set by ``set_threads``; None: OpenMP's default (every core).
_search_threads: int | None = None
