"""The VectorIndex protocol: what every index backend (FAISS here, Milvus later) offers.

An index is derived data: the database holds the templates, and any index can be rebuilt
from them. Scores are inner products of L2-normalised vectors, i.e. cosine similarities.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]


class VectorIndex(Protocol):
    dim: int

    def add(self, ids: Ids, vectors: Vectors) -> None: ...

    def remove(self, ids: Ids) -> int: ...

    def search(self, queries: Vectors, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """-> scores (Q,k), ids (Q,k); missing slots have id -1."""
        ...

    def ids(self) -> Ids: ...

    def vectors(self, ids: Ids) -> Vectors:
        """The vectors held under ``ids`` (each must be present), in that order."""
        ...

    def __len__(self) -> int: ...

    def describe(self) -> str:
        """A stable description stored with every result (backend, type, metric)."""
        ...


#: One quantised code per row (bytes).
Codes = npt.NDArray[np.uint8]


@runtime_checkable
class Quantised(Protocol):
    """An index that holds codes, not the vectors themselves: its scores are approximate,
    within ``score_tolerance`` of the stored template's for a unit query, and what it holds
    is checked code by code (``reconcile.disagreeing_vectors``)."""

    score_tolerance: float

    def held_codes(self, ids: Ids) -> tuple[Ids, Codes]:
        """(list, code) held under each of ``ids``; list -1 where it holds none."""
        ...

    def codes_for(self, lists: Ids, vectors: Vectors) -> tuple[Ids, Codes]:
        """(list, code) a faithful index holds ``vectors`` as, held in ``lists``."""
        ...
