"""Ingestion as a gallery admin meets it: provenance, summary, duplicates, hostile files,
re-runs, manifests, and search over what was ingested."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from facetrail.errors import (
    FaceIndexError,
    GalleryExistsError,
    GalleryNotFoundError,
    InvalidRequestError,
    ManifestError,
    SourceNotFoundError,
)
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import indexing
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import Image, TemplateRow
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.hostile_corpus import make_hostile_corpus
from tests.org import Org, make_gallery, open_searching

pytestmark = needs_lfw


def test_ingest_then_search_finds_the_mate(app_ctx: AppContext, org: Org, tmp_path: Path) -> None:
    people = lfw_people(6)
    copy_first_images(tmp_path / "in", people)
    make_gallery(org)
    summary = ingest(
        app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county")
    )
    # LFW photos sometimes show a second person in the background: every face is kept.
    assert (summary.images_ingested, summary.images_without_face, summary.failures) == (6, 0, [])
    assert summary.faces >= 6
    info = galleries.show_gallery(app_ctx, "bookings")
    assert (info.images, info.templates, info.sources[0].images) == (6, summary.faces, 6)

    probe = sorted(people[2].glob("*.jpg"))[1]
    open_searching(org, "bookings")
    result = org.search(("bookings",), (ProbeImage(probe.name, probe.read_bytes()),), top=3)
    assert result.candidates[0].image_name.startswith(people[2].name)
    assert result.candidates[0].score > 0.3 > result.candidates[1].score
    assert result.candidates[0].source.legal_basis == "State Code 12-345"
    assert result.candidates[0].crop_jpeg and result.candidates[0].crop_jpeg[:2] == b"\xff\xd8"
    assert "investigative lead" in result.notice
    assert [f.used for f in result.probe_faces].count(True) == 1


def test_rerun_and_duplicates_are_skipped(app_ctx: AppContext, org: Org, tmp_path: Path) -> None:
    files = copy_first_images(tmp_path / "in", lfw_people(4))
    first = next(iter(files.values()))
    shutil.copy(first, tmp_path / "in" / "copy_of_first.jpg")
    make_gallery(org)
    summary = ingest(
        app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county")
    )
    assert (summary.images_ingested, summary.duplicates_skipped) == (4, 1)
    again = ingest(app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county"))
    assert (again.images_ingested, again.already_ingested) == (0, 5)
    with app_ctx.sessions() as s:
        assert s.scalar(select(func.count(Image.id))) == 4


def test_hostile_files_fail_alone_and_the_rest_is_ingested(
    app_ctx: AppContext, org: Org, tmp_path: Path, face_jpeg: bytes
) -> None:
    corpus = tmp_path / "hostile"
    corpus.mkdir()
    expected = make_hostile_corpus(corpus, face_jpeg)
    make_gallery(org)
    summary = ingest(app_ctx, org.people["gus"], IngestRequest(corpus, "bookings", "county"))
    failed = {f.file: f.code for f in summary.failures}
    for name, code in expected.items():
        if code is None:
            assert name not in failed, f"{name} should ingest, failed with {failed.get(name)}"
        else:
            assert failed.get(name) == code, f"{name}: expected {code}, got {failed.get(name)}"
    good = [n for n, c in expected.items() if c is None]
    # Same photo in several formats decodes to near-identical pixels: every good file is an
    # image of its own (distinct bytes), each with the face found.
    assert summary.images_ingested == len(good)
    assert summary.images_without_face == 0
    for f in summary.failures:
        assert f.file in f.message or f.message, "an error must say what failed"


def test_manifest_maps_files_to_subjects(app_ctx: AppContext, org: Org, tmp_path: Path) -> None:
    files = copy_first_images(tmp_path / "in", lfw_people(3))
    manifest = tmp_path / "in" / "manifest.csv"
    rows = [f"{p.name},BK-{i:04d}" for i, p in enumerate(files.values())]
    manifest.write_text("file,subject_ref\n" + "\n".join(rows) + "\n")
    make_gallery(org)
    summary = ingest(
        app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county", manifest)
    )
    assert summary.images_ingested == 3 and not summary.failures
    with app_ctx.sessions() as s:
        refs = sorted(s.scalars(select(Image.subject_ref)))
    assert refs == ["BK-0000", "BK-0001", "BK-0002"]


def test_bad_manifest_and_unknown_names_are_typed_errors(
    app_ctx: AppContext, org: Org, tmp_path: Path
) -> None:
    copy_first_images(tmp_path / "in", lfw_people(1))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ref\nx,y\n")
    make_gallery(org)
    with pytest.raises(ManifestError) as err:
        ingest(
            app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county", bad)
        )
    assert str(bad) in str(err.value)
    missing = tmp_path / "missing.csv"
    missing.write_text("file,subject_ref\nnope.jpg,BK-1\n")
    with pytest.raises(ManifestError, match="line 2"):
        ingest(
            app_ctx,
            org.people["gus"],
            IngestRequest(tmp_path / "in", "bookings", "county", missing),
        )
    with pytest.raises(GalleryNotFoundError):
        ingest(app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "nope", "county"))
    with pytest.raises(SourceNotFoundError):
        ingest(app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "nope"))
    with pytest.raises(GalleryExistsError):
        galleries.create_gallery(
            app_ctx, org.people["gus"], galleries.CreateGalleryRequest("bookings")
        )
    with pytest.raises(InvalidRequestError, match="collected_at"):
        galleries.add_source(
            app_ctx,
            org.people["gus"],
            galleries.CreateSourceRequest("bookings", "x", "k", "l", "s", "15/01/2026", 10),
        )
    with app_ctx.sessions() as s:
        assert s.scalar(select(func.count(Image.id))) == 0


def test_index_is_derived_and_repaired(app_ctx: AppContext, org: Org, tmp_path: Path) -> None:
    copy_first_images(tmp_path / "in", lfw_people(5))
    make_gallery(org)
    ingest(app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county"))
    for f in (app_ctx.settings.index_dir).iterdir():
        f.unlink()
    app_ctx.indexes.clear()
    with app_ctx.sessions() as s:
        total = s.scalar(select(func.count(TemplateRow.id)))
    report = indexing.check_index(app_ctx, "bookings")
    assert (report.entries, report.rebuilt) == (total, True)
    # A template the index lacks (as after a crash between commit and index save) is added.
    with app_ctx.transaction() as s:
        row = s.scalars(select(TemplateRow)).first()
        assert row is not None
        s.add(
            TemplateRow(
                face_id=row.face_id,
                gallery_id=row.gallery_id,
                pack=row.pack,
                kind="plain-copy",
                dim=row.dim,
                vector=row.vector,
            )
        )
    with app_ctx.transaction() as s:
        s.delete(s.scalars(select(TemplateRow).where(TemplateRow.kind == "plain")).first())
    app_ctx.indexes.clear()
    report = indexing.check_index(app_ctx, "bookings")
    assert (report.entries, report.removed) == (total - 1, 1)
    assert indexing.rebuild_index(app_ctx, org.people["gus"], "bookings").entries == total - 1


def test_sface_gallery_keeps_its_own_pack(app_ctx: AppContext, org: Org, tmp_path: Path) -> None:
    people = lfw_people(3)
    copy_first_images(tmp_path / "in", people)
    make_gallery(org, "clean", pack="sface")
    ingest(app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "clean", "county"))
    with app_ctx.sessions() as s:
        assert set(s.scalars(select(TemplateRow.dim))) == {128}
        assert set(s.scalars(select(TemplateRow.pack))) == {"sface"}
    probe = sorted(people[0].glob("*.jpg"))[1]
    open_searching(org, "clean")
    result = org.search(("clean",), (ProbeImage(probe.name, probe.read_bytes()),), top=2)
    assert result.produced_by["clean"].pack == "sface" and result.candidates[
        0
    ].image_name.startswith(people[0].name)


def test_side_files_are_skipped_but_misnamed_ones_fail(
    app_ctx: AppContext, org: Org, tmp_path: Path
) -> None:
    copy_first_images(tmp_path / "in", lfw_people(2))
    (tmp_path / "in" / "labels.csv").write_text("identity\nx\n")
    (tmp_path / "in" / "README.txt").write_text("notes")
    (tmp_path / "in" / "notes.jpg").write_text("not a photo")
    make_gallery(org)
    summary = ingest(
        app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county")
    )
    assert (summary.images_ingested, summary.side_files_skipped) == (2, 2)
    assert [(f.file, f.code) for f in summary.failures] == [("notes.jpg", "image_not_an_image")]


def test_fused_probes_and_face_choice(app_ctx: AppContext, org: Org, tmp_path: Path) -> None:
    people = lfw_people(5, min_images=3)
    copy_first_images(tmp_path / "in", people)
    make_gallery(org)
    ingest(app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county"))
    probes = tuple(ProbeImage(p.name, p.read_bytes()) for p in sorted(people[3].glob("*.jpg"))[1:3])
    open_searching(org, "bookings")
    org.set_policy(daily_limit=50)
    fused = org.search(("bookings",), probes, top=2)
    single = org.search(("bookings",), probes[:1], top=2)
    assert fused.fused_probes == 2
    assert fused.candidates[0].image_name.startswith(people[3].name)
    assert sum(f.used for f in fused.probe_faces) == 2
    # Fusion averages templates: the fused score lies near the mean of the two single scores.
    other = org.search(("bookings",), probes[1:], top=2)
    mean = (single.candidates[0].score + other.candidates[0].score) / 2
    assert fused.candidates[0].score >= mean - 1e-4
    with pytest.raises(FaceIndexError, match="face 7"):
        org.search(("bookings",), probes[:1], face=7)
    with pytest.raises(InvalidRequestError):
        org.search(("bookings",), ())


def test_a_warm_worker_reads_one_row_per_search_and_sees_another_workers_ingest(
    app_ctx: AppContext, org: Org, tmp_path: Path
) -> None:
    """Each ingest bumps the gallery's templates version in its own transaction; a worker
    whose cached index was reconciled at the current version uses it after one row read (no
    count over the templates), and one whose version is behind reconciles with the store."""
    from facetrail.config import Settings
    from facetrail.store.schema import Gallery

    people = lfw_people(6)
    copy_first_images(tmp_path / "a", people[:3])
    copy_first_images(tmp_path / "b", people[3:])
    make_gallery(org)
    gus = org.people["gus"]
    ingest(app_ctx, gus, IngestRequest(tmp_path / "a", "bookings", "county"))

    def version_and_count(ctx: AppContext) -> tuple[int, int]:
        with ctx.sessions() as s:
            gallery = s.scalars(select(Gallery).where(Gallery.name == "bookings")).one()
            index, _ = indexing.open_index(ctx, s, gallery)
            return gallery.templates_version, len(index)

    statements: list[str] = []
    event.listen(app_ctx.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    version, count = version_and_count(app_ctx)
    statements.clear()
    assert version_and_count(app_ctx) == (version, count)
    assert not any("count(" in s.lower() for s in statements), statements  # one row read

    other = AppContext.open(Settings(home=app_ctx.settings.home, threads=1))  # another worker
    try:
        ingest(other, gus, IngestRequest(tmp_path / "b", "bookings", "county"))
    finally:
        other.close()
    with app_ctx.sessions() as s:
        stored = int(s.scalar(select(func.count(TemplateRow.id))) or 0)
    newer, seen = version_and_count(app_ctx)
    assert newer == version + 1 and seen == stored > count


def test_an_admin_suspended_mid_ingest_stops_at_the_next_batch(
    app_ctx: AppContext, org: Org, tmp_path: Path
) -> None:
    """Each batch is one action that re-reads its admin under the lock (issue 21, section 6):
    suspended while an ingest runs, they commit nothing more; what was committed stands."""
    from facetrail.errors import AccountInactiveError
    from facetrail.services.accounts import suspend_account
    from facetrail.store.schema import AuditEntryRow

    copy_first_images(tmp_path / "in", lfw_people(18))  # analysed in chunks of 16
    make_gallery(org)
    calls: list[int] = []

    def progress(done: int, _total: int) -> None:
        calls.append(done)
        if len(calls) == 2:  # the first is before any file is read; this one follows a batch
            suspend_account(app_ctx, org.people["root"], "gus", "left the unit")

    request = IngestRequest(tmp_path / "in", "bookings", "county", batch_size=2)
    with pytest.raises(AccountInactiveError, match="suspended"):
        ingest(app_ctx, org.people["gus"], request, progress)
    with app_ctx.sessions() as s:
        assert s.scalar(select(func.count(Image.id))) == 16
        refused = s.scalars(
            select(AuditEntryRow.subject).where(AuditEntryRow.kind == "gallery.ingest.refused")
        ).all()
    assert refused == ["bookings/county"]
