"""An insider who can write the home's files replaces a stored photo (a gallery image, a
search's probe) with another person's: the database and the log are untouched, so the rows'
seals all agree. A blob is its name's content or nothing: the product refuses to show,
search or match bytes that do not hash to the name they are stored under, and records the
refusal. Seen failing on 7b69e17: the candidate's crop showed the other person's face, and an
approved search ran on a probe the supervisor never saw.
"""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from facetrail.errors import BlobMismatchError
from facetrail.governance.policy import ApprovalMode
from facetrail.services.context import AppContext
from facetrail.services.searching import results
from facetrail.services.searching.search import decide_search
from facetrail.store.blobs import BlobStore
from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.conftest import lfw_people, needs_lfw
from tests.org import Org

pytestmark = needs_lfw


def _refusals(ctx: AppContext, kind: str) -> list[dict[str, object]]:
    with ctx.sessions() as session:
        found = session.scalars(select(AuditEntryRow.details).where(AuditEntryRow.kind == kind))
        return [json.loads(d) for d in found]


def _replace(ctx: AppContext, sha: str, data: bytes) -> None:
    """The insider overwrites the blob's file with other bytes."""
    path = ctx.blobs.path(sha)
    path.chmod(0o600)
    path.write_bytes(data)


def _other_photo() -> bytes:
    return sorted(lfw_people(6)[5].glob("*.jpg"))[0].read_bytes()


def test_a_replaced_gallery_photo_is_never_shown(world) -> None:  # type: ignore[no-untyped-def]
    org: Org
    org, search_id, _probe = world
    ivy = org.people["ivy"]
    shown = results.load_result(org.ctx, ivy, search_id, include_crops=False)
    candidate = shown.candidates[0]
    _replace(org.ctx, candidate.image_sha256, _other_photo())
    with pytest.raises(BlobMismatchError):
        results.candidate_crop(org.ctx, ivy, candidate.id)
    with pytest.raises(BlobMismatchError):
        results.candidate_image(org.ctx, ivy, candidate.id)
    with pytest.raises(BlobMismatchError):
        results.load_result(org.ctx, ivy, search_id, include_crops=True)
    codes = [
        d["code"]
        for k in ("search.crop_view", "search.source_view", "search.view")
        for d in _refusals(org.ctx, f"{k}.refused")
    ]
    assert codes == ["record_tampered"] * 3


def test_an_approved_search_never_runs_on_a_probe_replaced_since(world) -> None:  # type: ignore[no-untyped-def]
    org: Org
    org, _sid, probe = world
    org.set_policy(galleries=("bookings",), approval=ApprovalMode.ALWAYS, second_reviewer=True)
    pending = org.search(("bookings",), probe)
    assert pending.status == "pending"
    with org.ctx.sessions() as session:
        record = session.get(SearchRecord, pending.search_id)
        assert record is not None
        sha = json.loads(record.probes)[0]["sha256"]
    _replace(org.ctx, sha, _other_photo())
    with pytest.raises(BlobMismatchError):
        decide_search(org.ctx, org.people["sam"], pending.search_id, True, "checked the probe")
    with org.ctx.sessions() as session:
        record = session.get(SearchRecord, pending.search_id)
        assert record is not None and record.status != "done"
    assert [d["code"] for d in _refusals(org.ctx, "search.run.refused")] == ["record_tampered"]


def test_a_planted_file_is_replaced_by_the_photo_it_is_named_for(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blobs = BlobStore(tmp_path / "blobs")
    photo = _other_photo()
    sha = blobs.put(photo)
    shutil.rmtree(tmp_path / "blobs")
    planted = blobs.path(sha)
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"someone else")  # planted before the photo is stored
    assert blobs.put(photo) == sha
    assert blobs.get(sha) == photo
