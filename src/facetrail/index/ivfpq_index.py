"""Compressed approximate inner-product FAISS index keyed by template id: an inverted file of
4-bit product codes scanned by FAISS's fast-scan kernels (OPQ64, IVF, PQ64x4fs: 32 bytes a
face), for galleries of hundreds of thousands of faces and more.

A search probes ``nprobe`` of the ``nlist`` lists and returns a short list of at least
``SHORT_LIST`` ids scored from the codes; the service re-scores it from the stored templates
and keeps the best, so every score anyone sees is the stored template's.

Why this layout. Measured with the real lfw-dev gallery among 998,228 distractors fitted to it
(``facetrail bench scale --size 1000000``, docs/measurements.md). A probe's genuine mate scores
only about 0.5 against it, so most lists must be probed (``_ivf_lists.PROBE_SHARE``): what a
search costs is the scan of hundreds of thousands of codes. 8-bit PQ64 codes are looked up
one at a time (16 ms a search at 1M). 4-bit codes are scanned 32 at a time from lookup
tables held in SIMD registers, several times faster. A learned rotation (OPQ) before the
codes spreads the templates' variance evenly over the sub-spaces, so 4 bits code them better.

The bound. A unit query's score from a code is ``Rq . x'`` (``R`` the rotation, ``x'`` the
decoded code of ``Rx``) against the template's ``q . x = Rq . Rx``: they differ by at most
``|Rx - x'|`` (Cauchy-Schwarz; ``R`` is checked orthonormal when loaded). PQ gives no bound a
priori, so the index measures it: every vector added has its own error computed with the
index's own encoder, and the index keeps the largest, saved with it in its file, which
facetrail seals in the log. Fast scan adds one more error: its lookup tables are rounded to
8 bits. FAISS scales them so that the widest table row spans 255 steps (and no sum can
overflow 16 bits), so each of the 64 looked-up terms is off by at most half a step; a step's
size follows from the code book alone (``_table_rounding``), so that bound is exact too. The
bound is loose (the coding error of the worst-coded face, about 0.6 for a unit vector): the
search's own check catches an id whose score is far off, and ``index check`` compares every
held code with the one its stored template gets, which catches any edited code.

One copy a worker. FAISS reads fast-scan lists (packed in blocks of 32 codes) into memory: they
cannot be memory-mapped as flat lists can. Each service worker holds its own copy: 48 bytes a
face at 1M (``bytes_per_face`` of ``bench scale``), against 132 for the 8-bit codes the lists
of which were mapped and shared.

No direct map: a hash table from id to place would cost about 50 bytes a face. Removal scans
the lists' ids instead (milliseconds at a million), and ``vectors`` walks them (only checks
use it).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import faiss
import numpy as np
import numpy.typing as npt

from facetrail.errors import VectorIndexError
from facetrail.index import _ivf_lists, faiss_index
from facetrail.index._ivf_lists import checked, lists_for, probes_for
from facetrail.index.base import Codes, Ids, Vectors

#: Sub-quantisers and bits each (4: FAISS's fast scan).
PQ_M = 64
PQ_BITS = 4
#: The short list is at least this long. Measured at 1M with three seeds (the seed of the
#: training sample and of k-means): probing 768 of 1,024 lists, a short list of 200 lost 7 to
#: 9 mates that exact search finds at rank 1, one of 400 lost 4 or 5; probing 640 lost about
#: as many. The codes' own error is what costs the mates, so the list is long.
SHORT_LIST = 400
#: ... and this many times the hits asked for, but never longer than MAX_SHORT_LIST.
RERANK = 4
MAX_SHORT_LIST = 1000
#: Training vectors per list for the coarse quantiser (a seeded sample of the gallery) ...
SAMPLE_PER_LIST = 64
#: ... and for the rotation, whose training costs most of a build (each of its iterations
#: trains a product quantiser and rotates the sample).
OPQ_SAMPLE = 32768
OPQ_ITERATIONS = 10
#: Fewest vectors the codes are trained on: a smaller gallery gets the 8-bit codes whatever
#: the thresholds say.
PQ_TRAINING_LEAST = 1024
#: The measured bound is widened by this (float32 rounding of a 512-term inner product).
FLOAT_SLACK = 1e-4
#: Vectors encoded at a time (bounds the memory of a build).
_CHUNK = 65536
#: What ends a saved index: the magic and the measured coding bound (``to_bytes``).
BOUND_TRAILER = struct.Struct("<8sd")
BOUND_MAGIC = b"FTPQFS01"


class IvfPqIndex(_ivf_lists.InvertedFile):
    """``VectorIndex`` over ``faiss.IndexIVFPQFastScan`` (PQ64x4, inner product) after an OPQ
    rotation."""

    _index: faiss.IndexIVFPQFastScan

    def __init__(self, outer: faiss.IndexPreTransform, tolerance: float) -> None:
        ivf = cast(faiss.IndexIVFPQFastScan, faiss.downcast_index(outer.index))
        super().__init__(ivf)
        self._outer = outer
        self._rotation = _rotation_of(outer)
        self._tolerance = float(tolerance)
        self._rounding = _table_rounding(ivf.pq)

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
        """Train on a seeded sample of ``vectors`` and add them under ``ids``, a chunk at a
        time (``vectors`` may be a memory-mapped file larger than memory)."""
        if vectors.ndim != 2:
            raise VectorIndexError(f"vectors of shape {vectors.shape}: one row a face")
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
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFPQFastScan(
            quantizer, dim, nlist, PQ_M, PQ_BITS, faiss.METRIC_INNER_PRODUCT
        )
        ivf.by_residual = False  # an inner product's residual tables would add a bias term
        ivf.cp.seed = seed
        ivf.pq.cp.seed = seed
        rotation = faiss.OPQMatrix(dim, PQ_M)
        rotation.niter = OPQ_ITERATIONS
        rotation.max_train_points = OPQ_SAMPLE
        outer = faiss.IndexPreTransform(rotation, ivf)
        for owned in (quantizer, rotation, ivf):  # each freed with what holds it
            owned.this.disown()  # type: ignore[union-attr]
        ivf.own_fields = outer.own_fields = True
        rng = np.random.default_rng(seed)
        size = min(n, max(SAMPLE_PER_LIST * nlist, OPQ_SAMPLE))
        sample = checked(vectors[np.sort(rng.choice(n, size, replace=False))], dim)
        outer.train(sample)
        del sample
        ivf.nprobe = nprobe or probes_for(nlist)
        built = cls(outer, 0.0)
        keys = np.ascontiguousarray(ids, dtype=np.int64)
        for start in range(0, n, _CHUNK):
            part = slice(start, start + _CHUNK)
            built._add(keys[part], checked(vectors[part], dim))
        return built

    @property
    def score_tolerance(self) -> float:
        """How far a returned score may be from the stored template's, for a unit query: the
        largest coding error of any vector added, and the rounding of the scan's tables."""
        return self._tolerance + self._rounding + FLOAT_SLACK

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add without retraining (the bound grows with what is added)."""
        if len(ids) == 0:
            return
        self._add(np.ascontiguousarray(ids, dtype=np.int64), checked(vectors, self.dim))

    def remove(self, ids: Ids) -> int:
        if len(ids) == 0:
            return 0
        keys = np.ascontiguousarray(np.unique(ids), dtype=np.int64)
        invlists = self._index.invlists
        assert invlists is not None
        before = [invlists.list_size(number) for number in range(self.nlist)]
        removed = int(self._outer.remove_ids(faiss.IDSelectorBatch(keys)))
        for number, size in enumerate(before):
            if invlists.list_size(number) != size:
                self._clear_tail(number)
        return removed

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
        scores, ids = self._outer.search(queries, short)
        return scores.astype(np.float32), ids.astype(np.int64)

    def vectors(self, ids: Ids) -> Vectors:
        """The vectors as the index holds them (decoded from their codes, rotated back:
        approximate)."""
        lists, codes = self.held_codes(ids)
        if np.any(lists < 0):
            raise VectorIndexError(f"{int(np.sum(lists < 0))} ids not in the index")
        return np.asarray(self._rotation.reverse_transform(self._decode(codes)), np.float32)

    def codes_for(self, lists: Ids, vectors: Vectors) -> tuple[Ids, Codes]:
        """The (list, code) a faithful index holds each of ``vectors`` as: its rotation's
        code, in the list it is held in where that is a nearest one, else the nearest."""
        rotated = self._rotated(checked(vectors, self.dim))
        return _ivf_lists.codes_for(
            self._index, self._centroids, lists, rotated, self._encode, residual=False
        )

    def describe(self) -> str:
        return (
            f"faiss-{faiss.__version__}:OPQ{PQ_M},IVF{self.nlist},PQ{PQ_M}x{PQ_BITS}fs,IP,"
            f"d={self.dim},nprobe={self.nprobe},short={SHORT_LIST}"
        )

    def to_bytes(self) -> bytes:
        """The index as FAISS writes it, then the measured bound (``load`` reads both)."""
        data = bytes(faiss.serialize_index(self._outer).tobytes())
        return data + BOUND_TRAILER.pack(BOUND_MAGIC, self._tolerance)

    @classmethod
    def load(cls, path: Path) -> IvfPqIndex:
        """The index saved in ``path``."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=str(path)) from exc
        return cls.from_bytes(data, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, subject: str) -> IvfPqIndex:
        tolerance = _bound(data[-BOUND_TRAILER.size :], subject)
        try:
            index = faiss.deserialize_index(np.frombuffer(data[: -BOUND_TRAILER.size], np.uint8))
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise VectorIndexError(f"unreadable index file: {exc}", subject=subject) from exc
        return cls(_checked_type(index, subject), tolerance)

    def _rotated(self, vectors: Vectors) -> Vectors:
        return np.ascontiguousarray(self._rotation.apply(vectors), dtype=np.float32)

    def _encode(self, rotated: Vectors) -> Codes:
        return np.asarray(self._index.pq.compute_codes(rotated), dtype=np.uint8)

    def _add(self, ids: Ids, vectors: Vectors) -> None:
        rotated = self._rotated(vectors)
        decoded = self._decode(self._encode(rotated))
        error = float(np.sqrt(np.max(np.sum((rotated - decoded) ** 2, axis=1))))
        # FAISS packs the codes into its blocks itself (``add_core`` would write them flat).
        self._index.add_with_ids(rotated, ids)
        self._tolerance = max(self._tolerance, error)

    def _clear_tail(self, number: int) -> None:
        """Zero the slots of list ``number``'s last block past its end. FAISS's removal moves
        the last entries into the removed ones' slots but leaves their old codes behind, and
        its adds merge a new code into its slot's bits: a face added there later would be
        held under a code that is not its own (measured: every one re-added after a removal)."""
        invlists = self._index.invlists
        assert invlists is not None
        packer = self._index.get_CodePacker()
        size = invlists.list_size(number)
        if size % packer.nvec == 0:
            return
        last = size // packer.nvec
        blocks = faiss.rev_swig_ptr(invlists.get_codes(number), (last + 1) * packer.block_size)
        block = blocks.reshape(last + 1, packer.block_size)[last:]  # a view: written in place
        blank = np.zeros(self._index.code_size, np.uint8)
        for offset in range(size % packer.nvec, packer.nvec):
            packer.pack_1(blank, offset, block)

    def _decode(self, codes: Codes) -> Vectors:
        held = np.ascontiguousarray(codes, dtype=np.uint8)
        out = np.empty((len(held), self.dim), np.float32)
        decode = self._index.pq.decode_c  # type: ignore[attr-defined]  # stubs: the wrapper only
        decode(faiss.swig_ptr(held), faiss.swig_ptr(out), len(held))
        return out


