"""Approximate inner-product FAISS index keyed by template id: an inverted file of 8-bit
scalar-quantised residuals (IVF + SQ8), with a hash-table direct map.

A search probes ``nprobe`` of the ``nlist`` lists (most of them: ``_ivf_lists.PROBE_SHARE``)
and returns a short list ``rerank`` times longer than asked, scored from the codes; the service
re-scores it from the stored templates and keeps the best. How far a code's score may stray
from its template's is bounded (``score_tolerance``), so the re-scoring can still tell
quantisation from tampering.

Why SQ8 below ``Settings.compressed_index_from`` and PQ (``ivfpq_index``) above: SQ8's codes
are close enough to keep a short list of 4 x k, with a score bound known in advance; PQ64's
are coarser (a longer short list) and take longer to train, but an eighth of the memory.

The bound. SQ8 codes each coordinate of a residual (vector minus its list's centroid) as one
of 256 steps of the trained range ``[vmin, vmin + vdiff]`` and decodes it to the step's middle,
so a coordinate inside the range is off by at most ``vdiff / 510``, the error vector ``e`` by
at most ``sqrt(sum((vdiff / 510) ** 2))`` in length, and a unit query's score by at most that
(Cauchy-Schwarz). A coordinate outside the range would be clamped and break the bound, so
``build`` sets the ranges from every residual it adds (not only the training sample) with a
margin, and ``add`` refuses a vector outside them: the caller rebuilds.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from facetrail.errors import VectorIndexError
from facetrail.index import _ivf_lists, faiss_index
from facetrail.index._ivf_lists import checked as _checked
from facetrail.index._ivf_lists import lists_for, probes_for
from facetrail.index.base import Codes, Ids, Vectors

#: The short list is this many times longer than the hits asked for ...
RERANK = 4
#: ... but never longer than this.
MAX_SHORT_LIST = 1000
#: Training vectors per list (a seeded sample of the gallery: k-means needs about 40).
SAMPLE_PER_LIST = 64
#: Each coordinate's range is widened by this share of its span on either side, so that a
#: later template drawn from the same population practically never falls outside it (measured:
#: with 0.05, 2.6% of new templates did after a build from 18k; see ``bench/ann_index.py``).
RANGE_MARGIN = 0.25
#: Float32 rounding of a 512-term inner product, added to the quantisation bound.
FLOAT_SLACK = 1e-4
#: Vectors assigned and added at a time (bounds the memory of a build).
_CHUNK = 65536
_STEPS = 255
#: faiss.ScalarQuantizer.QT_8bit and faiss.DirectMap.Hashtable (not in faiss's type stubs)
QT_8BIT: int = faiss.ScalarQuantizer.QT_8bit
HASHTABLE: int = faiss.DirectMap.Hashtable  # type: ignore[attr-defined]


class IvfIndex(_ivf_lists.InvertedFile):
    """``VectorIndex`` over ``faiss.IndexIVFScalarQuantizer`` (QT_8bit, inner product)."""

    _index: faiss.IndexIVFScalarQuantizer

    def __init__(self, index: faiss.IndexIVFScalarQuantizer, rerank: int = RERANK) -> None:
        super().__init__(index)
        self.rerank = rerank

    @classmethod
    def build(
        cls,
        ids: Ids,
        vectors: Vectors,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        rerank: int = RERANK,
        seed: int = 0,
    ) -> IvfIndex:
        """Train on a seeded sample of ``vectors`` (at most ``SAMPLE_PER_LIST`` per list),
        set the quantiser's ranges from all of them, and add them under ``ids``."""
        vectors = _checked(vectors, vectors.shape[1] if vectors.ndim == 2 else -1)
        n, dim = vectors.shape
        if n == 0:
            raise VectorIndexError("an inverted-file index is trained on vectors: none given")
        nlist = nlist or lists_for(n)
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim), dim, nlist, QT_8BIT, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, min(n, SAMPLE_PER_LIST * nlist), replace=False))]
        index.cp.seed = seed
        index.train(sample)
        index.nprobe = nprobe or probes_for(nlist)
        index.set_direct_map_type(HASHTABLE)
        built = cls(index, rerank)
        keys = np.ascontiguousarray(ids, dtype=np.int64)
        assigned = [built._assign(vectors[s : s + _CHUNK]) for s in range(0, n, _CHUNK)]
        low, high = np.full(dim, np.inf, np.float32), np.full(dim, -np.inf, np.float32)
        for start, lists in zip(range(0, n, _CHUNK), assigned, strict=True):
            residuals = vectors[start : start + _CHUNK] - built._centroids[lists]
            low, high = np.minimum(low, residuals.min(0)), np.maximum(high, residuals.max(0))
        span = np.maximum(high - low, 1e-6)
        low, span = low - RANGE_MARGIN * span, span * (1 + 2 * RANGE_MARGIN)
        faiss.copy_array_to_vector(np.concatenate([low, span]).astype(np.float32), index.sq.trained)
        for start, lists in zip(range(0, n, _CHUNK), assigned, strict=True):
            part = slice(start, start + _CHUNK)
            built._add_assigned(keys[part], vectors[part], lists)
        return built

    @property
    def score_tolerance(self) -> float:
        """How far a returned score may be from the stored template's, for a unit query."""
        _, span = self._ranges()
        return float(np.sqrt(np.sum((span.astype(np.float64) / (2 * _STEPS)) ** 2))) + FLOAT_SLACK

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add without retraining; refuses (adding none) if any vector lies outside the
        ranges the quantiser was built with, where its score would exceed the bound."""
        if len(ids) == 0:
            return
        vectors = _checked(vectors, self.dim)
        lists = self._assign(vectors)
        outside = self._outside(vectors, lists)
        if outside.any():
            raise VectorIndexError(
                f"{int(outside.sum())} of {len(ids)} vectors lie outside the ranges the index "
                "was trained on: rebuild it from the store"
            )
        self._add_assigned(np.ascontiguousarray(ids, dtype=np.int64), vectors, lists)

    def outside_ranges(self, vectors: Vectors) -> npt.NDArray[np.bool_]:
        """Which of ``vectors`` ``add`` would refuse (a coordinate outside the ranges)."""
        vectors = _checked(vectors, self.dim)
        return self._outside(vectors, self._assign(vectors))

    def remove(self, ids: Ids) -> int:
        if len(ids) == 0:
            return 0
        keys = np.ascontiguousarray(np.unique(ids), dtype=np.int64)
        # The hash-table direct map removes by an explicit list of ids, without a scan.
        return int(self._index.remove_ids(faiss.IDSelectorArray(keys)))

    def search(self, queries: Vectors, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """-> the short list: ``k * rerank`` (at most ``MAX_SHORT_LIST``, at least ``k``)
        ids per query with their approximate scores, best first; missing slots have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if len(self) == 0 or k <= 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        if faiss_index._search_threads is not None:  # per thread in OpenMP: see set_threads
            faiss.omp_set_num_threads(faiss_index._search_threads)
        short = min(max(k, min(k * self.rerank, MAX_SHORT_LIST)), len(self))
        scores, ids = self._index.search(queries, short)
        return scores.astype(np.float32), ids.astype(np.int64)

    def vectors(self, ids: Ids) -> Vectors:
        """The vectors as the index holds them (decoded from their codes: approximate)."""
        return faiss_index.reconstructed(self._index, ids, self.dim)

    def describe(self) -> str:
        return (
            f"faiss-{faiss.__version__}:IVF{self.nlist},SQ8,IP,d={self.dim},"
            f"nprobe={self.nprobe},rerank={self.rerank}"
        )

    def to_bytes(self) -> bytes:
        """The index as FAISS writes it to a file (``load`` reads it back)."""
        return bytes(faiss.serialize_index(self._index).tobytes())

    @classmethod
    def load(cls, path: Path, rerank: int = RERANK) -> IvfIndex:
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
        return cls.of(index, str(path), rerank)

    @classmethod
    def of(cls, index: faiss.Index, subject: str, rerank: int = RERANK) -> IvfIndex:
        """A read FAISS index (``read_index`` returns it as its own class), if it is what
        ``build`` makes."""
        if not (
            isinstance(index, faiss.IndexIVFScalarQuantizer)
            and index.metric_type == faiss.METRIC_INNER_PRODUCT
            and index.sq.qtype == QT_8BIT
            and index.by_residual
            and index.direct_map.type == HASHTABLE
        ):
            raise VectorIndexError("not an inner-product IVF,SQ8 index by id", subject=subject)
        return cls(index, rerank)

    def _ranges(self) -> tuple[Vectors, Vectors]:
        trained = faiss.vector_to_array(self._index.sq.trained).astype(np.float32)
        return trained[: self.dim], trained[self.dim :]

    def _outside(self, vectors: Vectors, lists: Ids) -> npt.NDArray[np.bool_]:
        low, span = self._ranges()
        residuals = vectors - self._centroids[lists]
        outside: npt.NDArray[np.bool_] = np.any(
            (residuals < low) | (residuals > low + span), axis=1
        )
        return outside

    def _encode(self, residuals: Vectors) -> Codes:
        return np.asarray(self._index.sq.compute_codes(residuals), dtype=np.uint8)

    def _assign(self, vectors: Vectors) -> Ids:
        return _ivf_lists.assign(self._index, vectors)

    def _add_assigned(self, ids: Ids, vectors: Vectors, lists: Ids) -> None:
        _ivf_lists.add_assigned(self._index, ids, vectors, lists)


__all__ = ["IvfIndex", "lists_for", "probes_for"]
