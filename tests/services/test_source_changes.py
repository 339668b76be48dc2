"""A source's provenance corrected and a source retired, as a gallery admin does it: each
change checked as a new source's values are, recorded with its before, after and reason;
a retired source takes no more photos (a new ingest and one already running stop), keeps
those it has, and says who retired it; both are refused to other roles and recorded; the
retirement's row is sealed like any other, so an insider who deletes it is found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from facetrail.errors import InvalidRequestError, PermissionDeniedError, StateError
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import jobs, sources
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.store.schema import AuditEntryRow, Image, SourceRetirement
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery


def _entries(org: Org, kind: str) -> list[dict[str, object]]:
    with org.ctx.sessions() as s:
        rows = s.scalars(
            select(AuditEntryRow).where(AuditEntryRow.kind == kind).order_by(AuditEntryRow.seq)
        )
        return [{"actor": r.actor, "subject": r.subject, **json.loads(r.details)} for r in rows]


def _edit(**values: object) -> sources.EditSourceRequest:
    return sources.EditSourceRequest(
        "bookings", "county", str(values.pop("reason", "the agreement was renewed")), **values
    )  # type: ignore[arg-type]


def test_an_edit_records_each_change_before_and_after_with_its_reason(org: Org) -> None:
    make_gallery(org)
    gus = org.people["gus"]
    edit = sources.edit_source(
        org.ctx,
        gus,
        _edit(legal_basis="State Code 12-345 as amended 2026", retention_days=1825, kind=None),
    )
    assert {f: (c.before, c.after) for f, c in edit.changes.items()} == {
        "legal_basis": ("State Code 12-345", "State Code 12-345 as amended 2026"),
        "retention_days": (3650, 1825),
    }
    shown = galleries.show_gallery(org.ctx, "bookings").sources[0]
    assert (shown.legal_basis, shown.retention_days, shown.kind) == (
        "State Code 12-345 as amended 2026",
        1825,
        "booking photographs",
    )
    [entry] = _entries(org, "gallery.source.edit")
    assert entry["actor"] == "gus" and entry["subject"] == "bookings/county"
    assert entry["reason"] == "the agreement was renewed"
    assert entry["changes"] == {
        "legal_basis": {
            "before": "State Code 12-345",
            "after": "State Code 12-345 as amended 2026",
        },
        "retention_days": {"before": 3650, "after": 1825},
    }


@pytest.mark.parametrize(
    ("values", "subject", "words"),
    [
        ({"collected_at": "2999-01-01"}, "collected_at", "is in the future"),
        ({"collected_at": "last week"}, "collected_at", "is not a date"),
        ({"retention_days": 0}, "retention_days", "whole number of days"),
        ({"retention_days": 40000}, "retention_days", "whole number of days"),
        ({"reason": "renewed"}, "reason", "at least 10 characters"),
        ({"kind": "booking photographs"}, "source", "nothing to change"),
        ({"legal_basis": ""}, "legal basis", ""),
    ],
)
def test_a_bad_edit_is_refused_in_words_and_nothing_changes(
    org: Org, values: dict[str, object], subject: str, words: str
) -> None:
    make_gallery(org)
    with pytest.raises(InvalidRequestError) as refused:
        sources.edit_source(org.ctx, org.people["gus"], _edit(**values))
    assert refused.value.subject == subject and words in refused.value.message
    shown = galleries.show_gallery(org.ctx, "bookings").sources[0]
    assert (shown.collected_at, shown.retention_days) == ("2026-01-15", 3650)
    assert len(_entries(org, "gallery.source.edit.refused")) == 1
    assert _entries(org, "gallery.source.edit") == []


@needs_lfw
def test_a_retired_source_takes_no_more_photos_and_keeps_those_it_has(
    org: Org, tmp_path: Path
) -> None:
    make_gallery(org)
    gus = org.people["gus"]
    people = lfw_people(4)
    copy_first_images(tmp_path / "first", people[:2])
    ingest(org.ctx, gus, IngestRequest(tmp_path / "first", "bookings", "county", workers=1))

    retired = sources.retire_source(
        org.ctx, gus, "bookings", "county", "the supply agreement ended in November"
    )
    assert retired.retired is not None and retired.retired.by == "gus"
    assert retired.images == 2
    [entry] = _entries(org, "gallery.source.retire")
    assert entry["images"] == 2 and entry["reason"] == "the supply agreement ended in November"

    copy_first_images(tmp_path / "second", people[2:])
    with pytest.raises(StateError, match=r"was retired on .* by gus: nothing more is ingested"):
        ingest(org.ctx, gus, IngestRequest(tmp_path / "second", "bookings", "county", workers=1))
    with pytest.raises(StateError, match="retired"):
        jobs.submit_ingest(
            org.ctx, gus, jobs.IngestJobRequest("bookings", "county", str(tmp_path / "second"))
        )
    assert len(_entries(org, "gallery.ingest.refused")) == 1
    assert len(_entries(org, "job.submit.refused")) == 1
    with org.ctx.sessions() as s:
        assert len(s.scalars(select(Image.id)).all()) == 2  # kept, none added

    with pytest.raises(StateError, match="retired"):
        sources.retire_source(org.ctx, gus, "bookings", "county", "and again, to be sure")
    # Its provenance can still be corrected.
    sources.edit_source(org.ctx, gus, _edit(supplied_by="County Sheriff's Office"))


@needs_lfw
def test_an_ingest_running_when_its_source_is_retired_stops_at_its_next_batch(
    org: Org, tmp_path: Path
) -> None:
    make_gallery(org)
    gus = org.people["gus"]
    copy_first_images(tmp_path / "in", lfw_people(6))
    calls = 0

    def progress(_done: int, _total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # the files are listed, none is analysed yet: retire the source now
            sources.retire_source(org.ctx, gus, "bookings", "county", "retired mid-ingest")

    request = IngestRequest(tmp_path / "in", "bookings", "county", workers=1, batch_size=2)
    with pytest.raises(StateError, match="retired"):
        ingest(org.ctx, gus, request, progress)
    with org.ctx.sessions() as s:
        assert s.scalars(select(Image.id)).all() == []
    assert len(_entries(org, "gallery.ingest.refused")) == 1


def test_other_roles_may_not_change_or_retire_a_source(org: Org) -> None:
    make_gallery(org)
    ivy = org.people["ivy"]
    with pytest.raises(PermissionDeniedError):
        sources.edit_source(org.ctx, ivy, _edit(kind="anything at all"))
    with pytest.raises(PermissionDeniedError):
        sources.retire_source(org.ctx, ivy, "bookings", "county", "I would like it gone")
    assert [e["actor"] for e in _entries(org, "gallery.source.edit.refused")] == ["ivy"]
    assert [e["actor"] for e in _entries(org, "gallery.source.retire.refused")] == ["ivy"]
    assert galleries.show_gallery(org.ctx, "bookings").sources[0].retired is None


def test_a_retirement_deleted_behind_facetrails_back_is_found(org: Org) -> None:
    make_gallery(org)
    sources.retire_source(org.ctx, org.people["gus"], "bookings", "county", "ended in 2026")
    with org.ctx.sessions() as s:
        assert verify_log(s, audit.public_key(org.ctx)).ok
    with org.ctx.sessions() as s, s.begin():  # an insider brings the source back
        s.execute(delete(SourceRetirement))
    with org.ctx.sessions() as s:
        report = verify_log(s, audit.public_key(org.ctx))
    assert not report.ok
    assert [(r.table, r.how) for r in report.rows] == [("source_retirements", "missing")]