def _table_rounding(pq: faiss.ProductQuantizer) -> float:
    """The most the rounding of fast scan's lookup tables can move a unit query's score.

    Row ``m`` of the table holds ``q_m . c`` for the code words ``c`` of sub-space ``m``, so
    it spans at most ``2 |q_m| r_m`` (``r_m``: the longest code word there). FAISS scales
    every row by one factor ``a = min(255 / widest span, 65535 / sum of spans)`` and rounds
    to the nearest step, half a step (``1 / 2a``) at most per term; with ``|q| = 1`` the
    widest span is at most ``2 max r_m`` and the sum at most ``2 sqrt(sum r_m^2)``
    (Cauchy-Schwarz). One term more covers a per-list bias, which these tables do not use."""
    words = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)
    longest = np.linalg.norm(words, axis=2).max(axis=1).astype(np.float64)
    step = max(2 * longest.max() / 255, 2 * (np.sqrt(np.sum(longest**2)) + 1) / 65535)
    return float((pq.M + 1) * step / 2)


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


def _chain(outer: faiss.IndexPreTransform) -> list[faiss.VectorTransform]:
    chain = outer.chain  # a C++ vector: the stubs call it a list
    return [chain.at(i) for i in range(chain.size())]  # type: ignore[attr-defined]


def _rotation_of(outer: faiss.IndexPreTransform) -> faiss.LinearTransform:
    return cast(faiss.LinearTransform, faiss.downcast_VectorTransform(_chain(outer)[0]))


