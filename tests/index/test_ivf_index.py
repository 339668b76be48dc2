"""The approximate index: what a searcher and an auditor would notice. Erased faces are gone,
new faces are found without a rebuild, a saved index answers as the one saved, its scores are
never further from the stored templates than it says, genuine mates are found as exact search
finds them, and an edited code is caught while quantisation is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import VectorIndexError
from facetrail.index.choose import (
    EXACT_UP_TO,
    IndexKind,
    Thresholds,
    build_index,
    kind_for,
    kind_of,
    load_index,
    outgrown,
)
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.ivf_index import IvfIndex, lists_for
from facetrail.index.reconcile import SCORE_TOLERANCE, disagreeing_vectors, rescore, score_tolerance

pytestmark = pytest.mark.database_free

DIM = 512


def face_like(identities: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, object]:
    """Unit templates of ``identities`` people, ``samples`` noisy ones each (mates score about
    0.6, impostors 0.1 +- 0.1, as face templates do) -> (templates, owner, a sampler)."""
    rng = np.random.default_rng(seed)
    spectrum = np.arange(1, DIM + 1, dtype=np.float32) ** -0.5
    spectrum *= np.sqrt(DIM / np.sum(spectrum**2))
    mean = rng.standard_normal(DIM).astype(np.float32)
    mean *= 0.5 * np.sqrt(DIM) / np.linalg.norm(mean)
    centres = rng.standard_normal((identities, DIM), dtype=np.float32) * spectrum + mean

    def sample(owner: np.ndarray) -> np.ndarray:
        drawn = centres[owner] + 0.9 * rng.standard_normal((len(owner), DIM), dtype=np.float32)
        out: np.ndarray = drawn / np.linalg.norm(drawn, axis=1, keepdims=True)
        return out

    owner = np.repeat(np.arange(identities), samples)
    return sample(owner), owner, sample


@pytest.fixture(scope="module")
def gallery() -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """20,000 templates of 5,000 people under ids that are not their positions."""
    vectors, owner, sample = face_like(5000, 4, seed=1)
    ids = np.arange(len(vectors), dtype=np.int64) * 7 + 3
    return ids, vectors, owner, sample


@pytest.fixture(scope="module")
def built(gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object]) -> IvfIndex:
    ids, vectors, _, _ = gallery
    return IvfIndex.build(ids, vectors)


def small(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray, IvfIndex]:
    vectors, _, _ = face_like(n // 3, 3, seed)
    ids = np.arange(n, dtype=np.int64) + 100
    return ids, vectors, IvfIndex.build(ids, vectors)


def test_an_erased_face_is_gone_not_hidden() -> None:
    ids, vectors, index = small()
    gone = ids[:50]
    assert index.remove(gone) == 50
    assert len(index) == len(ids) - 50
    _, found = index.search(vectors[:50], 10)
    assert not np.isin(found, gone).any()  # not even its own template finds it
    assert not np.isin(index.ids(), gone).any()
    with pytest.raises(VectorIndexError):
        index.vectors(gone[:1])
    assert index.remove(gone) == 0  # removing again removes nothing


def test_faces_added_after_training_are_found_without_a_rebuild() -> None:
    vectors, _, _ = face_like(1200, 3, seed=2)
    ids = np.arange(len(vectors), dtype=np.int64)
    index = IvfIndex.build(ids[:3000], vectors[:3000])
    before = index.describe()
    index.add(ids[3000:], vectors[3000:])
    assert len(index) == len(vectors) and index.describe() == before
    index.nprobe = index.nlist  # every list: each new template must find itself
    _, found = index.search(vectors[3000:], 1)
    assert (found[:, 0] == ids[3000:]).all()


def test_a_vector_outside_the_trained_ranges_is_refused_whole() -> None:
    ids, vectors, index = small()
    odd = np.zeros((1, DIM), np.float32)
    odd[0, -1] = 1.0  # a unit vector, but unlike any face: outside the ranges
    assert index.outside_ranges(np.vstack([vectors[:1], odd])).tolist() == [False, True]
    with pytest.raises(VectorIndexError, match="rebuild"):
        index.add(np.array([1, 2], dtype=np.int64), np.vstack([vectors[:1], odd]))
    assert len(index) == len(ids)  # neither was added


def test_a_saved_index_answers_as_the_one_saved(tmp_path: Path) -> None:
    ids, vectors, index = small(seed=3)
    index.remove(ids[:10])
    path = tmp_path / "gallery.faiss"
    path.write_bytes(index.to_bytes())
    loaded = load_index(path)
    assert isinstance(loaded, IvfIndex)
    assert loaded.describe() == index.describe()
    assert loaded.score_tolerance == index.score_tolerance
    for a, b in zip(loaded.search(vectors[:20], 10), index.search(vectors[:20], 10), strict=True):
        np.testing.assert_array_equal(a, b)
    loaded.add(ids[:10], vectors[:10])  # still takes adds and removals by id after loading
    assert loaded.remove(ids[10:20]) == 10 and len(loaded) == len(ids) - 10


def test_an_exact_index_file_opens_as_exact(tmp_path: Path) -> None:
    exact = FaissIndex(8)
    exact.add(np.arange(3, dtype=np.int64), np.eye(3, 8, dtype=np.float32))
    (tmp_path / "exact.faiss").write_bytes(exact.to_bytes())
    (tmp_path / "junk.faiss").write_bytes(b"not an index")
    assert isinstance(load_index(tmp_path / "exact.faiss"), FaissIndex)
    with pytest.raises(VectorIndexError):
        load_index(tmp_path / "junk.faiss")


def test_the_description_names_the_backend_and_its_parameters(built: IvfIndex) -> None:
    described = built.describe()
    assert described.startswith("faiss-")
    for part in (f"IVF{built.nlist},SQ8", "IP", f"d={DIM}", f"nprobe={built.nprobe}", "rerank=4"):
        assert part in described


def test_the_kind_is_chosen_by_size() -> None:
    assert kind_for(1000) is IndexKind.EXACT
    assert kind_for(EXACT_UP_TO) is IndexKind.EXACT
    # by default every approximate index is compressed; 8-bit codes when asked for in between
    assert kind_for(EXACT_UP_TO + 1) is IndexKind.IVFPQ
    between = Thresholds(EXACT_UP_TO, 4 * EXACT_UP_TO)
    assert kind_for(EXACT_UP_TO + 1, at=between) is IndexKind.IVF
    # an approximate index shrinking just below the threshold stays approximate a while
    assert kind_for(EXACT_UP_TO - 1, IndexKind.IVF) is IndexKind.IVF
    assert kind_for(EXACT_UP_TO - 1, IndexKind.IVFPQ) is IndexKind.IVFPQ
    assert kind_for(EXACT_UP_TO // 2, IndexKind.IVF) is IndexKind.EXACT
    vectors, _, _ = face_like(400, 3, seed=4)
    ids = np.arange(len(vectors), dtype=np.int64)
    assert isinstance(build_index(DIM, ids, vectors), FaissIndex)
    at = Thresholds(exact_up_to=1000, compressed_from=10**9)
    approximate = build_index(DIM, ids, vectors, at=at)
    assert kind_of(approximate) is IndexKind.IVF
    assert outgrown(approximate, 500, at=at)  # far below: back to exact
    assert not outgrown(approximate, 1200, at=at)
    assert outgrown(approximate, 1000 * lists_for(1200) ** 2, at=at)  # lists too long
    assert lists_for(1_000_000) == 1024 and lists_for(100) == 2


def test_a_mate_found_at_rank_1_by_exact_search_is_found_at_rank_1(
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object], built: IvfIndex
) -> None:
    ids, vectors, owner, sample = gallery
    people = np.random.default_rng(5).choice(5000, 200, replace=False)
    probes = sample(people)  # type: ignore[operator]
    stored = dict(zip(ids.tolist(), vectors, strict=True))
    exact_top = np.argsort(-(probes @ vectors.T), axis=1)[:, :10]
    recall, mates_lost = [], 0
    for probe, person, exact in zip(probes, people, exact_top, strict=True):
        scores, found = built.search(probe[None], 10)
        hits = rescore(probe, scores[0], found[0], stored, built.score_tolerance, top=10).hits
        top = [tid for _, tid in hits]
        recall.append(len(set(top) & set(ids[exact].tolist())) / 10)
        exact_mate = owner[exact[0]] == person
        mates_lost += bool(exact_mate and owner[(top[0] - 3) // 7] != person)
    assert mates_lost == 0
    assert np.mean(recall) >= 0.9


def test_scores_stray_no_further_than_the_index_says(built: IvfIndex) -> None:
    rng = np.random.default_rng(6)
    queries = rng.standard_normal((50, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores, found = built.search(queries, 20)
    held = built.vectors(found.ravel()).reshape(*found.shape, DIM)
    exact = np.einsum("qkd,qd->qk", held, queries)
    assert np.abs(scores - exact).max() < 1e-4  # the score is the held code's
    assert built.score_tolerance < 0.05  # tight enough to mean something
    assert score_tolerance(built) == built.score_tolerance
    assert score_tolerance(FaissIndex(DIM)) == SCORE_TOLERANCE


def test_scores_of_stored_templates_within_the_tolerance(
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object], built: IvfIndex
) -> None:
    ids, vectors, _, sample = gallery
    stored = dict(zip(ids.tolist(), vectors, strict=True))
    rng = np.random.default_rng(7)
    random = rng.standard_normal((30, DIM)).astype(np.float32)
    random /= np.linalg.norm(random, axis=1, keepdims=True)
    queries = np.vstack([random, sample(rng.choice(5000, 30))])  # type: ignore[operator]
    scores, found = built.search(queries, 50)
    worst = max(
        abs(float(s) - float(stored[int(t)] @ q))
        for q, row_s, row_t in zip(queries, scores, found, strict=True)
        for s, t in zip(row_s, row_t, strict=True)
    )
    assert worst <= built.score_tolerance
    for q, row_s, row_t in zip(queries, scores, found, strict=True):
        assert rescore(q, row_s, row_t, stored, built.score_tolerance).disagreed == 0


def test_quantisation_is_no_disagreement_but_an_edited_code_is(
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object],
) -> None:
    ids, vectors, _, _ = gallery
    index = IvfIndex.build(ids[:3000], vectors[:3000])
    assert disagreeing_vectors(index, ids[:3000], vectors[:3000]) == 0
    # One person's template under another's id (removed, then re-added under it).
    index.remove(ids[:1])
    index.add(ids[:1], vectors[5:6])
    assert disagreeing_vectors(index, ids[:3000], vectors[:3000]) == 1
    # A nudge of one coordinate by a few steps: within what search re-scoring allows, but
    # not the code the stored template gets.
    nudged = vectors[10:11].copy()
    nudged[0, 0] += 0.02
    nudged /= np.linalg.norm(nudged)
    index.remove(ids[10:11])
    index.add(ids[10:11], nudged)
    assert disagreeing_vectors(index, ids[:3000], vectors[:3000]) == 2
    # And the search's own check sees the swapped one when it is returned.
    stored = dict(zip(ids[:3000].tolist(), vectors[:3000], strict=True))
    scores, found = index.search(vectors[5:6], 5)
    assert ids[0] in found[0]
    assert rescore(vectors[5], scores[0], found[0], stored, index.score_tolerance).disagreed >= 1


def test_rescore_keeps_the_best_of_the_short_list() -> None:
    stored = {i: np.eye(4, dtype=np.float32)[i % 4] * (1 - i / 10) for i in range(4)}
    query = np.ones(4, np.float32) / 2
    ids = np.array([3, 1, 0, 2], dtype=np.int64)
    scores = np.array([float(stored[i] @ query) for i in ids], dtype=np.float32)
    kept = rescore(query, scores, ids, stored, top=2)
    assert [tid for _, tid in kept.hits] == [0, 1] and kept.checked == 4 and kept.disagreed == 0
