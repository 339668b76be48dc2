"""Compressed approximate inner-product FAISS index keyed by template id: an inverted file of
product-quantised residuals (IVF + PQ64: 64 bytes a face), for galleries of hundreds of
thousands of faces and more.

A search probes ``nprobe`` of the ``nlist`` lists and returns a short list of at least
``SHORT_LIST`` ids scored from the codes; the service re-scores it from the stored templates
and keeps the best, so every score anyone sees is the stored template's.

Why PQ here and SQ8 below (``ivf_index``): at a million faces SQ8's 512 bytes a face are
the cost. Measured with the real lfw-dev gallery among 998,228 distractors fitted to it
(``facetrail bench scale --size 1000000``, docs/measurements.md): IVF1024,PQ64 probing 768
lists, its short list of 200 re-scored exactly, kept rank-1 at 98.36 % against exact search's
98.57 % (4 of 1,952 mated probes lost) with 132 bytes a face resident, at 16 ms a search
(p50) on one thread. Its search is not the 2 ms the issue aims at: face templates need most
lists probed (``_ivf_lists.PROBE_SHARE``), and 8-bit product codes are scanned at about 50
million a second here.

The bound. A unit query's score from a code is ``q . (c + r')`` (the list's centroid plus the
decoded residual) against the template's ``q . (c + r)``; they differ by at most
``|r - r'|`` (Cauchy-Schwarz). PQ gives no bound a priori, so the index measures it: every
vector added has its own error computed with the index's own encoder, and the index keeps the
largest (``score_tolerance``), saved with it in its file, which facetrail seals in the log.

One copy a machine. A saved index is opened memory-mapped (``load(mapped=True)``, as the
services open it): its lists stay in the file, in the page cache every worker on the machine
shares, and each worker holds only the centroids and code books (about 8 MB at a million
faces). A mapped index is copied into memory before its first add or removal (FAISS cannot
change a mapped list). A mapped file could be edited in place under a running worker, so
``changed_on_disk`` compares the file's identity and change time (which no user tool can set
back) with those it was opened at: the services check it before every search and reopen the
file, holding it to its seal, when it differs.

No direct map: a hash table from id to place would cost about 50 bytes a face, a third of
the budget. Removal scans the lists' ids instead (milliseconds at a million), and ``vectors``
walks them (only checks use it).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from facetrail.errors import VectorIndexError
from facetrail.index import _ivf_lists, faiss_index
from facetrail.index._ivf_lists import checked, lists_for, probes_for
from facetrail.index.base import Codes, Ids, Vectors

#: Sub-quantisers (bytes a code) and bits each.
PQ_M = 64
PQ_BITS = 8
#: The short list is at least this long (measured: with 200, the mates lost at 1M were those in
#: lists not probed, not those outside the short list) ...
SHORT_LIST = 200
#: ... and this many times the hits asked for, but never longer than MAX_SHORT_LIST.
RERANK = 4
MAX_SHORT_LIST = 1000
#: Training vectors per list for the coarse quantiser (a seeded sample of the gallery) ...
SAMPLE_PER_LIST = 64
#: ... and per code word for the product quantiser (64 x 256 = 16,384 residuals: training
#: PQ64 on 65,536 took 60 s here, on 16,384 a quarter of it, for the same mates found).
PQ_SAMPLE_PER_CENTROID = 64
#: Fewest vectors the product quantiser is trained on (k-means wants more points than its
#: 256 code words): a smaller gallery gets the 8-bit codes whatever the thresholds say.
PQ_TRAINING_LEAST = 4 * 2**PQ_BITS
#: The measured bound is widened by this (float32 rounding of a 512-term inner product).
FLOAT_SLACK = 1e-4
#: Vectors encoded at a time (bounds the memory of a build).
_CHUNK = 65536
#: What ends a saved index: the magic and the bound (``to_bytes``).
BOUND_TRAILER = struct.Struct("<8sd")
BOUND_MAGIC = b"FTPQTOL1"


class IvfPqIndex(_ivf_lists.InvertedFile):
    """``VectorIndex`` over ``faiss.IndexIVFPQ`` (PQ64x8, by residual, inner product)."""

    _index: faiss.IndexIVFPQ

    def __init__(
        self, index: faiss.IndexIVFPQ, tolerance: float, mapped: FileIdentity | None = None
    ) -> None:
        super().__init__(index)
        self._tolerance = float(tolerance)
        #: the file the lists are mapped from, as it was when opened (None: in memory)
        self._mapped = mapped

    @classmethod
    def build(
        cls,
        ids: Ids,
        vectors: Vectors,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
    ) -> IvfPqIndex:
        """Train on a seeded sample of ``vectors`` and add them under ``ids``."""
        vectors = checked(vectors, vectors.shape[1] if vectors.ndim == 2 else -1)
        n, dim = vectors.shape
        if n == 0:
            raise VectorIndexError("an inverted-file index is trained on vectors: none given")
        if n < PQ_TRAINING_LEAST:
            raise VectorIndexError(
                f"a product quantiser is trained on at least {PQ_TRAINING_LEAST} vectors, not {n}"
            )
        if dim % PQ_M:
            raise VectorIndexError(f"a {dim}-d vector cannot be cut into {PQ_M} sub-vectors")
        nlist = nlist or lists_for(n)
        index = faiss.IndexIVFPQ(
            faiss.IndexFlatIP(dim), dim, nlist, PQ_M, PQ_BITS, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, min(n, SAMPLE_PER_LIST * nlist), replace=False))]
        index.cp.seed = seed
        index.pq.cp.seed = seed
        index.pq.cp.max_points_per_centroid = PQ_SAMPLE_PER_CENTROID
        index.pq.cp.min_points_per_centroid = PQ_TRAINING_LEAST // 2**PQ_BITS  # no warning
        index.train(sample)
        del sample
        index.nprobe = nprobe or probes_for(nlist)
        built = cls(index, 0.0)
        keys = np.ascontiguousarray(ids, dtype=np.int64)
        for start in range(0, n, _CHUNK):
            part = slice(start, start + _CHUNK)
            built._add(keys[part], vectors[part])
        built._compact()
        return built

    @property
    def score_tolerance(self) -> float:
        """How far a returned score may be from the stored template's, for a unit query: the
        largest coding error of any vector added."""
        return self._tolerance + FLOAT_SLACK

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add without retraining (the bound grows with what is added)."""
        if len(ids) == 0:
            return
        self._in_memory()
        self._add(np.ascontiguousarray(ids, dtype=np.int64), checked(vectors, self.dim))

    def remove(self, ids: Ids) -> int:
        if len(ids) == 0:
            return 0
        keys = np.ascontiguousarray(np.unique(ids), dtype=np.int64)
        self._in_memory()
        return int(self._index.remove_ids(faiss.IDSelectorBatch(keys)))

    def search(self, queries: Vectors, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """-> the short list: ``max(SHORT_LIST, k * RERANK)`` ids (at most
        ``MAX_SHORT_LIST``, at least ``k``) per query with their approximate scores, best
        first; missing slots have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if len(self) == 0 or k <= 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        if faiss_index._search_threads is not None:  # per thread in OpenMP: see set_threads
            faiss.omp_set_num_threads(faiss_index._search_threads)
        short = min(max(k, min(max(SHORT_LIST, k * RERANK), MAX_SHORT_LIST)), len(self))
        scores, ids = self._index.search(queries, short)
        return scores.astype(np.float32), ids.astype(np.int64)

    def vectors(self, ids: Ids) -> Vectors:
        """The vectors as the index holds them (decoded from their codes: approximate)."""
        lists, codes = self.held_codes(ids)
        if np.any(lists < 0):
            raise VectorIndexError(f"{int(np.sum(lists < 0))} ids not in the index")
        return self._decoded(lists, codes)

    def describe(self) -> str:
        return (
            f"faiss-{faiss.__version__}:IVF{self.nlist},PQ{PQ_M}x{PQ_BITS},IP,d={self.dim},"
            f"nprobe={self.nprobe},short={SHORT_LIST}"
        )

    def to_bytes(self) -> bytes:
        """The index as FAISS writes it, then the measured bound (``load`` reads both). A
        mapped index is copied into memory first: FAISS would write its lists as a reference
        to a file, which no one could read back."""
        self._in_memory()
        data = bytes(faiss.serialize_index(self._index).tobytes())
        return data + BOUND_TRAILER.pack(BOUND_MAGIC, self._tolerance)

    @property
    def mapped(self) -> bool:
        return self._mapped is not None

    def changed_on_disk(self) -> bool:
        """Whether the file this index's lists are mapped from is no longer the one opened
        (replaced, or written in place); False for an index held in memory."""
        if self._mapped is None:
            return False
        try:
            return FileIdentity.of(self._mapped.path) != self._mapped
        except OSError:
            return True

    @classmethod
    def load(cls, path: Path, *, mapped: bool = False) -> IvfPqIndex:
        """The index saved in ``path``: read into memory, or its lists ``mapped``."""
        try:
            if not mapped:
                return cls.from_bytes(path.read_bytes(), str(path))
            identity = FileIdentity.of(path)
            with path.open("rb") as fh:
                fh.seek(max(identity.size - BOUND_TRAILER.size, 0))
                trailer = fh.read()
        except OSError as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
        tolerance = _bound(trailer, str(path))
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
        return cls(_checked_type(index, str(path)), tolerance, identity)

    @classmethod
    def from_bytes(cls, data: bytes, subject: str) -> IvfPqIndex:
        tolerance = _bound(data[-BOUND_TRAILER.size :], subject)
        try:
            index = faiss.deserialize_index(np.frombuffer(data[: -BOUND_TRAILER.size], np.uint8))
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=subject) from exc
        return cls(_checked_type(index, subject), tolerance)

    def _in_memory(self) -> None:
        """Copy mapped lists into memory before changing them (FAISS cannot change a mapped
        list: it would abort the process)."""
        if self._mapped is not None:
            self._compact()  # every list copied into one of its own
            self._mapped = None

    def _encode(self, residuals: Vectors) -> Codes:
        return np.asarray(self._index.pq.compute_codes(residuals), dtype=np.uint8)

    def _add(self, ids: Ids, vectors: Vectors) -> None:
        lists = _ivf_lists.assign(self._index, vectors)
        residuals = vectors - self._centroids[lists]
        decoded = self._decode(self._index.pq.compute_codes(residuals))
        error = float(np.sqrt(np.max(np.sum((residuals - decoded) ** 2, axis=1))))
        _ivf_lists.add_assigned(self._index, ids, vectors, lists)
        self._tolerance = max(self._tolerance, error)

    def _decoded(self, lists: Ids, codes: Codes) -> Vectors:
        return np.asarray(self._centroids[lists] + self._decode(codes), dtype=np.float32)

    def _decode(self, codes: Codes) -> Vectors:
        held = np.ascontiguousarray(codes, dtype=np.uint8)
        out = np.empty((len(held), self.dim), np.float32)
        decode = self._index.pq.decode_c  # type: ignore[attr-defined]  # stubs: the wrapper only
        decode(faiss.swig_ptr(held), faiss.swig_ptr(out), len(held))
        return out

    def _compact(self) -> None:
        """Lists grown entry by entry keep up to twice the room they use (and mapped ones
        cannot grow): copy each into one in memory of exactly its size."""
        invlists = self._index.invlists
        assert invlists is not None
        fresh = faiss.ArrayInvertedLists(self.nlist, self._index.code_size)
        for number in range(self.nlist):
            size = invlists.list_size(number)
            if size:
                fresh.add_entries(
                    number, size, invlists.get_ids(number), invlists.get_codes(number)
                )
        self._index.replace_invlists(fresh, True)
        fresh.this.disown()  # type: ignore[attr-defined]  # FAISS owns it now


@dataclass(frozen=True)
class FileIdentity:
    """What changes when a file is replaced or written: its inode, size and change time."""

    path: Path
    device: int
    inode: int
    size: int
    changed_ns: int
    modified_ns: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        st = os.stat(path)
        return cls(path, st.st_dev, st.st_ino, st.st_size, st.st_ctime_ns, st.st_mtime_ns)


def _bound(trailer: bytes, subject: str) -> float:
    if len(trailer) != BOUND_TRAILER.size:
        raise VectorIndexError("not an IVF,PQ index by id", subject=subject)
    magic, tolerance = BOUND_TRAILER.unpack(trailer)
    if magic != BOUND_MAGIC or not 0.0 <= tolerance <= 2.0:
        raise VectorIndexError("an IVF,PQ index without its bound", subject=subject)
    return float(tolerance)


def _checked_type(index: faiss.Index, subject: str) -> faiss.IndexIVFPQ:
    if not (
        isinstance(index, faiss.IndexIVFPQ)
        and index.metric_type == faiss.METRIC_INNER_PRODUCT
        and index.by_residual
        and index.pq.M == PQ_M
        and index.pq.nbits == PQ_BITS
    ):
        raise VectorIndexError("not an inner-product IVF,PQ index by id", subject=subject)
    return index


__all__ = ["FileIdentity", "IvfPqIndex", "probes_for"]
