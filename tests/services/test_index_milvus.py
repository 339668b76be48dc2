"""FACETRAIL_INDEX_URL puts every gallery's index in Milvus (here milvus-lite, in a file of the
test's own): a gallery ingested and searched through the services answers with the candidates
the FAISS files give, nothing is written to the home, an erased template is answered neither
by id nor by its own vector, and a vector edited inside Milvus is caught by the search that
meets it (``index.mismatch``, the collection refilled) and by the full check. A value that is
neither a .db path nor an http(s) address is refused before anything starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.errors import SettingError
from facetrail.index.milvus_index import MilvusIndex
from facetrail.services.context import AppContext
from facetrail.services.galleries import indexing
from facetrail.services.galleries._index_milvus import collection_name
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching.search import ProbeImage, SearchResult
from facetrail.store.schema import AuditEntryRow, IndexSeal, TemplateRow
from tests.conftest import REPO_ROOT, copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery, make_org, open_searching


@dataclass
class World:
    org: Org
    people: list[Path]
    #: FACETRAIL_INDEX_URL: the milvus-lite file
    url: str


@pytest.fixture()
def on_milvus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A 'bookings' gallery of five LFW people (each booked under their name), ingested with
    FACETRAIL_INDEX_URL naming a milvus-lite file; the county may search it."""
    url = str(tmp_path / "milvus.db")
    monkeypatch.setenv("FACETRAIL_INDEX_URL", url)
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    try:
        org = make_org(ctx)
        people = lfw_people(5)
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
        yield World(org, people, url)
    finally:
        ctx.close()


def _probe(person: Path) -> ProbeImage:
    second = sorted(person.glob("*.jpg"))[1]
    return ProbeImage(second.name, second.read_bytes())


def _search(org: Org, person: Path) -> SearchResult:
    result = org.search(("bookings",), (_probe(person),))
    assert result.status == "done"
    return result


def _ranked(result: SearchResult) -> list[tuple[int, float]]:
    return [(c.template_id, c.score) for c in result.candidates]


def _stored(org: Org, template_id: int) -> np.ndarray:
    with org.ctx.sessions() as s:
        vector = s.scalar(select(TemplateRow.vector).where(TemplateRow.id == template_id))
    assert vector is not None
    return np.frombuffer(vector, np.float32)


def _outside(w: World) -> MilvusIndex:
    """The gallery's collection as anyone who can reach the Milvus store opens it."""
    with w.org.ctx.sessions() as s:
        gallery = indexing.get_gallery_row(s, "bookings")
        return MilvusIndex.open(
            w.url, collection_name(gallery), indexing.dim_of(w.org.ctx, gallery)
        )


def _last_seq(org: Org) -> int:
    with org.ctx.sessions() as s:
        return int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)


def _entries_after(org: Org, seq: int, kind: str) -> list[dict[str, Any]]:
    with org.ctx.sessions() as s:
        rows = s.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.kind == kind, AuditEntryRow.seq > seq)
        )
        return [json.loads(d) for d in rows]


@needs_lfw
def test_a_gallery_on_milvus_answers_as_the_faiss_files_do(
    on_milvus: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = on_milvus
    on_milvus_answers = {}
    for person in w.people:
        result = _search(w.org, person)
        assert result.candidates[0].subject_ref == person.name
        assert result.produced_by["bookings"].index.startswith("milvus-lite-")
        on_milvus_answers[person.name] = _ranked(result)
    # Milvus holds the index: no file in the home, no seal, no index.write entry.
    assert not w.org.ctx.settings.index_dir.exists() or not any(
        w.org.ctx.settings.index_dir.iterdir()
    )
    with w.org.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(IndexSeal)) == 0
    assert _entries_after(w.org, 0, "index.write") == []
    # The same home with FACETRAIL_INDEX_URL unset: FAISS files, the same answers.
    monkeypatch.delenv("FACETRAIL_INDEX_URL")
    on_files = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    try:
        faiss_org = Org(on_files, w.org.enrolments, w.org.people)
        for person in w.people:
            result = _search(faiss_org, person)
            assert not result.produced_by["bookings"].index.startswith("milvus")
            assert _ranked(result) == on_milvus_answers[person.name]
    finally:
        on_files.close()


