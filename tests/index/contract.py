"""What every VectorIndex backend must do, written once: each behaviour is a function of a
factory that opens a new, empty index of ``DIM`` dimensions, and raises AssertionError (or the
error it did not expect) when the backend does otherwise. ``test_index_contract.py`` runs them
on FAISS and milvus-lite; ``_milvus_server_run.py`` on a Milvus server."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from facetrail.errors import VectorIndexError
from facetrail.index.base import VectorIndex
from facetrail.index.milvus_index import MilvusIndex

DIM = 512
#: More templates than one Milvus query may return (16,384).
MANY = 20_000

Make = Callable[[], VectorIndex]


def unit_vectors(n: int, seed: int, dim: int = DIM) -> npt.NDArray[np.float32]:
    drawn = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    out: npt.NDArray[np.float32] = drawn / np.linalg.norm(drawn, axis=1, keepdims=True)
    return out


def template_ids(n: int, first: int = 3) -> npt.NDArray[np.int64]:
    """Ids that are not positions, up to beyond 32 bits."""
    return np.arange(n, dtype=np.int64) * 7 + first + 2**33


def each_vector_finds_itself_first(make: Make) -> None:
    index = make()
    ids, vectors = template_ids(300), unit_vectors(300, seed=1)
    index.add(ids, vectors)
    scores, found = index.search(vectors, 10)
    assert found.shape == scores.shape == (300, 10)
    assert found.dtype == np.int64 and scores.dtype == np.float32
    assert (found[:, 0] == ids).all()
    assert np.allclose(scores[:, 0], 1.0, atol=1e-4)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def a_larger_k_than_the_index_gives_every_entry_once(make: Make) -> None:
    index = make()
    ids, vectors = template_ids(5), unit_vectors(5, seed=2)
    index.add(ids, vectors)
    scores, found = index.search(unit_vectors(3, seed=3), 50)
    assert found.shape == scores.shape == (3, 5)
    for row in found:
        assert sorted(row) == sorted(ids)


def an_empty_index_finds_nothing(make: Make) -> None:
    index = make()
    scores, found = index.search(unit_vectors(4, seed=4), 10)
    assert found.shape == scores.shape == (4, 0)
    assert len(index) == 0 and len(index.ids()) == 0


def removed_templates_are_gone(make: Make) -> None:
    index = make()
    ids, vectors = template_ids(400), unit_vectors(400, seed=5)
    index.add(ids, vectors)
    gone = ids[::8]
    absent = np.array([1, 2], dtype=np.int64)
    assert index.remove(np.concatenate([gone, absent])) == len(gone)
    assert index.remove(gone) == 0
    assert len(index) == 400 - len(gone)
    assert set(index.ids().tolist()) == set(ids.tolist()) - set(gone.tolist())
    _, found = index.search(vectors[::8], 400)  # not even its own vector finds it
    assert found.shape == (len(gone), 400 - len(gone))
    assert not np.isin(found, gone).any()


def a_removed_id_can_be_added_again(make: Make) -> None:
    index = make()
    ids, vectors = template_ids(100), unit_vectors(100, seed=6)
    index.add(ids, vectors)
    assert index.remove(ids[:10]) == 10
    again = unit_vectors(10, seed=7)
    index.add(ids[:10], again)
    assert len(index) == 100
    _, found = index.search(again, 1)
    assert (found[:, 0] == ids[:10]).all()
    assert np.allclose(index.vectors(ids[:10]), again, atol=1e-6)


def vectors_come_back_as_added_in_the_order_asked(make: Make) -> None:
    index = make()
    ids, vectors = template_ids(200), unit_vectors(200, seed=8)
    index.add(ids, vectors)
    order = np.random.default_rng(9).permutation(200)[:50]
    assert np.allclose(index.vectors(ids[order]), vectors[order], atol=1e-6)
    assert index.vectors(ids[:0]).shape == (0, DIM)
    for asked in (np.array([999], np.int64), np.array([ids[0], 999], np.int64)):
        try:
            index.vectors(asked)
        except VectorIndexError:
            continue
        raise AssertionError(f"vectors({asked.tolist()}) of an absent id did not fail")


def every_id_is_listed_beyond_one_querys_limit(make: Make) -> None:
    index = make()
    ids = template_ids(MANY)
    for start in range(0, MANY, 5000):  # several adds, as ingestion makes them
        index.add(ids[start : start + 5000], unit_vectors(5000, seed=10 + start))
    listed = index.ids()
    assert listed.dtype == np.int64 and len(listed) == MANY
    assert set(listed.tolist()) == set(ids.tolist())
    assert len(index) == MANY


def the_description_is_stable(make: Make) -> None:
    index = make()
    before = index.describe()
    index.add(template_ids(50), unit_vectors(50, seed=11))
    assert index.describe() == before == index.describe()
    assert ",IP" in before and before.endswith(f"d={DIM}")


def vectors_of_another_dimension_are_refused(make: Make) -> None:
    index = make()
    for wrong in (unit_vectors(3, seed=12, dim=DIM - 1), unit_vectors(3, seed=12)[:, None]):
        try:
            index.add(template_ids(3), wrong)
        except VectorIndexError:
            continue
        raise AssertionError(f"vectors of shape {wrong.shape} were accepted")
    assert len(index) == 0


CONTRACT: tuple[Callable[[Make], None], ...] = (
    each_vector_finds_itself_first,
    a_larger_k_than_the_index_gives_every_entry_once,
    an_empty_index_finds_nothing,
    removed_templates_are_gone,
    a_removed_id_can_be_added_again,
    vectors_come_back_as_added_in_the_order_asked,
    every_id_is_listed_beyond_one_querys_limit,
    the_description_is_stable,
    vectors_of_another_dimension_are_refused,
)


def erasure_leaves_no_answer(index: MilvusIndex) -> None:
    """``erase`` (Milvus's own: delete, flush, compact, prove) on a fresh ``index``: the erased
    are not answered by search, listing, count or vectors, and the others still are."""
    ids, vectors = template_ids(600), unit_vectors(600, seed=13)
    index.add(ids, vectors)
    gone = ids[:20]
    assert index.erase(np.concatenate([gone, np.array([5], np.int64)])) == len(gone)
    assert index.erase(gone) == 0
    assert len(index) == 580
    assert not np.isin(index.ids(), gone).any()
    _, found = index.search(vectors, 50)
    assert not np.isin(found, gone).any()
    assert (found[20:, 0] == ids[20:]).all()
    try:
        index.vectors(gone[:1])
    except VectorIndexError:
        return
    raise AssertionError("the vector of an erased id came back")
