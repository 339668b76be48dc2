"""Issue 23: a gallery above ``exact_index_up_to`` templates is searched through an inverted
file of 8-bit codes (``index.choose``), chosen by its size as it grows, with the same genuine
mates found, the index named with its parameters in every result, and its integrity checked
code by code. The threshold is set low here so that a few real faces cross it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facetrail.config import Settings
from facetrail.index.base import VectorIndex
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.ivf_index import IvfIndex
from facetrail.services.context import AppContext
from facetrail.services.galleries import indexing
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching.search import ProbeImage
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
