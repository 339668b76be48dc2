"""The index cannot frame anyone (issue 12): the vector index is derived data, so whatever
is done to its files, a search answers from the templates in the database, the candidates'
scores are the stored templates' own, and the disagreement or damage is on the record.

Each test edits the real index files of a real gallery as someone with a shell on the server
would, then searches as an investigator (the cache cleared, as in a fresh process).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pytest
from sqlalchemy import select

from facetrail.services import indexing
from facetrail.services.context import AppContext
from facetrail.services.ingest import IngestRequest, ingest
from facetrail.services.search import ProbeImage, SearchResult
from facetrail.store.schema import AuditEntryRow, Gallery, TemplateRow
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery, open_searching

pytestmark = needs_lfw


@dataclass
class World:
    org: Org
    ctx: AppContext
    #: subject_ref (the person's folder name) -> a second photo of them, as a probe
    probes: dict[str, ProbeImage]
    index_file: Path
    meta_file: Path


@pytest.fixture()
def world(app_ctx: AppContext, org: Org, tmp_path: Path) -> World:
    """A 'bookings' gallery of four LFW people, each booked under their name; the county may
    search it without prior approval."""
    people = lfw_people(4)
    photos = copy_first_images(tmp_path / "in", people)
    manifest = tmp_path / "in" / "manifest.csv"
    manifest.write_text(
        "file,subject_ref\n" + "".join(f"{p.name},{name}\n" for name, p in photos.items())
    )
    make_gallery(org)
    ingest(
        app_ctx,
        org.people["gus"],
        IngestRequest(tmp_path / "in", "bookings", "county", manifest=manifest, workers=1),
    )
    open_searching(org, "bookings")
    probes = {}
    for person in people:
        second = sorted(person.glob("*.jpg"))[1]
        probes[person.name] = ProbeImage(second.name, second.read_bytes())
    with app_ctx.sessions() as s:
        gallery_id = s.scalars(select(Gallery.id).where(Gallery.name == "bookings")).one()
    files = sorted(app_ctx.settings.index_dir.glob(f"gallery-{gallery_id}-*"))
    index_file = next(f for f in files if f.suffix == ".faiss")
    meta_file = next(f for f in files if f.suffix == ".json")
    return World(org, app_ctx, probes, index_file, meta_file)


def _stored(ctx: AppContext) -> dict[int, np.ndarray]:
    with ctx.sessions() as s:
        return {
            int(i): np.frombuffer(bytes(v), np.float32)
            for i, v in s.execute(select(TemplateRow.id, TemplateRow.vector))
        }


def _entries(ctx: AppContext, *kinds: str) -> list[AuditEntryRow]:
    with ctx.sessions() as s:
        rows = s.scalars(select(AuditEntryRow).where(AuditEntryRow.kind.in_(kinds))).all()
        s.expunge_all()
        return list(rows)


def _search_fresh(w: World, person: str) -> SearchResult:
    """Search as ivy in what is, for the index, a fresh process (nothing cached)."""
    w.ctx.indexes.clear()
    return w.org.search(("bookings",), (w.probes[person],))


def _assert_honest(w: World, result: SearchResult, person: str) -> None:
    """The right person first, and every score the stored template's own."""
    assert result.status == "done"
    assert result.candidates, "a search of a non-empty gallery returns candidates"
    assert result.candidates[0].subject_ref == person
    stored = _stored(w.ctx)
    for c in result.candidates:
        assert c.template_id in stored
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)


def _swap_vectors(index_file: Path, a: int, b: int) -> None:
    """The framing attack: the vectors of templates a and b trade places in the file, ids
    (and so the id fingerprint) untouched."""
    index = faiss.read_index(str(index_file))
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    vectors = np.stack([index.reconstruct(int(i)) for i in ids]).astype(np.float32)
    pos = {int(i): n for n, i in enumerate(ids)}
    vectors[[pos[a], pos[b]]] = vectors[[pos[b], pos[a]]]
    forged = faiss.IndexIDMap2(faiss.IndexFlatIP(index.d))
    forged.add_with_ids(vectors, ids)
    faiss.write_index(forged, str(index_file))


