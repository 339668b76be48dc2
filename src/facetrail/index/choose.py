"""Which index a gallery gets, by its size: exact below a threshold, an inverted file of 8-bit
codes above it (``IvfIndex``), and one of 32-byte product codes from a second threshold on
(``IvfPqIndex``); and opening any of them from its file.

The threshold is measured (``bench/ann_index.py``, docs/measurements.md): the size from which
the inverted file answers a single-threaded top-50 clearly faster than the exact index while
finding the same genuine mates. Below it an exact search costs a few milliseconds, and
exactness is worth more than what an approximate index would save.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import faiss

from facetrail.errors import VectorIndexError
from facetrail.index._ivf_lists import lists_for
from facetrail.index.base import Ids, VectorIndex, Vectors
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.ivf_index import IvfIndex
from facetrail.index.ivfpq_index import (
    BOUND_MAGIC,
    BOUND_TRAILER,
    PQ_TRAINING_LEAST,
    IvfPqIndex,
)

#: Galleries of up to this many templates are searched exactly.
EXACT_UP_TO = 50_000
#: Galleries of more than this many templates get the compressed inverted file (PQ64x4) rather
#: than the 8-bit one (SQ8). By default every approximate index is compressed: measured on the
#: real lfw-dev gallery among 98,228 fitted distractors (``facetrail bench scale --size
#: 100000``, docs/measurements.md), 8-bit PQ64 (the compressed codes then) searched in 1.5 ms
#: against SQ8's 5.1 (exact: 14.7), at a quarter of the memory, losing 3 of 1,952 mates at
#: rank 1 against SQ8's 2. SQ8 stays for an operator who sets this higher (its score bound is
#: known in advance and tighter).
COMPRESSED_FROM = EXACT_UP_TO
#: An approximate index goes back to exact only below this share of the threshold, so that
#: a gallery hovering at it is not rebuilt at every erasure and ingest.
BACK_TO_EXACT = 0.8
#: An inverted file is retrained once the gallery would want this many times more lists
#: than it has (its lists, and so its searches, have grown that much longer).
RETRAIN_GROWTH = 4


class IndexKind(StrEnum):
    EXACT = "exact"
    IVF = "ivf"
    IVFPQ = "ivfpq"


@dataclass(frozen=True)
class Thresholds:
    """The gallery sizes at which the kind of index changes (``Settings``)."""

    exact_up_to: int = EXACT_UP_TO
    compressed_from: int = COMPRESSED_FROM


def kind_for(n: int, current: IndexKind | None = None, at: Thresholds = Thresholds()) -> IndexKind:
    """The kind of index for ``n`` templates (``current``: the kind it has now, for the
    hysteresis below each threshold)."""
    compressed = n > at.compressed_from or (
        current is IndexKind.IVFPQ and n >= BACK_TO_EXACT * at.compressed_from
    )
    if compressed and n >= PQ_TRAINING_LEAST:
        return IndexKind.IVFPQ
    if n > at.exact_up_to or (
        current in (IndexKind.IVF, IndexKind.IVFPQ) and n >= BACK_TO_EXACT * at.exact_up_to
    ):
        return IndexKind.IVF
    return IndexKind.EXACT


def kind_of(index: VectorIndex) -> IndexKind:
    if isinstance(index, IvfPqIndex):
        return IndexKind.IVFPQ
    return IndexKind.IVF if isinstance(index, IvfIndex) else IndexKind.EXACT


def build_index(
    dim: int, ids: Ids, vectors: Vectors, *, at: Thresholds = Thresholds()
) -> VectorIndex:
    """A new index of the kind ``len(ids)`` templates get, holding them."""
    kind = kind_for(len(ids), at=at)
    if kind is IndexKind.IVFPQ:
        return IvfPqIndex.build(ids, vectors)
    if kind is IndexKind.IVF:
        return IvfIndex.build(ids, vectors)
    index = FaissIndex(dim)
    index.add(ids, vectors)
    return index


def outgrown(index: VectorIndex, n: int, *, at: Thresholds = Thresholds()) -> bool:
    """Whether an index now holding ``n`` templates should be rebuilt: its kind is no longer
    the one for its size, or its inverted file has far too few lists for it."""
    kind = kind_of(index)
    if kind_for(n, kind, at) is not kind:
        return True
    return isinstance(index, IvfIndex | IvfPqIndex) and (
        lists_for(n) >= RETRAIN_GROWTH * index.nlist
    )


def load_index(path: Path) -> VectorIndex:
    """The index in ``path``, of whichever kind the file holds."""
    if _has_bound(path):
        return IvfPqIndex.load(path)
    try:
        index = faiss.read_index(str(path))
    except (RuntimeError, MemoryError, ValueError) as exc:
        raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return IvfIndex.of(index, str(path))
    if isinstance(index, faiss.IndexIDMap2) and index.metric_type == faiss.METRIC_INNER_PRODUCT:
        return FaissIndex(index.d, index)
    raise VectorIndexError("neither an exact nor an IVF,SQ8 index by id", subject=str(path))


def _has_bound(path: Path) -> bool:
    """Whether the file ends as a saved ``IvfPqIndex`` does (its measured bound)."""
    try:
        with path.open("rb") as fh:
            if fh.seek(0, 2) < BOUND_TRAILER.size:
                return False
            fh.seek(-BOUND_TRAILER.size, 2)
            return fh.read(len(BOUND_MAGIC)) == BOUND_MAGIC
    except OSError as exc:
        raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc


__all__ = [
    "COMPRESSED_FROM",
    "EXACT_UP_TO",
    "IndexKind",
    "Thresholds",
    "build_index",
    "kind_for",
    "kind_of",
    "load_index",
    "outgrown",
]
