"""The index-search thread count a process sets holds in every thread that searches: a
served worker sets it once, then searches in its web server's thread pool."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
import pytest

from facetrail.index import faiss_index
from facetrail.index.faiss_index import FaissIndex, set_threads


@pytest.fixture()
def one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = faiss.omp_get_max_threads()
    monkeypatch.setattr(faiss_index, "_search_threads", None, raising=False)  # restored after
    set_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenMP's default is then one thread")
@pytest.mark.usefixtures("one_thread")
def test_a_search_in_another_thread_uses_the_threads_the_process_set() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(64, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # unit length, as templates are
    index = FaissIndex(8)
    index.add(np.arange(64, dtype=np.int64), vectors)

    def search_then_threads() -> tuple[int, int]:
        fresh = faiss.omp_get_max_threads()  # a new thread: OpenMP's default, every core
        _, ids = index.search(vectors[:1], 3)
        assert int(ids[0][0]) == 0
        return fresh, faiss.omp_get_max_threads()

    with ThreadPoolExecutor(1) as pool:
        fresh, searching = pool.submit(search_then_threads).result()
    assert fresh > 1  # what a thread pool's thread would search with, left alone
    assert searching == 1