def _template_of(w: World, person: str) -> int:
    result = _search_fresh(w, person)
    assert result.candidates[0].subject_ref == person
    return result.candidates[0].template_id


def test_swapped_vectors_do_not_frame_an_innocent_person(world: World) -> None:
    names = sorted(world.probes)
    guilty, innocent = names[0], names[1]
    honest = world.org.search(("bookings",), (world.probes[guilty],))
    _assert_honest(world, honest, guilty)
    guilty_tid = honest.candidates[0].template_id
    innocent_tid = _template_of(world, innocent)

    _swap_vectors(world.index_file, guilty_tid, innocent_tid)
    result = _search_fresh(world, guilty)

    # Not the innocent person at rank 1 with the guilty one's score: the same answer as before.
    _assert_honest(world, result, guilty)
    assert result.candidates[0].template_id == guilty_tid
    assert [(c.template_id, round(c.score, 4)) for c in result.candidates] == [
        (c.template_id, round(c.score, 4)) for c in honest.candidates
    ]
    entries = _entries(world.ctx, "index.mismatch", "index.damaged")
    assert len(entries) == 1
    assert entries[0].subject == "bookings"
    # No biometric data in the log: counts and reasons only.
    details = json.loads(entries[0].details)
    assert all(isinstance(v, (int, str)) for v in details.values())
    # The index on disk was rebuilt: the next fresh search needs no repair.
    _assert_honest(world, _search_fresh(world, guilty), guilty)
    assert len(_entries(world.ctx, "index.mismatch", "index.damaged")) == 1


def test_swapped_vectors_with_a_consistent_metadata_file_are_caught_at_search(
    world: World,
) -> None:
    """An attacker who also rewrites the index's metadata (digest and all) with facetrail's
    own code is still caught: every returned score is recomputed from the stored template."""
    names = sorted(world.probes)
    guilty, innocent = names[0], names[1]
    guilty_tid, innocent_tid = _template_of(world, guilty), _template_of(world, innocent)
    _swap_vectors(world.index_file, guilty_tid, innocent_tid)
    indexing.reseal_index_files(world.ctx, "bookings")  # the attacker's own re-sealing

    result = _search_fresh(world, guilty)
    _assert_honest(world, result, guilty)
    assert result.candidates[0].template_id == guilty_tid
    [entry] = _entries(world.ctx, "index.mismatch")
    details = json.loads(entry.details)
    assert entry.subject == "bookings" and details["disagreed"] >= 1


def test_truncated_index_file_is_rebuilt(world: World) -> None:
    data = world.index_file.read_bytes()
    world.index_file.write_bytes(data[: len(data) // 2])
    person = sorted(world.probes)[2]
    _assert_honest(world, _search_fresh(world, person), person)
    [entry] = _entries(world.ctx, "index.damaged")
    assert entry.subject == "bookings"


@pytest.mark.parametrize(
    "garbage",
    [b"{not json", b"", b"[1, 2, 3]", b'{"fingerprint": "x"}', b"\xff\xfe\x00"],
    ids=["garbled", "empty", "not-an-object", "wrong-types", "not-utf8"],
)
def test_invalid_index_metadata_is_rebuilt(world: World, garbage: bytes) -> None:
    world.meta_file.write_bytes(garbage)
    person = sorted(world.probes)[3]
    _assert_honest(world, _search_fresh(world, person), person)
    [entry] = _entries(world.ctx, "index.damaged")
    assert entry.subject == "bookings"


@pytest.mark.parametrize("which", ["index", "metadata", "both"])
def test_deleted_index_file_is_rebuilt(world: World, which: str) -> None:
    if which in ("index", "both"):
        world.index_file.unlink()
    if which in ("metadata", "both"):
        world.meta_file.unlink()
    person = sorted(world.probes)[0]
    _assert_honest(world, _search_fresh(world, person), person)
    [entry] = _entries(world.ctx, "index.damaged")
    assert entry.subject == "bookings"
    assert world.index_file.is_file() and world.meta_file.is_file()
