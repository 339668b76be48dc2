"""The index cannot frame anyone (issue 12): the vector index is derived data, so whatever
is done to its files, a search answers from the templates in the database, the candidates'
scores are the stored templates' own, and the disagreement or damage is on the record.

Each test edits the real index files of a real gallery as someone with a shell on the server
would, then searches as an investigator (the cache cleared, as in a fresh process).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, update

from facetrail.config import Settings
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.files import IndexFiles
from facetrail.services.context import AppContext
from facetrail.services.galleries import indexing
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching.search import ProbeImage, SearchResult
from facetrail.store.schema import AuditEntryRow, Gallery, IndexSeal
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery, make_org, open_searching

pytestmark = needs_lfw


@dataclass
class World:
    org: Org
    ctx: AppContext
    #: subject_ref (the person's folder name) -> a second photo of them, as a probe
    probes: dict[str, ProbeImage]
    index_file: Path
    meta_file: Path
    #: person -> what an untouched index answers for their probe: (template id, score) by rank
    honest: dict[str, list[tuple[int, float]]]
    #: the audit log's length when the test began: entries after it are the test's own
    seq: int = 0


@pytest.fixture(scope="module")
def gallery_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A 'bookings' gallery of four LFW people, each booked under their name; the county may
    search it without prior approval. Built once: each test gets its files back intact."""
    tmp_path = tmp_path_factory.mktemp("index-integrity")
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    org = make_org(ctx)
    people = lfw_people(4)
    photos = copy_first_images(tmp_path / "in", people)
    manifest = tmp_path / "in" / "manifest.csv"
    manifest.write_text(
        "file,subject_ref\n" + "".join(f"{p.name},{name}\n" for name, p in photos.items())
    )
    make_gallery(org)
    ingest(
        ctx,
        org.people["gus"],
        IngestRequest(tmp_path / "in", "bookings", "county", manifest=manifest, workers=1),
    )
    open_searching(org, "bookings")
    org.set_policy(daily_limit=1000)
    probes = {}
    for person in people:
        second = sorted(person.glob("*.jpg"))[1]
        probes[person.name] = ProbeImage(second.name, second.read_bytes())
    with ctx.sessions() as s:
        gallery_id = s.scalars(select(Gallery.id).where(Gallery.name == "bookings")).one()
    files = sorted(ctx.settings.index_dir.glob(f"gallery-{gallery_id}-*"))
    index_file = next(f for f in files if f.suffix == ".faiss")
    meta_file = next(f for f in files if f.suffix == ".json")
    w = World(org, ctx, probes, index_file, meta_file, {})
    for person in people:
        w.honest[person.name] = _ranked(_search_fresh(w, person.name))
    yield w
    ctx.close()


@pytest.fixture()
def world(gallery_world: World) -> Iterator[World]:
    w = gallery_world
    saved = (w.index_file, w.meta_file)
    with w.ctx.sessions() as s:
        w.seq = int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)
    w.ctx.indexes.clear()
    yield w
    # The index as facetrail writes it, and sealed: rebuilt from the store (a test may have
    # left its files edited, or an edit sealed in the database outside facetrail undone).
    for f in saved:
        f.unlink(missing_ok=True)
    w.ctx.indexes.clear()
    indexing.check_index(w.ctx, "bookings")
    w.ctx.indexes.clear()


def _entries(w: World, *kinds: str) -> list[AuditEntryRow]:
    """The test's own audit entries of these kinds."""
    with w.ctx.sessions() as s:
        rows = s.scalars(
            select(AuditEntryRow).where(AuditEntryRow.kind.in_(kinds), AuditEntryRow.seq > w.seq)
        ).all()
        s.expunge_all()
        return list(rows)


def _search_fresh(w: World, person: str) -> SearchResult:
    """Search as ivy in what is, for the index, a fresh process (nothing cached)."""
    w.ctx.indexes.clear()
    return w.org.search(("bookings",), (w.probes[person],))


def _ranked(result: SearchResult) -> list[tuple[int, float]]:
    return [(c.template_id, round(c.score, 4)) for c in result.candidates]


