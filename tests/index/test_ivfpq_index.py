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
    scores, found = index.search(np.vstack([vectors[3000:3100], odd]), 5)
    for query, row_s, row_t in zip(
        np.vstack([vectors[3000:3100], odd]), scores, found, strict=True
    ):
        kept = rescore(query, row_s, row_t, stored, index.score_tolerance, top=1)
        assert kept.disagreed == 0
    assert (found[:-1, 0] == ids[3000:3100]).mean() >= 0.95 and 10**9 in found[-1]


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
    assert f"IVF{built.nlist},PQ64x8" in built.describe() and f"short={SHORT_LIST}" in (
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
    stored = dict(zip(ids[:3000].tolist(), vectors[:3000], strict=True))
    index.nprobe = index.nlist
    scores, found = index.search(vectors[5:6], 5)
    assert ids[0] in found[0]  # and the search's own check sees it when it is returned
    assert rescore(vectors[5], scores[0], found[0], stored, index.score_tolerance).disagreed >= 1


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


def test_a_mapped_index_answers_as_saved_and_is_copied_before_it_changes(
    built: IvfPqIndex, gallery: tuple[np.ndarray, np.ndarray, np.ndarray, object], tmp_path: Path
) -> None:
    ids, vectors, _, _ = gallery
    path = tmp_path / "gallery.faiss"
    path.write_bytes(built.to_bytes())
    mapped = load_index(path)  # as the services open it: one copy a machine
    assert isinstance(mapped, IvfPqIndex) and mapped.mapped and not mapped.changed_on_disk()
    assert mapped.score_tolerance == built.score_tolerance and len(mapped) == len(built)
    for a, b in zip(mapped.search(vectors[:20], 10), built.search(vectors[:20], 10), strict=True):
        np.testing.assert_array_equal(a, b)
    assert mapped.to_bytes() == built.to_bytes()  # saved whole, not as a reference to a file
    assert mapped.remove(ids[:5]) == 5  # copied into memory first: FAISS would abort
    assert not mapped.mapped and len(mapped) == len(built) - 5
    mapped.add(ids[:5], vectors[:5])
    assert len(mapped) == len(built)
    assert path.read_bytes() == built.to_bytes()  # the file is untouched


def test_a_mapped_file_written_in_place_or_replaced_is_noticed(
    built: IvfPqIndex, tmp_path: Path
) -> None:
    path = tmp_path / "gallery.faiss"
    path.write_bytes(built.to_bytes())
    mapped = IvfPqIndex.load(path, mapped=True)
    assert not mapped.changed_on_disk()
    with path.open("r+b") as fh:  # an insider's edit of one code, in place
        fh.seek(len(built.to_bytes()) // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 1]))
    assert mapped.changed_on_disk()
    again = IvfPqIndex.load(path, mapped=True)
    replaced = tmp_path / "new.faiss"
    replaced.write_bytes(built.to_bytes())
    replaced.replace(path)  # as facetrail saves: a new file under the name
    assert again.changed_on_disk()
    path.unlink()
    assert again.changed_on_disk()