@needs_lfw
def test_an_erased_template_is_answered_neither_by_id_nor_by_its_vector(
    on_milvus: World,
) -> None:
    w = on_milvus
    erased = _search(w.org, w.people[0]).candidates[0].template_id
    vector = _stored(w.org, erased)
    with w.org.ctx.transaction() as s:  # as an erasure's purge deletes it
        s.delete(s.get(TemplateRow, erased))
    with w.org.ctx.sessions() as s:
        gallery = indexing.get_gallery_row(s, "bookings")
        entries = indexing.rewrite_index(w.org.ctx, s, gallery)
    with _outside(w) as collection:
        assert erased not in collection.ids() and len(collection) == entries
        _, found = collection.search(vector[None], 10)
        assert erased not in found
    assert erased not in [tid for tid, _ in _ranked(_search(w.org, w.people[0]))]
    assert indexing.check_index(w.org.ctx, "bookings").disagreed == 0


@needs_lfw
def test_a_vector_edited_inside_milvus_is_caught_and_the_collection_refilled(
    on_milvus: World,
) -> None:
    w = on_milvus
    honest = _search(w.org, w.people[0])
    mate, other = honest.candidates[0].template_id, honest.candidates[1].template_id
    with _outside(w) as collection:  # the mate's face under another person's id
        collection.add(np.array([other], np.int64), _stored(w.org, mate)[None])
    seq = _last_seq(w.org)
    assert _ranked(_search(w.org, w.people[0])) == _ranked(honest)
    [mismatch] = _entries_after(w.org, seq, "index.mismatch")
    assert mismatch["disagreed"] >= 1 and mismatch["index"].startswith("milvus-lite-")
    with _outside(w) as collection:
        assert np.array_equal(collection.vectors(np.array([other]))[0], _stored(w.org, other))
        # An edit no search has met yet: found by the full check, and refilled.
        third = honest.candidates[2].template_id
        collection.add(np.array([third], np.int64), -_stored(w.org, third)[None])
    report = indexing.check_index(w.org.ctx, "bookings")
    assert (report.disagreed, report.rebuilt) == (1, True)
    assert report.description.startswith("milvus-lite-")
    rebuilt = indexing.rebuild_index(w.org.ctx, w.org.people["gus"], "bookings")
    assert rebuilt.entries == report.entries
    assert indexing.check_index(w.org.ctx, "bookings").disagreed == 0


@pytest.mark.database_free
@pytest.mark.parametrize("value", ["milvus://host:19530", "http://", "host:19530", "/srv/index"])
def test_an_index_url_facetrail_cannot_use_is_refused_by_name(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACETRAIL_INDEX_URL", value)
    with pytest.raises(SettingError) as refused:
        Settings()
    assert refused.value.code == "setting_invalid"
    assert refused.value.subject == "FACETRAIL_INDEX_URL"
    assert ".db" in refused.value.message and "http://host:port" in refused.value.message


@pytest.mark.database_free
@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("", None),
        (" ", None),
        ("/srv/milvus.db", "/srv/milvus.db"),
        ("https://milvus:19530", "https://milvus:19530"),
    ],
)
def test_an_index_url_facetrail_can_use_is_kept(
    value: str, kept: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACETRAIL_INDEX_URL", value)
    assert Settings().index_url == kept


@pytest.mark.database_free
def test_the_cli_refuses_to_start_with_an_unusable_index_url(tmp_path: Path) -> None:
    env = {**os.environ, "FACETRAIL_HOME": str(tmp_path), "FACETRAIL_INDEX_URL": "tcp://m:1"}
    done = subprocess.run(
        [sys.executable, "-m", "facetrail", "gallery", "list"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "[setting_invalid] FACETRAIL_INDEX_URL" in " ".join(done.stderr.split())