def _assert_honest(w: World, result: SearchResult, person: str) -> None:
    """The right person first, and the very answer an untouched index gave: the same
    templates in the same order with the same scores."""
    assert result.status == "done"
    assert result.candidates[0].subject_ref == person
    assert _ranked(result) == w.honest[person]


def _swap_vectors(index_file: Path, a: int, b: int) -> None:
    """The framing attack: the vectors of templates a and b trade places in the file, ids
    (and so the id fingerprint) untouched."""
    index = FaissIndex.load(index_file)
    ids = index.ids()
    vectors = index.vectors(ids).copy()
    pos = {int(i): n for n, i in enumerate(ids)}
    vectors[[pos[a], pos[b]]] = vectors[[pos[b], pos[a]]]
    forged = FaissIndex(index.dim)
    forged.add(ids, vectors)
    index_file.write_bytes(forged.to_bytes())


def _template_of(w: World, person: str) -> int:
    result = _search_fresh(w, person)
    assert result.candidates[0].subject_ref == person
    return result.candidates[0].template_id


def _reseal(w: World) -> str:
    """What an attacker who knows facetrail does after editing the index file: write the
    metadata again with facetrail's own code, so digest and fingerprint agree with the edit.
    -> the edited file's hash."""
    saved = json.loads(w.meta_file.read_text())["fingerprint"]
    return IndexFiles(w.index_file, w.meta_file).save(
        FaissIndex.load(w.index_file), (saved[0], saved[1], saved[2])
    )


def _top(w: World, person: str) -> int:
    return w.honest[person][0][0]


def test_swapped_vectors_do_not_frame_an_innocent_person(world: World) -> None:
    guilty, innocent = sorted(world.probes)[:2]
    _swap_vectors(world.index_file, _top(world, guilty), _top(world, innocent))

    # Not the innocent person at rank 1 with the guilty one's score: the untouched answer.
    _assert_honest(world, _search_fresh(world, guilty), guilty)
    [entry] = _entries(world, "index.mismatch", "index.damaged")
    assert entry.subject == "bookings"
    details = json.loads(entry.details)
    assert details["reason"] == "digest"  # caught as the file was opened
    # No biometric data in the log: counts and reasons only.
    assert all(isinstance(v, (int, str)) for v in details.values())
    # The index on disk was rebuilt: the next fresh search needs no repair.
    _assert_honest(world, _search_fresh(world, innocent), innocent)
    assert len(_entries(world, "index.mismatch", "index.damaged")) == 1


def test_swapped_vectors_resealed_are_caught_by_the_logs_seal(world: World) -> None:
    """An attacker who also re-hashes the metadata is caught as the file is loaded: its hash
    is not the one the log sealed when facetrail wrote it."""
    guilty, innocent = sorted(world.probes)[:2]
    _swap_vectors(world.index_file, _top(world, guilty), _top(world, innocent))
    _reseal(world)

    _assert_honest(world, _search_fresh(world, guilty), guilty)
    [entry] = _entries(world, "index.mismatch", "index.damaged")
    assert (entry.kind, entry.subject) == ("index.damaged", "bookings")
    assert json.loads(entry.details)["reason"] == "seal"
    _assert_honest(world, _search_fresh(world, guilty), guilty)
    assert len(_entries(world, "index.mismatch", "index.damaged")) == 1


def test_the_files_seal_edited_in_the_database_is_caught(world: World) -> None:
    """Re-sealing in the database too (the seal row's hash set to the edited file's) does not
    help: that row is itself sealed by the log."""
    guilty, innocent = sorted(world.probes)[:2]
    _swap_vectors(world.index_file, _top(world, guilty), _top(world, innocent))
    digest = _reseal(world)
    # (written outside any action, even through facetrail's own connections: never sealed)
    with world.ctx.engine.begin() as connection:
        connection.execute(update(IndexSeal).values(sha256=digest))

    _assert_honest(world, _search_fresh(world, guilty), guilty)
    [entry] = _entries(world, "index.mismatch", "index.damaged")
    assert json.loads(entry.details)["reason"] == "seal"


