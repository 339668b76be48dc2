"""Which index a gallery gets, by its size: exact below a threshold, an inverted file of 8-bit
codes above it (``IvfIndex``); and opening either from its file.

The threshold is measured (``bench/ann_index.py``, docs/measurements.md): the size from which
the inverted file answers a single-threaded top-50 clearly faster than the exact index while
finding the same genuine mates. Below it an exact search costs a few milliseconds, and
exactness is worth more than what an approximate index would save.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import faiss

from facetrail.errors import VectorIndexError
from facetrail.index.base import Ids, VectorIndex, Vectors
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.ivf_index import IvfIndex, lists_for

#: Galleries of up to this many templates are searched exactly.
EXACT_UP_TO = 50_000
#: An approximate index goes back to exact only below this share of the threshold, so that
#: a gallery hovering at it is not rebuilt at every erasure and ingest.
BACK_TO_EXACT = 0.8
#: An inverted file is retrained once the gallery would want this many times more lists
#: than it has (its lists, and so its searches, have grown that much longer).
RETRAIN_GROWTH = 4


class IndexKind(StrEnum):
    EXACT = "exact"
    IVF = "ivf"


def kind_for(n: int, current: IndexKind | None = None, exact_up_to: int = EXACT_UP_TO) -> IndexKind:
    """The kind of index for ``n`` templates (``current``: the kind it has now, for the
    hysteresis below the threshold)."""
    if n > exact_up_to:
        return IndexKind.IVF
    if current is IndexKind.IVF and n >= BACK_TO_EXACT * exact_up_to:
        return IndexKind.IVF
    return IndexKind.EXACT


def kind_of(index: VectorIndex) -> IndexKind:
    return IndexKind.IVF if isinstance(index, IvfIndex) else IndexKind.EXACT


def build_index(
    dim: int, ids: Ids, vectors: Vectors, *, exact_up_to: int = EXACT_UP_TO
) -> VectorIndex:
    """A new index of the kind ``len(ids)`` templates get, holding them."""
    if kind_for(len(ids), exact_up_to=exact_up_to) is IndexKind.IVF:
        return IvfIndex.build(ids, vectors)
    index = FaissIndex(dim)
    index.add(ids, vectors)
    return index


def outgrown(index: VectorIndex, n: int, *, exact_up_to: int = EXACT_UP_TO) -> bool:
    """Whether an index now holding ``n`` templates should be rebuilt: its kind is no longer
    the one for its size, or its inverted file has far too few lists for it."""
    kind = kind_of(index)
    if kind_for(n, kind, exact_up_to) is not kind:
        return True
    return isinstance(index, IvfIndex) and lists_for(n) >= RETRAIN_GROWTH * index.nlist


def load_index(path: Path) -> VectorIndex:
    """The index in ``path``, of whichever kind the file holds."""
    try:
        index = faiss.read_index(str(path))
    except (RuntimeError, MemoryError, ValueError) as exc:
        raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return IvfIndex.of(index, str(path))
    if isinstance(index, faiss.IndexIDMap2) and index.metric_type == faiss.METRIC_INNER_PRODUCT:
        return FaissIndex(index.d, index)
    raise VectorIndexError("neither an exact nor an IVF,SQ8 index by id", subject=str(path))


__all__ = [
    "EXACT_UP_TO",
    "IndexKind",
    "build_index",
    "kind_for",
    "kind_of",
    "load_index",
    "outgrown",
]
