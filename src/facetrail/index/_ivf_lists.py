"""What the two inverted-file indexes (``ivf_index``: 8-bit codes, ``ivfpq_index``: product
codes) share: how many lists a gallery gets and how many a search probes, how vectors are
assigned to them, how what each list holds (id, list, code) is read out for the code-by-code
check, and the methods built on those (``InvertedFile``)."""

from __future__ import annotations

from collections.abc import Callable

import faiss
import numpy as np

from facetrail.errors import VectorIndexError
from facetrail.index.base import Codes, Ids, Vectors

#: Vectors checked against every centroid at a time (``codes_for``).
CHECK_CHUNK = 8192


#: The share of its lists a search probes. Face templates are not clustered the way an
#: inverted file would need: a probe's genuine mate scores about 0.5 against it, barely
#: nearer than the crowd, and often lies in a list far down the probe's order. Measured on
#: the real lfw-dev gallery among distractors fitted to it (``facetrail bench scale``,
#: docs/measurements.md): at 100k faces and 256 lists, probing 64 lost 5.5 points of rank-1
#: against exact search, 128 lost 0.9, 192 lost 0.1. So the inverted file saves by its
#: compressed codes, not by skipping much of the gallery.
PROBE_SHARE = 0.75


def lists_for(n: int) -> int:
    """nlist for ``n`` vectors: the power of two nearest sqrt(n), between 16 and 65,536, and
    at most n / 39 (k-means wants about 39 points a centroid). Since most lists are probed
    anyway, fewer and longer lists cost less: training (k-means on 64 points a list) and the
    probe's ranking of the centroids."""
    nlist = 2 ** round(float(np.log2(np.sqrt(max(n, 1)))))
    most = 2 ** int(np.log2(max(n // 39, 1)))
    return int(min(max(nlist, 16), 65536, most))


def probes_for(nlist: int) -> int:
    """nprobe for ``nlist`` lists: ``PROBE_SHARE`` of them."""
    return max(1, min(nlist, int(np.ceil(PROBE_SHARE * nlist))))


def checked(vectors: Vectors, dim: int) -> Vectors:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise VectorIndexError(f"vectors of shape {vectors.shape}, index dim {dim}")
    return vectors


def centroids(index: faiss.IndexIVF) -> Vectors:
    return np.asarray(index.quantizer.reconstruct_n(0, index.nlist), dtype=np.float32).reshape(
        index.nlist, index.d
    )


def assign(index: faiss.IndexIVF, vectors: Vectors) -> Ids:
    """The nearest list of each vector (the one ``add`` puts it in)."""
    _, lists = index.quantizer.search(vectors, 1)
    return np.ascontiguousarray(lists.ravel(), dtype=np.int64)


def add_assigned(index: faiss.IndexIVF, ids: Ids, vectors: Vectors, lists: Ids) -> None:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    keys = np.ascontiguousarray(ids, dtype=np.int64)
    index.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(keys), faiss.swig_ptr(lists))


def entries(index: faiss.IndexIVF, *, with_codes: bool) -> tuple[Ids, Ids, Codes]:
    """Every held (id, list, code), list by list (codes only when asked: they are the bulk
    of the index)."""
    invlists = index.invlists
    assert invlists is not None  # an IVF index always has its lists
    size_of_code = index.code_size
    ids, lists, codes = [], [], []
    for number in range(index.nlist):
        size = invlists.list_size(number)
        if size == 0:
            continue
        # Copies out of FAISS's in-memory (ArrayInvertedLists) storage.
        ids.append(faiss.rev_swig_ptr(invlists.get_ids(number), size).copy())
        lists.append(np.full(size, number, np.int64))
        if with_codes:
            codes.append(_list_codes(index, number, size))
    if not ids:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros((0, size_of_code), np.uint8)
    out_codes = np.concatenate(codes) if with_codes else np.zeros((0, 0), np.uint8)
    return np.concatenate(ids).astype(np.int64), np.concatenate(lists), out_codes


def _list_codes(index: faiss.IndexIVF, number: int, size: int) -> Codes:
    """The codes of list ``number`` (``size`` entries), one row each: copied as they are, or
    unpacked from fast scan's blocks (codes interleaved 32 at a time)."""
    invlists = index.invlists
    assert invlists is not None
    if not isinstance(index, faiss.IndexIVFFastScan):
        held = faiss.rev_swig_ptr(invlists.get_codes(number), size * index.code_size)
        return held.reshape(size, index.code_size).copy()
    packer = index.get_CodePacker()
    blocks = -(-size // packer.nvec)
    packed = faiss.rev_swig_ptr(invlists.get_codes(number), blocks * packer.block_size)
    out = np.empty((blocks * packer.nvec, index.code_size), np.uint8)
    for block in range(blocks):
        start = block * packer.block_size
        packer.unpack_all(
            faiss.swig_ptr(packed[start : start + packer.block_size]),
            faiss.swig_ptr(out[block * packer.nvec :]),
        )
    return out[:size]


def held_codes(index: faiss.IndexIVF, ids: Ids) -> tuple[Ids, Codes]:
    """(list, code) of each of ``ids`` as held; list -1 and a zero code where absent."""
    held_ids, held_lists, held = entries(index, with_codes=True)
    keys = np.asarray(ids, dtype=np.int64)
    lists = np.full(len(keys), -1, np.int64)
    codes = np.zeros((len(keys), index.code_size), np.uint8)
    if len(held_ids):
        order = np.argsort(held_ids, kind="stable")
        rows = order[np.minimum(np.searchsorted(held_ids, keys, sorter=order), len(order) - 1)]
        found = held_ids[rows] == keys
        lists[found], codes[found] = held_lists[rows[found]], held[rows[found]]
    return lists, codes


def codes_for(
    index: faiss.IndexIVF,
    centres: Vectors,
    lists: Ids,
    vectors: Vectors,
    encode: Callable[[Vectors], Codes],
    *,
    residual: bool = True,
) -> tuple[Ids, Codes]:
    """The (list, code) a faithful index holds each of ``vectors`` as, given the list it is
    held in (-1: none): in that list where it is a nearest one (within float rounding), else
    in the nearest list; the ``encode``d residual to that list's centroid (``residual``) or
    the vector itself."""
    out_lists = np.asarray(lists, dtype=np.int64).copy()
    codes = np.zeros((len(vectors), index.code_size), np.uint8)
    for start in range(0, len(vectors), CHECK_CHUNK):
        part = slice(start, start + CHECK_CHUNK)
        chunk, held = vectors[part], out_lists[part]
        similarity = chunk @ centres.T
        rows = np.arange(len(chunk))
        near = (held >= 0) & (
            similarity[rows, np.clip(held, 0, None)] >= similarity.max(axis=1) - 1e-5
        )
        held[:] = np.where(near, held, similarity.argmax(axis=1))
        coded = chunk - centres[held] if residual else chunk
        codes[part] = encode(np.ascontiguousarray(coded, dtype=np.float32))
    return out_lists, codes


class InvertedFile:
    """What both inverted files answer alike, from their FAISS index: the lists, the probe
    setting, the ids held, and the (list, code) of each for the code-by-code check. A
    subclass says how a residual is coded (``_encode``) and how it searches."""

    _index: faiss.IndexIVF

    def __init__(self, index: faiss.IndexIVF) -> None:
        self.dim = int(index.d)
        self._index = index
        self._centroids = centroids(index)

    @property
    def nlist(self) -> int:
        return int(self._index.nlist)

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, nprobe: int) -> None:
        self._index.nprobe = max(1, min(nprobe, self.nlist))

    def ids(self) -> Ids:
        return entries(self._index, with_codes=False)[0]

    def held_codes(self, ids: Ids) -> tuple[Ids, Codes]:
        """(list, code) of each of ``ids`` as held; list -1 and a zero code where absent."""
        return held_codes(self._index, ids)

    def codes_for(self, lists: Ids, vectors: Vectors) -> tuple[Ids, Codes]:
        """The (list, code) a faithful index holds each of ``vectors`` as (see
        ``codes_for``)."""
        vectors = checked(vectors, self.dim)
        return codes_for(self._index, self._centroids, lists, vectors, self._encode)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def _encode(self, residuals: Vectors) -> Codes:
        raise NotImplementedError
