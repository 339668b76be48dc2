"""A full blob disk (a real tmpfs, filled) as the API's clients and browsers meet it: a search
whose probe cannot be kept is a 507 ``storage_full`` problem naming what could not be written,
with no traceback anywhere and the refusal audited; a search whose probe is stored already,
and every read, still answer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.api.conftest import made_world
from tests.conftest import lfw_people, needs_lfw
from tests.full_disk import fill, free, tmpfs
from tests.org import CASE, JUSTIFICATION, OFFENSE

pytestmark = needs_lfw


def _form(probe: bytes) -> dict[str, object]:
    data = {
        "case_number": CASE,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": ["bookings"],
    }
    return {"data": data, "files": [("probes", ("probe.jpg", probe, "image/jpeg"))]}


def test_a_full_disk_is_a_507_problem_and_reads_still_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(tmp_path / "home" / "blobs", "4m") as blobs, made_world(tmp_path) as world:
        bearer = world.as_("ivy")
        kept = next(iter(world.photos.values())).read_bytes()
        new = sorted(lfw_people(6)[5].glob("*.jpg"))[0].read_bytes()
        fill(blobs)
        with world.ctx.sessions() as s:
            searches = s.scalar(select(func.count(SearchRecord.id)))

        with caplog.at_level(logging.INFO):
            refused = world.client.post("/api/v1/searches", headers=bearer, **_form(new))  # type: ignore[arg-type]
        assert refused.status_code == 507, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        body = refused.json()
        assert body["code"] == "storage_full" and "nothing was stored" in body["detail"]
        assert "Traceback" not in refused.text
        assert "Traceback" not in caplog.text
        with world.ctx.sessions() as s:
            assert s.scalar(select(func.count(SearchRecord.id))) == searches
            refusal = s.scalars(
                select(AuditEntryRow)
                .where(AuditEntryRow.kind == "search.refused")
                .order_by(AuditEntryRow.seq.desc())
            ).first()
        assert refusal is not None and '"storage_full"' in refusal.details

        answered = world.client.post("/api/v1/searches", headers=bearer, **_form(kept))  # type: ignore[arg-type]
        assert answered.status_code == 201, answered.text
        assert world.client.get("/api/v1/searches", headers=bearer).status_code == 200
        free(blobs)
        again = world.client.post("/api/v1/searches", headers=bearer, **_form(new))  # type: ignore[arg-type]
        assert again.status_code == 201, again.text