def _bound(trailer: bytes, subject: str) -> float:
    if len(trailer) != BOUND_TRAILER.size:
        raise VectorIndexError("not an IVF,PQ index by id", subject=subject)
    magic, tolerance = BOUND_TRAILER.unpack(trailer)
    if magic != BOUND_MAGIC or not 0.0 <= tolerance <= 2.0:
        raise VectorIndexError("an IVF,PQ index without its bound", subject=subject)
    return float(tolerance)


def _checked_type(index: faiss.Index, subject: str) -> faiss.IndexPreTransform:
    """``index`` when it is what ``build`` makes: one orthonormal rotation, then an
    inner-product fast-scan inverted file of PQ64x4 codes of the rotated vectors."""
    if not isinstance(index, faiss.IndexPreTransform) or len(_chain(index)) != 1:
        raise VectorIndexError("not a rotated IVF,PQ index by id", subject=subject)
    ivf = faiss.downcast_index(index.index)
    rotation = _rotation_of(index)
    if not (
        isinstance(ivf, faiss.IndexIVFPQFastScan)
        and ivf.metric_type == faiss.METRIC_INNER_PRODUCT
        and not ivf.by_residual
        and ivf.pq.M == PQ_M
        and ivf.pq.nbits == PQ_BITS
        and isinstance(rotation, faiss.LinearTransform)
        and not rotation.have_bias
        and rotation.d_in == rotation.d_out == ivf.d
    ):
        raise VectorIndexError("not an inner-product IVF,PQ index by id", subject=subject)
    matrix = faiss.vector_to_array(rotation.A).reshape(ivf.d, ivf.d).astype(np.float64)
    if np.abs(matrix @ matrix.T - np.eye(ivf.d)).max() > 1e-4:  # its bound assumes a rotation
        raise VectorIndexError("an IVF,PQ index whose rotation is not one", subject=subject)
    return index


__all__ = ["FileIdentity", "IvfPqIndex", "probes_for"]
