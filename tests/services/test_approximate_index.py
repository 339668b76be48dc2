"""Issue 23: a gallery above ``exact_index_up_to`` templates is searched through an inverted
file of 8-bit codes (``index.choose``), chosen by its size as it grows, with the same genuine
mates found, the index named with its parameters in every result, and its integrity checked
code by code. The threshold is set low here so that a few real faces cross it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, func, select, update

from facetrail.config import Settings
from facetrail.errors import IndexIntegrityError, RecordMismatchError, VectorIndexError
from facetrail.index.base import VectorIndex
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.ivf_index import IvfIndex
from facetrail.services.context import AppContext
from facetrail.services.galleries import indexing
from facetrail.services.galleries._index_store import vectors_of
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching._matching import GalleryRun, search_gallery
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, Gallery, TemplateRow
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery, make_org, open_searching

pytestmark = needs_lfw

#: Above this many templates, the inverted file (``Settings.exact_index_up_to``).
THRESHOLD = 6


def _ingest(org: Org, folder: Path, people: list[Path]) -> None:
    photos = copy_first_images(folder, people)
    manifest = folder / "manifest.csv"
    manifest.write_text(
        "file,subject_ref\n" + "".join(f"{p.name},{name}\n" for name, p in photos.items())
    )
    ingest(
        org.ctx,
        org.people["gus"],
        IngestRequest(folder, "bookings", "county", manifest=manifest, workers=1),
    )


@pytest.fixture()
def grown(tmp_path: Path) -> Iterator[tuple[Org, list[Path]]]:
    """A gallery of two people (exact: up to a face or two a photo), then ten more (past
    the threshold)."""
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1, exact_index_up_to=THRESHOLD))
    try:
        org = make_org(ctx)
        people = lfw_people(12)
        make_gallery(org)
        _ingest(org, tmp_path / "first", people[:2])
        org.ctx.indexes.clear()
        yield org, people
    finally:
        ctx.close()


def _index(org: Org) -> VectorIndex:
    with org.ctx.sessions() as s:
        gallery = indexing.get_gallery_row(s, "bookings")
        index, _ = indexing.open_index(org.ctx, s, gallery)
    return index


def test_a_gallery_past_the_threshold_is_searched_approximately_and_finds_its_mates(
    grown: tuple[Org, list[Path]], tmp_path: Path
) -> None:
    org, people = grown
    assert isinstance(_index(org), FaissIndex)
    _ingest(org, tmp_path / "second", people[2:])  # 12 people's faces: past the threshold
    index = _index(org)
    assert isinstance(index, IvfIndex) and len(index) >= 12
    open_searching(org, "bookings")
    org.set_policy(daily_limit=1000)
    for person in people:
        second = sorted(person.glob("*.jpg"))[1]
        org.ctx.indexes.clear()  # from its file, as a fresh worker
        result = org.search(("bookings",), (ProbeImage(second.name, second.read_bytes()),))
        assert result.status == "done"
        assert result.candidates[0].subject_ref == person.name
        produced = result.produced_by["bookings"].index
        assert "IVF" in produced and "SQ8" in produced and "nprobe" in produced
    report = indexing.check_index(org.ctx, "bookings")
    assert report.disagreed == 0 and not report.rebuilt


def test_an_erasure_rewrites_the_approximate_index_from_the_store(
    grown: tuple[Org, list[Path]], tmp_path: Path
) -> None:
    org, people = grown
    _ingest(org, tmp_path / "second", people[2:])
    held = len(_index(org))
    with org.ctx.sessions() as s:
        gallery = indexing.get_gallery_row(s, "bookings")
        assert indexing.rewrite_index(org.ctx, s, gallery) == held
    assert isinstance(_index(org), IvfIndex)


# --- The short list: re-scored from the vectors alone, only the hits kept read in full ------

#: Hits asked for: the inverted file's short list is ``RERANK`` (4) times longer.
TOP = 2


def _probe(person: Path) -> ProbeImage:
    second = sorted(person.glob("*.jpg"))[1]
    return ProbeImage(second.name, second.read_bytes())


def _past_threshold(org: Org, people: list[Path], tmp_path: Path) -> None:
    _ingest(org, tmp_path / "second", people[2:])
    assert isinstance(_index(org), IvfIndex)  # opened (and cached) before anything is counted


def _stored(org: Org, ids: list[int]) -> dict[int, bytes]:
    with org.ctx.sessions() as s:
        rows = s.execute(select(TemplateRow.id, TemplateRow.vector).where(TemplateRow.id.in_(ids)))
        return {int(i): bytes(v) for i, v in rows}


def _set_vector(org: Org, template_id: int, vector: bytes) -> None:
    """An edit written straight into the database, as an insider with a shell would."""
    with org.ctx.engine.begin() as connection:
        connection.execute(
            update(TemplateRow).where(TemplateRow.id == template_id).values(vector=vector)
        )


def _entries_after(org: Org, seq: int, kind: str) -> list[dict[str, Any]]:
    with org.ctx.sessions() as s:
        rows = s.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.kind == kind, AuditEntryRow.seq > seq)
        )
        return [json.loads(d) for d in rows]


def _last_seq(org: Org) -> int:
    with org.ctx.sessions() as s:
        return int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)


def test_the_short_list_is_rescored_from_its_vectors_and_only_the_hits_kept_are_read_in_full(
    grown: tuple[Org, list[Path]], tmp_path: Path
) -> None:
    org, people = grown
    _past_threshold(org, people, tmp_path)
    reads: list[tuple[str, list[int]]] = []

    def count(_c: object, statement: object, multi: Any, params: Any, _o: object) -> None:
        for bound in [params or {}, *(multi or [])]:
            if isinstance(bound, dict) and "ids" in bound:
                reads.append((str(statement), list(bound["ids"])))

    event.listen(org.ctx.engine, "before_execute", count)
    try:
        run = search_gallery(org.ctx, "bookings", (_probe(people[3]),), TOP, None)
    finally:
        event.remove(org.ctx.engine, "before_execute", count)
    assert run.query is not None
    _, short = _index(org).search(run.query[None], TOP)
    short_list = [int(i) for i in short[0] if i >= 0]
    assert len(short_list) > TOP
    # One statement read the short list's vectors, and nothing else of theirs ...
    [vectors] = [ids for sql, ids in reads if "JOIN" not in sql]
    assert sorted(vectors) == sorted(short_list)
    # ... and one read the rows shown (template, face, image, source) of the hits kept alone.
    [full] = [ids for sql, ids in reads if "JOIN faces" in sql]
    assert sorted(full) == sorted(c.template_id for c in run.candidates)
    assert len(run.candidates) == TOP
    # The hits are the short list's best by the stored templates, scored with them.
    stored = _stored(org, short_list)
    exact = sorted(
        ((float(np.frombuffer(v, np.float32) @ run.query), i) for i, v in stored.items()),
        reverse=True,
    )
    assert [c.template_id for c in run.candidates] == [i for _, i in exact[:TOP]]
    assert [c.score for c in run.candidates] == pytest.approx([s for s, _ in exact[:TOP]])
    assert run.candidates[0].subject_ref == people[3].name


def _search(org: Org, person: Path) -> GalleryRun:
    return search_gallery(org.ctx, "bookings", (_probe(person),), TOP, None)


def test_a_stored_vector_of_the_wrong_size_in_the_short_list_is_named(
    grown: tuple[Org, list[Path]], tmp_path: Path
) -> None:
    org, people = grown
    _past_threshold(org, people, tmp_path)
    first = _search(org, people[3]).candidates[0].template_id
    _set_vector(org, first, b"\0" * 12)
    with pytest.raises(VectorIndexError, match=f"template {first} holds 12 bytes"):
        _search(org, people[3])


def test_a_vector_edited_in_the_database_for_a_kept_hit_is_refused(
    grown: tuple[Org, list[Path]], tmp_path: Path
) -> None:
    org, people = grown
    _past_threshold(org, people, tmp_path)
    run = _search(org, people[3])
    mate, other = (c.template_id for c in run.candidates)
    vectors = _stored(org, [mate, other])
    seq = _last_seq(org)
    # The mate's vector under another person's template: that person would be ranked first.
    _set_vector(org, other, vectors[mate])
    _set_vector(org, mate, vectors[other])
    with pytest.raises(RecordMismatchError) as refused:
        _search(org, people[3])
    assert refused.value.code == "record_tampered"
    # The codes of the index disagreed with the edited templates: on the record, rebuilt.
    [mismatch] = _entries_after(org, seq, "index.mismatch")
    assert mismatch["disagreed"] >= 1


def test_a_kept_row_changed_after_the_short_list_was_scored_is_a_disagreement(
    grown: tuple[Org, list[Path]], tmp_path: Path
) -> None:
    """The short list and the kept hits' rows are two statements: a row changed (or gone)
    between them is never shown with the score of the vector read before (PostgreSQL's READ
    COMMITTED sees a commit between two statements; here the reader stands in for it)."""
    org, people = grown
    _past_threshold(org, people, tmp_path)
    query = _search(org, people[3]).query
    assert query is not None

    def read_kept(calls: list[list[int]], changed: int) -> indexing.TemplateReader:
        """Reads the rows asked for; in its first ``changed`` calls the first row's vector
        changed and the second row gone."""

        def read(ids: list[int]) -> list[tuple[int, bytes]]:
            calls.append(ids)
            rows = list(_stored(org, ids).items())
            if len(calls) <= changed:
                rows = [(rows[0][0], rows[0][1][::-1]), *rows[2:]]
            return rows

        return read

    seq = _last_seq(org)
    calls: list[list[int]] = []
    with org.ctx.sessions() as s:
        gallery = indexing.get_gallery_row(s, "bookings")
        _, hits = indexing.search_index(
            org.ctx, s, gallery, query, TOP, read_kept=read_kept(calls, 1)
        )
    assert len(calls) == 2 and [tid for _, tid in hits] == calls[1]
    [mismatch] = _entries_after(org, seq, "index.mismatch")
    assert mismatch["disagreed"] == TOP  # one changed, one gone; the index was rebuilt
    with org.ctx.sessions() as s, pytest.raises(IndexIntegrityError):
        gallery = indexing.get_gallery_row(s, "bookings")
        indexing.search_index(org.ctx, s, gallery, query, TOP, read_kept=read_kept([], 2))


def test_a_stored_vector_of_the_wrong_size_is_named_even_when_the_total_adds_up() -> None:
    gallery = Gallery(name="bookings", pack="arcface-mbf")
    rows = [(7, b"\0" * 16), (8, b"\0" * 12), (9, b"\0" * 20)]  # 3 x 4-d, 48 bytes in all
    with pytest.raises(VectorIndexError, match="template 8 holds 12 bytes, not a 4-d vector"):
        vectors_of(gallery, rows, 4)
    ids, vectors = vectors_of(gallery, [(7, b"\0" * 16), (9, b"\1" * 16)], 4)
    assert ids.tolist() == [7, 9] and vectors.shape == (2, 4)