def test_a_tampered_index_in_memory_is_caught_by_rescoring(world: World) -> None:
    """Past every seal (an index already loaded, edited in the worker's memory): every
    returned score is recomputed from the stored template before it is shown or stored."""
    guilty, innocent = sorted(world.probes)[:2]
    _search_fresh(world, guilty)  # loaded and cached, as in a warm worker
    [(gallery_id, (index, fp))] = world.ctx.indexes.items()
    ids = index.ids()
    vectors = index.vectors(ids).copy()
    pos = {int(i): n for n, i in enumerate(ids)}
    a, b = pos[_top(world, guilty)], pos[_top(world, innocent)]
    vectors[[a, b]] = vectors[[b, a]]
    forged = FaissIndex(index.dim)
    forged.add(ids, vectors)
    world.ctx.indexes[gallery_id] = (forged, fp)

    _assert_honest(world, world.org.search(("bookings",), (world.probes[guilty],)), guilty)
    [entry] = _entries(world, "index.mismatch", "index.damaged")
    details = json.loads(entry.details)
    assert (entry.kind, entry.subject) == ("index.mismatch", "bookings")
    assert details["disagreed"] >= 1 and details["checked"] >= details["disagreed"]


def test_an_id_with_no_template_in_the_gallery_is_never_shown(world: World) -> None:
    """The guilty person's vector filed under an id the gallery has no template for."""
    guilty = sorted(world.probes)[0]
    index = FaissIndex.load(world.index_file)
    vector = index.vectors(np.array([_top(world, guilty)]))
    index.remove(np.array([_top(world, guilty)]))
    index.add(np.array([10_000_000]), vector)
    world.index_file.write_bytes(index.to_bytes())
    _reseal(world)

    _assert_honest(world, _search_fresh(world, guilty), guilty)
    [entry] = _entries(world, "index.mismatch", "index.damaged")
    assert json.loads(entry.details)["reason"] == "seal"


def test_index_check_finds_a_hidden_person(world: World) -> None:
    """An edit that hides someone (their vector replaced with noise, metadata re-hashed)
    returns only true scores, so a search's rescoring cannot see it; the seal can, and so
    can ``index check`` (on the service's schedule), which also compares every vector."""
    guilty = sorted(world.probes)[0]
    index = FaissIndex.load(world.index_file)
    noise = np.random.default_rng(1).standard_normal((1, index.dim)).astype(np.float32)
    index.remove(np.array([_top(world, guilty)]))
    index.add(np.array([_top(world, guilty)]), noise / np.linalg.norm(noise))
    world.index_file.write_bytes(index.to_bytes())
    _reseal(world)

    [report] = indexing.check_indexes(world.ctx)
    assert (report.gallery, report.rebuilt, report.damage) == ("bookings", True, "seal")
    [entry] = _entries(world, "index.damaged")
    assert json.loads(entry.details)["reason"] == "seal"
    _assert_honest(world, _search_fresh(world, guilty), guilty)


def test_truncated_index_file_is_rebuilt(world: World) -> None:
    data = world.index_file.read_bytes()
    world.index_file.write_bytes(data[: len(data) // 2])
    person = sorted(world.probes)[2]
    _assert_honest(world, _search_fresh(world, person), person)
    [entry] = _entries(world, "index.damaged")
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
    [entry] = _entries(world, "index.damaged")
    assert entry.subject == "bookings"


@pytest.mark.parametrize("which", ["index", "metadata", "both"])
def test_deleted_index_file_is_rebuilt(world: World, which: str) -> None:
    if which in ("index", "both"):
        world.index_file.unlink()
    if which in ("metadata", "both"):
        world.meta_file.unlink()
    person = sorted(world.probes)[0]
    _assert_honest(world, _search_fresh(world, person), person)
    [entry] = _entries(world, "index.damaged")
    assert entry.subject == "bookings"
    assert world.index_file.is_file() and world.meta_file.is_file()
