"""The compressed approximate index (IVF + PQ64): what a searcher and an auditor would notice.
Erased faces are gone, new faces are found without a rebuild, a saved index answers as the
one saved and keeps its measured bound, its scores never stray from the stored templates
further than it says, genuine mates are found as exact search finds them, an edited code is
caught while quantisation is not, and each gallery size gets the kind measured for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import VectorIndexError
from facetrail.index.choose import (
    IndexKind,
    Thresholds,
    build_index,
    kind_for,
    kind_of,
    load_index,
    outgrown,
)
from facetrail.index.ivf_index import IvfIndex
from facetrail.index.ivfpq_index import PQ_TRAINING_LEAST, SHORT_LIST, IvfPqIndex
from facetrail.index.reconcile import disagreeing_vectors, rescore, score_tolerance
from tests.index.test_ivf_index import DIM, face_like

pytestmark = pytest.mark.database_free


@pytest.fixture(scope="module")
def gallery() -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """6,000 templates of 2,000 people under ids that are not their positions."""
    vectors, owner, sample = face_like(2000, 3, seed=11)
    ids = np.arange(len(vectors), dtype=np.int64) * 5 + 2
    return ids, vectors, owner, sample


@pytest.fixture(scope="module")
def built(gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object]) -> IvfPqIndex:
    ids, vectors, _, _ = gallery
    return IvfPqIndex.build(ids, vectors)


def test_an_erased_face_is_gone_not_hidden(
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object],
) -> None:
    ids, vectors, _, _ = gallery
    index = IvfPqIndex.build(ids[:4000], vectors[:4000])
    gone = ids[:50]
    assert index.remove(gone) == 50 and len(index) == 3950
    index.nprobe = index.nlist  # every list: nothing can hide in one not probed
    _, found = index.search(vectors[:50], 10)
    assert not np.isin(found, gone).any()  # not even its own template finds it
    assert not np.isin(index.ids(), gone).any()
    with pytest.raises(VectorIndexError):
        index.vectors(gone[:1])
    assert index.remove(gone) == 0


def test_faces_added_after_training_are_found_and_widen_the_bound(
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object],
) -> None:
    ids, vectors, _, _ = gallery
    index = IvfPqIndex.build(ids[:3000], vectors[:3000])
    before, bound = index.describe(), index.score_tolerance
    odd = np.zeros((1, DIM), np.float32)
    odd[0, -1] = 1.0  # unlike any face: coded badly, so the bound must grow to cover it
    index.add(np.array([10**9], dtype=np.int64), odd)
    index.add(ids[3000:6000], vectors[3000:6000])
    assert len(index) == 6001 and index.describe() == before
    assert index.score_tolerance > bound
    index.nprobe = index.nlist
    stored = dict(zip(ids[:6000].tolist(), vectors[:6000], strict=True)) | {10**9: odd[0]}
    scores, found = index.search(np.vstack([vectors[3000:3100], odd]), 1)
    firsts = []
    for query, row_s, row_t in zip(
        np.vstack([vectors[3000:3100], odd]), scores, found, strict=True
    ):
        kept = rescore(query, row_s, row_t, stored, index.score_tolerance, top=1)
        assert kept.disagreed == 0
        firsts.append(kept.hits[0][1])
    # Re-scored as the service does, each finds itself first.
    assert firsts == [*ids[3000:3100].tolist(), 10**9]


def test_a_saved_index_answers_as_the_one_saved_and_keeps_its_bound(
    built: IvfPqIndex, gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object], tmp_path: Path
) -> None:
    _, vectors, _, _ = gallery
    path = tmp_path / "gallery.faiss"
    path.write_bytes(built.to_bytes())
    loaded = load_index(path)
    assert isinstance(loaded, IvfPqIndex) and kind_of(loaded) is IndexKind.IVFPQ
    assert loaded.describe() == built.describe()
    assert loaded.score_tolerance == built.score_tolerance
    for a, b in zip(loaded.search(vectors[:20], 10), built.search(vectors[:20], 10), strict=True):
        np.testing.assert_array_equal(a, b)
    # Without its bound (the trailer cut off) it is not believed.
    path.write_bytes(built.to_bytes()[:-16])
    with pytest.raises(VectorIndexError):
        load_index(path)


def test_the_short_list_is_long_enough_to_re_score(built: IvfPqIndex) -> None:
    scores, found = built.search(np.ones((1, DIM), np.float32) / np.sqrt(DIM), 10)
    assert found.shape == (1, SHORT_LIST) and (found >= 0).all()
    assert np.all(np.diff(scores[0]) <= 0)  # best first
    assert f"IVF{built.nlist},PQ64x4fs" in built.describe() and f"short={SHORT_LIST}" in (
        built.describe()
    )


def test_a_mate_found_at_rank_1_by_exact_search_is_found_at_rank_1(
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object], built: IvfPqIndex
) -> None:
    ids, vectors, owner, sample = gallery
    people = np.random.default_rng(5).choice(2000, 200, replace=False)
    probes = sample(people)  # type: ignore[operator]
    stored = dict(zip(ids.tolist(), vectors, strict=True))
    exact_first = np.argmax(probes @ vectors.T, axis=1)
    lost = 0
    for probe, person, first in zip(probes, people, exact_first, strict=True):
        scores, found = built.search(probe[None], 10)
        hits = rescore(probe, scores[0], found[0], stored, score_tolerance(built), top=10).hits
        assert rescore(probe, scores[0], found[0], stored, built.score_tolerance).disagreed == 0
        lost += bool(owner[first] == person and owner[(hits[0][1] - 2) // 5] != person)
    assert lost == 0


def test_quantisation_is_no_disagreement_but_an_edited_code_is(
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object],
) -> None:
    ids, vectors, _, _ = gallery
    index = IvfPqIndex.build(ids[:3000], vectors[:3000])
    assert disagreeing_vectors(index, ids[:3000], vectors[:3000]) == 0
    index.remove(ids[:1])  # one person's template under another's id
    index.add(ids[:1], vectors[5:6])
    assert disagreeing_vectors(index, ids[:3000], vectors[:3000]) == 1


def test_each_size_gets_the_kind_measured_for_it() -> None:
    at = Thresholds(exact_up_to=1000, compressed_from=3000)
    assert kind_for(1000, at=at) is IndexKind.EXACT
    assert kind_for(1001, at=at) is IndexKind.IVF
    assert kind_for(3001, at=at) is IndexKind.IVFPQ
    assert kind_for(2500, IndexKind.IVFPQ, at) is IndexKind.IVFPQ  # hysteresis
    assert kind_for(2000, IndexKind.IVFPQ, at) is IndexKind.IVF
    assert kind_for(700, IndexKind.IVFPQ, at) is IndexKind.EXACT
    # Too few to train a product quantiser: 8-bit codes whatever the thresholds say.
    tiny = Thresholds(exact_up_to=10, compressed_from=20)
    assert kind_for(PQ_TRAINING_LEAST - 1, at=tiny) is IndexKind.IVF
    vectors, _, _ = face_like(1100, 3, seed=12)
    ids = np.arange(len(vectors), dtype=np.int64)
    compressed = build_index(DIM, ids, vectors, at=at)
    assert isinstance(compressed, IvfPqIndex)
    assert outgrown(compressed, 2000, at=at) and not outgrown(compressed, 3300, at=at)
    assert isinstance(build_index(DIM, ids[:2000], vectors[:2000], at=at), IvfIndex)
    with pytest.raises(VectorIndexError, match="at least"):
        IvfPqIndex.build(ids[:100], vectors[:100])


def test_a_loaded_index_changes_as_the_one_saved(
    built: IvfPqIndex, gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object], tmp_path: Path
) -> None:
    ids, vectors, _, _ = gallery
    path = tmp_path / "gallery.faiss"
    path.write_bytes(built.to_bytes())
    loaded = load_index(path)
    assert isinstance(loaded, IvfPqIndex)
    assert loaded.remove(ids[:5]) == 5 and len(loaded) == len(built) - 5
    loaded.add(ids[:5], vectors[:5])
    assert len(loaded) == len(built) and loaded.score_tolerance == built.score_tolerance
    assert disagreeing_vectors(loaded, ids, vectors) == 0  # the same codes, unpacked alike
    assert path.read_bytes() == built.to_bytes()  # the file is untouched


def test_the_scans_rounded_scores_stay_within_the_bound(
    built: IvfPqIndex, gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object]
) -> None:
    """Fast scan rounds its lookup tables to 8 bits: the bound covers that as well as the
    codes' own error, for every score of every short list, probes near and far alike."""
    ids, vectors, _, sample = gallery
    stored = dict(zip(ids.tolist(), vectors, strict=True))
    rng = np.random.default_rng(8)
    far = rng.standard_normal((20, DIM)).astype(np.float32)
    queries = np.vstack([sample(np.arange(40)), far / np.linalg.norm(far, axis=1, keepdims=True)])  # type: ignore[operator]
    built.nprobe, before = built.nlist, built.nprobe
    try:
        scores, found = built.search(queries, 50)
    finally:
        built.nprobe = before
    worst = max(
        abs(float(stored[int(t)] @ q) - float(s))
        for q, row_s, row_t in zip(queries, scores, found, strict=True)
        for s, t in zip(row_s, row_t, strict=True)
    )
    assert 0 < worst <= built.score_tolerance < 1.0


def test_an_index_whose_rotation_is_not_one_is_not_believed(built: IvfPqIndex) -> None:
    """The bound holds for a rotation only: a saved index whose transform stretches scores
    would pass its scores off as within it."""
    import faiss

    data = built.to_bytes()
    index = faiss.deserialize_index(np.frombuffer(data[:-16], np.uint8))
    rotation = faiss.downcast_VectorTransform(index.chain.at(0))
    matrix = faiss.vector_to_array(rotation.A)
    faiss.copy_array_to_vector((matrix * 1.5).astype(np.float32), rotation.A)
    stretched = bytes(faiss.serialize_index(index).tobytes()) + data[-16:]
    with pytest.raises(VectorIndexError, match="rotation"):
        IvfPqIndex.from_bytes(stretched, "gallery.faiss")
