"""A full disk, for real (a small tmpfs filled to its last byte), under the blob store, the
index folder or the database: whatever could not be written is a typed ``storage_full``
refusal, audited where there is room for it; nothing is half-written (counts unchanged, no
temporary files left, the log verifies); what is stored still answers; and once there is room
again the same ingest succeeds."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from facetrail.config import Settings
from facetrail.errors import StorageFullError
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import indexing
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, Image, IngestFailure, TemplateRow
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.full_disk import fill, free, tmpfs
from tests.org import Org, make_gallery, make_org, open_searching

pytestmark = needs_lfw


def _counts(ctx: AppContext) -> tuple[int, int, int]:
    with ctx.sessions() as s:
        return (
            s.scalar(select(func.count(Image.id))) or 0,
            s.scalar(select(func.count(TemplateRow.id))) or 0,
            s.scalar(select(func.count(IngestFailure.id))) or 0,
        )


def _verified(ctx: AppContext) -> None:
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    assert report.ok, report.problem


def _last_refusal(ctx: AppContext) -> AuditEntryRow | None:
    with ctx.sessions() as s:
        return s.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.kind == "gallery.ingest.refused")
            .order_by(AuditEntryRow.seq.desc())
        ).first()


def _temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file() and p.name != ".filler"]


def _two_folders(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    people = lfw_people(8)
    copy_first_images(tmp_path / "first", people[:4])
    copy_first_images(tmp_path / "second", people[4:])
    return tmp_path / "first", tmp_path / "second", people


def test_a_full_blob_disk_refuses_the_ingest_and_keeps_everything_else(
    app_ctx: AppContext, org: Org, tmp_path: Path
) -> None:
    first, second, people = _two_folders(tmp_path)
    make_gallery(org)
    open_searching(org, "bookings")
    gus = org.people["gus"]
    with tmpfs(app_ctx.settings.blob_dir, "4m") as blobs:
        ingest(app_ctx, gus, IngestRequest(first, "bookings", "county"))
        before = _counts(app_ctx)
        fill(blobs)

        with pytest.raises(StorageFullError) as refused:
            ingest(app_ctx, gus, IngestRequest(second, "bookings", "county"))
        assert refused.value.code == "storage_full"
        assert "nothing was stored" in refused.value.message
        assert str(blobs) in (refused.value.subject or "")
        entry = _last_refusal(app_ctx)
        assert entry is not None and '"storage_full"' in entry.details
        # Nothing half-written: no rows, no failures held against the photos, no temp files.
        assert _counts(app_ctx) == before
        assert _temporary_files(blobs) == []
        _verified(app_ctx)

        # What is stored still answers: a probe already kept searches; a new one cannot be
        # kept (every search keeps its probe), so that search is refused the same way.
        kept = next(first.iterdir())
        result = org.search(("bookings",), (ProbeImage(kept.name, kept.read_bytes()),))
        assert result.candidates and result.candidates[0].score > 0.99
        new_probe = sorted(people[1].glob("*.jpg"))[1]
        with pytest.raises(StorageFullError):
            org.search(("bookings",), (ProbeImage(new_probe.name, new_probe.read_bytes()),))
        assert galleries.show_gallery(app_ctx, "bookings").images == before[0]
        _verified(app_ctx)

        free(blobs)
        summary = ingest(app_ctx, gus, IngestRequest(second, "bookings", "county"))
        assert (summary.images_ingested, summary.already_ingested, summary.failures) == (4, 0, [])
        assert _counts(app_ctx)[0] == before[0] + 4
        _verified(app_ctx)


def test_a_full_index_disk_keeps_the_old_index_and_searches_still_answer(
    app_ctx: AppContext, org: Org, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, people = _two_folders(tmp_path)
    make_gallery(org)
    open_searching(org, "bookings")
    gus = org.people["gus"]
    with tmpfs(app_ctx.settings.index_dir, "4m") as folder:
        ingest(app_ctx, gus, IngestRequest(first, "bookings", "county"))
        old = {p.name: p.read_bytes() for p in folder.iterdir()}
        fill(folder)
        # The database is the truth, the index derived: the ingest is committed, the index
        # kept in memory and said in one log line; the old pair of files stays whole.
        with caplog.at_level(logging.WARNING, "facetrail.index"):
            summary = ingest(app_ctx, gus, IngestRequest(second, "bookings", "county"))
        assert summary.images_ingested == 4
        assert any("not saved" in r.getMessage() for r in caplog.records)
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".filler"} == old
        assert _temporary_files(folder) == []
        probe = sorted(people[5].glob("*.jpg"))[0]
        result = org.search(("bookings",), (ProbeImage(probe.name, probe.read_bytes()),))
        assert result.candidates[0].image_name.startswith(people[5].name)
        _verified(app_ctx)

        # Another process opens the old file: sealed, whole, and reconciled with the store.
        other = AppContext.open(app_ctx.settings)
        try:
            report = indexing.check_index(other, "bookings")
        finally:
            other.close()
        assert (report.damage, report.entries) == (None, _counts(app_ctx)[1])
        free(folder)


@pytest.mark.one_backend  # the SQLite file on a disk of its own; PostgreSQL: store/db.py
def test_a_full_database_disk_refuses_the_write_and_reads_still_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, _ = _two_folders(tmp_path)
    with tmpfs(tmp_path / "db", "24m") as disk:
        settings = Settings(
            home=tmp_path / "home", database_url=f"sqlite:///{disk}/facetrail.db", threads=1
        )
        ctx = AppContext.open(settings)
        try:
            org = make_org(ctx)
            make_gallery(org)
            open_searching(org, "bookings")
            gus = org.people["gus"]
            ingest(ctx, gus, IngestRequest(first, "bookings", "county"))
            before = _counts(ctx)
            with ctx.engine.connect() as connection:  # the WAL emptied: every write needs room
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            fill(disk)

            with pytest.raises(StorageFullError) as refused:
                ingest(ctx, gus, IngestRequest(second, "bookings", "county"))
            assert refused.value.subject == "database"
            assert "nothing was stored" in refused.value.message
            assert _counts(ctx) == before
            assert galleries.show_gallery(ctx, "bookings").images == before[0]
            assert [
                p for p in disk.iterdir() if p.name.startswith(".") and p.name != ".filler"
            ] == []

            free(disk)
            _verified(ctx)
            summary = ingest(ctx, gus, IngestRequest(second, "bookings", "county"))
            assert summary.images_ingested == 4
            assert _counts(ctx)[0] == before[0] + 4
            _verified(ctx)
        finally:
            ctx.close()
