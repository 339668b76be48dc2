"""Every VectorIndex backend behaves as the contract says (tests/index/contract.py): exact FAISS
and Milvus, here embedded as milvus-lite in a folder of the test's own. The real Milvus server
runs the same contract in tests/index/test_milvus_server.py."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import VectorIndexError
from facetrail.index.base import VectorIndex
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.milvus_index import MilvusIndex
from tests.index.contract import (
    CONTRACT,
    DIM,
    Make,
    erasure_leaves_no_answer,
    template_ids,
    unit_vectors,
)

pytestmark = pytest.mark.database_free


@pytest.fixture(scope="module")
def lite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], MilvusIndex]]:
    """Opens a new collection in one milvus-lite store per module (a store starts a server
    thread); closes them all after the module."""
    url = str(tmp_path_factory.mktemp("lite") / "m.db")
    opened: list[MilvusIndex] = []
    names = itertools.count()

    def make() -> MilvusIndex:
        opened.append(MilvusIndex.open(url, f"c{next(names)}", DIM))
        return opened[-1]

    yield make
    for index in opened:
        index.close()


@pytest.fixture(params=["faiss", "milvus-lite"])
def make(request: pytest.FixtureRequest) -> Make:
    if request.param == "faiss":
        return lambda: FaissIndex(DIM)
    lite: Callable[[], VectorIndex] = request.getfixturevalue("lite_store")
    return lite


@pytest.mark.parametrize("behaviour", CONTRACT, ids=lambda f: f.__name__)
def test_the_backend_keeps_the_contract(make: Make, behaviour: Callable[[Make], None]) -> None:
    behaviour(make)


def test_erase_leaves_no_answer_on_milvus_lite(lite_store: Callable[[], MilvusIndex]) -> None:
    erasure_leaves_no_answer(lite_store())


def test_an_index_reopened_holds_what_was_added(tmp_path: Path) -> None:
    url = str(tmp_path / "m.db")
    ids, vectors = template_ids(50), unit_vectors(50, seed=1)
    with MilvusIndex.open(url, "faces", DIM) as index:
        index.add(ids, vectors)
        described = index.describe()
    with MilvusIndex.open(url, "faces", DIM) as index:
        assert len(index) == 50 and index.describe() == described
        _, found = index.search(vectors, 1)
        assert (found[:, 0] == ids).all()


def test_a_collection_of_another_dimension_is_refused_by_name(tmp_path: Path) -> None:
    url = str(tmp_path / "m.db")
    MilvusIndex.open(url, "faces", DIM).close()
    with pytest.raises(VectorIndexError) as refused:
        MilvusIndex.open(url, "faces", 128)
    assert url in str(refused.value) and "'faces'" in str(refused.value)
    assert "512" in str(refused.value) and refused.value.__cause__ is None
    with MilvusIndex.open(url, "faces", DIM) as index:  # the refusal left it usable
        assert len(index) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1",  # loopback, nothing listening
        "/no/such/folder/m.db",
        "ftp://127.0.0.1/m",
    ],
)
def test_a_store_that_cannot_be_reached_is_named(url: str) -> None:
    with pytest.raises(VectorIndexError) as refused:
        MilvusIndex.open(url, "faces", DIM)
    assert url in str(refused.value)
    error = refused.value  # no pymilvus or gRPC traceback shown with it
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_a_closed_index_says_so(tmp_path: Path) -> None:
    index = MilvusIndex.open(str(tmp_path / "m.db"), "faces", DIM)
    index.close()
    index.close()  # twice is harmless
    with pytest.raises(VectorIndexError, match="closed"):
        index.search(unit_vectors(1, seed=2), 5)


def test_a_top_k_over_milvuss_limit_is_refused(lite_store: Callable[[], MilvusIndex]) -> None:
    index = lite_store()
    index.add(template_ids(3), unit_vectors(3, seed=3))
    with pytest.raises(VectorIndexError, match="16384"):
        index.search(unit_vectors(1, seed=4), 16385)
    assert index.search(np.zeros((0, DIM), np.float32), 5)[1].shape == (0, 0)
