"""Erasure on request, end to end (issue 14): a person enrolled with several photos across two
galleries and returned by an earlier search is erased. Afterwards no image, face, template,
index entry, crop or blob of theirs remains; their template bytes are in neither the database
files nor the index files; the earlier search keeps a tombstone; the signed receipt verifies
offline with the public key alone. With consent, re-ingesting their photos is refused and they
are kept out of results; without it, nothing of theirs is kept and re-ingesting is accepted."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from facetrail.config import Settings
from facetrail.errors import (
    AuditInputError,
    ErasedError,
    PermissionDeniedError,
    RecordMismatchError,
    StateError,
)
from facetrail.governance.checkpoints import load_vkey
from facetrail.governance.policy import ApprovalMode
from facetrail.governance.receipts import open_receipt
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.galleries._index_files import files_of as _files
from facetrail.services.galleries.indexing import open_index
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.rights.erasure import (
    ErasureRequest,
    approve_erasure,
    cancel_erasure,
    complete_erasure,
    decide_matches,
    open_erasure,
)
from facetrail.services.rights.legal_holds import decide_hold, list_holds
from facetrail.services.searching import results
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import (
    AuditEntryRow,
    BlocklistEntry,
    ErasureMatch,
    ErasureRow,
    Face,
    Gallery,
    Image,
    TemplateRow,
)
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import make_gallery, make_org

pytestmark = needs_lfw


def _photos(person: Path) -> list[Path]:
    return sorted(person.glob("*.jpg"))


@pytest.fixture()
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    """'bookings' and 'dmv', each with first photos of five other people; the person (four
    photos) has photos 1 and 2 in bookings and photo 3 in dmv; the county searches both."""
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    org = make_org(ctx)
    people = [p for p in lfw_people(40, min_images=4)]
    person, others = people[0], people[1:11]
    for name, crowd, mine in (
        ("bookings", others[:5], _photos(person)[:2]),
        ("dmv", others[5:], _photos(person)[2:3]),
    ):
        folder = tmp_path / name
        copy_first_images(folder, crowd)
        for photo in mine:
            (folder / photo.name).write_bytes(photo.read_bytes())
        make_gallery(org, name)
        ingest(ctx, org.people["gus"], IngestRequest(folder, name, "county", workers=1))
    org.set_policy(galleries=("bookings", "dmv"), approval=ApprovalMode.NEVER)
    yield org, person, tmp_path
    ctx.close()


def _probe(path: Path) -> ProbeImage:
    return ProbeImage(path.name, path.read_bytes())


def _theirs(ctx: AppContext, person: Path) -> dict[str, list]:  # type: ignore[type-arg]
    """Everything stored of the person's photos: images, faces, templates (id, bytes)."""
    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in _photos(person)]
    with ctx.sessions() as s:
        images = list(s.scalars(select(Image.id).where(Image.sha256.in_(shas))))
        faces = list(s.scalars(select(Face.id).where(Face.image_id.in_(images))))
        templates = s.execute(
            select(TemplateRow.id, TemplateRow.vector).where(TemplateRow.face_id.in_(faces))
        ).all()
    return {
        "shas": shas,
        "images": images,
        "faces": faces,
        "templates": [(int(t), bytes(v)) for t, v in templates],
    }


def _stored_bytes(ctx: AppContext) -> bytes:
    """The database's files and every gallery's index file, as bytes. SQLite: the file and
    its WAL. PostgreSQL (after a checkpoint, so that nothing is only in memory): the data
    files of the tables that held faces, and of their TOAST tables (read as root, as CI runs)."""
    files: list[Path] = []
    if ctx.settings.db_file is not None:
        files += [ctx.settings.db_file, Path(f"{ctx.settings.db_file}-wal")]
    else:
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("CHECKPOINT"))
            data = Path(c.execute(text("SELECT current_setting('data_directory')")).scalar_one())
            for table in ("templates", "faces", "images", "search_candidates", "blocklist"):
                for oid in c.execute(
                    text(
                        "SELECT oid FROM pg_class WHERE relname = :t UNION SELECT "
                        "reltoastrelid FROM pg_class WHERE relname = :t AND reltoastrelid <> 0"
                    ),
                    {"t": table},
                ).scalars():
                    path = c.execute(text("SELECT pg_relation_filepath(:o)"), {"o": oid}).scalar()
                    files += sorted((data / str(path)).parent.glob(Path(str(path)).name + "*"))
        assert files and all(os.access(f, os.R_OK) for f in files), "PostgreSQL's files"
    with ctx.sessions() as s:
        files += [_files(ctx, g).index_path for g in s.scalars(select(Gallery))]
    return b"".join(p.read_bytes() for p in files if p.exists())


def _erase(org, person: Path, consent: bool):  # type: ignore[no-untyped-def]
    ctx: AppContext = org.ctx
    request = ErasureRequest(
        "REQ-2026-0042",
        "passport checked in person at the front desk",
        consent,
        tuple(_probe(p) for p in _photos(person)[:3]),
    )
    opened = _opened(org, request)
    found = {(m.gallery, m.image_sha256) for m in opened.matches}
    decide_matches(ctx, org.people["gus"], opened.id, [m.id for m in opened.matches], [])
    try:
        return opened, found, complete_erasure(ctx, org.people["head"], opened.id)
    except StateError as held:  # faces an open case's search returned: the head lets them go
        assert "open cases" in str(held)
    for hold in list_holds(ctx, org.people["head"]):
        decide_hold(ctx, org.people["head"], hold.id, True, "the case no longer needs them")
    return opened, found, complete_erasure(ctx, org.people["head"], opened.id)


def _opened(org, request: ErasureRequest):  # type: ignore[no-untyped-def]
    """Opened by gus (a gallery admin), approved by the county's head: its matches found."""
    opened = open_erasure(org.ctx, org.people["gus"], request)
    assert opened.status == "requested" and opened.matches == []
    return approve_erasure(org.ctx, org.people["head"], opened.id, "identity check seen, approved")


def test_an_erased_person_is_gone_everywhere_and_the_receipt_verifies_offline(world) -> None:  # type: ignore[no-untyped-def]
    org, person, tmp_path = world
    ctx: AppContext = org.ctx
    earlier = org.search(("bookings", "dmv"), (_probe(_photos(person)[3]),))
    mine = _theirs(ctx, person)
    assert len(mine["images"]) == 3 and len(mine["templates"]) >= 3
    returned = [c for c in earlier.candidates if c.template_id in {t for t, _ in mine["templates"]}]
    assert returned, "the earlier search returned the person"

    assert all(v in _stored_bytes(ctx) for _, v in mine["templates"])  # the check can fail
    _, found, done = _erase(org, person, consent=False)
    assert {g for g, _ in found} == {"bookings", "dmv"} and len(found) == 3
    assert done.status == "done" and done.receipt is not None and done.receipt_id

    # Nothing of theirs is left in the store, the index, the blobs, the crops.
    after = _theirs(ctx, person)
    assert after["images"] == [] and after["faces"] == [] and after["templates"] == []
    gone = {t for t, _ in mine["templates"]}
    with ctx.sessions() as s:
        for gallery in s.scalars(select(Gallery)):
            index, _ = open_index(ctx, s, gallery)
            assert not gone & set(index.ids().tolist())
        assert s.scalar(select(func.count(BlocklistEntry.id))) == 0  # no consent: none kept
        assert s.scalar(select(ErasureRow.pending_templates)) is None
    for sha in mine["shas"][:3]:
        assert not ctx.blobs.path(sha).exists()
    with pytest.raises(ErasedError, match=done.receipt_id):
        results.candidate_crop(ctx, org.people["ivy"], returned[0].id)
    with pytest.raises(ErasedError):
        results.candidate_image(ctx, org.people["ivy"], returned[0].id)

    # Their template bytes are in no database file and no index file.
    stored = _stored_bytes(ctx)
    with ctx.sessions() as s:
        others = [bytes(v) for v in s.scalars(select(TemplateRow.vector))]
    assert others and all(v in stored for v in others)  # the files read are the right ones
    for _, vector in mine["templates"]:
        assert vector not in stored and vector[:64] not in stored

    # The earlier search explains itself with a tombstone.
    shown = results.get_search(ctx, org.people["ivy"], earlier.search_id)
    stones = [c for c in shown.candidates if c.erased is not None]
    assert {c.id for c in stones} == {c.id for c in returned}
    assert all(
        c.erased.receipt_id == done.receipt_id and c.image_name == "(erased)" for c in stones
    )  # type: ignore[union-attr]
    assert all(c.crop_jpeg is None for c in stones)

    # The receipt verifies offline with the public key file alone, and lists by hash.
    vkey = load_vkey(audit.public_key_file(ctx))
    rid, body = open_receipt(done.receipt, vkey)
    assert rid == done.receipt_id
    assert body["removed"]["images"] == sorted(mine["shas"][:3])
    assert len(body["removed"]["templates"]) == len(mine["templates"])
    assert body["removed"]["templates"] == sorted(
        hashlib.sha256(v).hexdigest() for _, v in mine["templates"]
    )
    assert body["galleries"] == ["bookings", "dmv"] and body["opt_out_kept"] is False
    with pytest.raises(AuditInputError):
        open_receipt(done.receipt.replace('"faces":', '"faces": '), vkey)
    with pytest.raises(AuditInputError):
        open_receipt(done.receipt.replace("REQ-2026-0042", "REQ-2026-0043"), vkey)

    # The log holds the erasure, without biometric data, and still verifies.
    with ctx.sessions() as s:
        entries = s.scalars(select(AuditEntryRow).where(AuditEntryRow.kind.like("erasure.%"))).all()
        assert verify_log(s, audit.public_key(ctx)).ok
    kinds = [e.kind for e in entries]
    assert {"erasure.open", "erasure.decide", "erasure.done"} <= set(kinds)
    for entry in entries:
        for _, vector in mine["templates"]:
            assert vector.hex()[:64] not in entry.details
    # Without consent, nothing stops the same photos coming back.
    again = tmp_path / "again"
    again.mkdir()
    for photo in _photos(person)[:2]:
        (again / photo.name).write_bytes(photo.read_bytes())
    summary = ingest(ctx, org.people["gus"], IngestRequest(again, "bookings", "county", workers=1))
    assert summary.images_ingested == 2 and not summary.failures


def test_with_consent_the_person_is_refused_again_and_kept_out_of_results(world) -> None:  # type: ignore[no-untyped-def]
    org, person, tmp_path = world
    ctx: AppContext = org.ctx
    # An archive photo the admin will not confirm (say, not sure): it stays, but is hidden.
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "kept.jpg").write_bytes(_photos(person)[3].read_bytes())
    make_gallery(org, "archive")
    ingest(ctx, org.people["gus"], IngestRequest(archive, "archive", "county", workers=1))
    org.set_policy(galleries=("bookings", "dmv", "archive"))
    request = ErasureRequest(
        "REQ-2026-0043",
        "driving licence checked by video call",
        True,
        tuple(_probe(p) for p in _photos(person)[:3]),
    )
    opened = _opened(org, request)
    keep = [m.id for m in opened.matches if m.gallery == "archive"]
    assert keep, "the archive photo is found too"
    with pytest.raises(StateError, match="confirm or reject"):
        complete_erasure(ctx, org.people["head"], opened.id)
    with pytest.raises(PermissionDeniedError):
        complete_erasure(ctx, org.people["ivy"], opened.id)
    confirm = [m.id for m in opened.matches if m.id not in keep]
    decide_matches(ctx, org.people["gus"], opened.id, confirm, keep)
    with pytest.raises(PermissionDeniedError):  # the opener and decider cannot confirm
        complete_erasure(ctx, org.people["gus"], opened.id)
    done = complete_erasure(ctx, org.people["head"], opened.id)
    with ctx.sessions() as s:
        kept = s.scalar(select(func.count(BlocklistEntry.id)))
    assert kept and kept >= 3  # the three photos' templates, for each pack in use
    rid, body = open_receipt(done.receipt or "", load_vkey(audit.public_key_file(ctx)))
    assert body["opt_out_kept"] is True and rid == done.receipt_id

    # Kept out of results: the archive photo, still stored, is not shown.
    with ctx.sessions() as s:
        archived = s.scalar(
            select(func.count(Image.id)).join(Gallery).where(Gallery.name == "archive")
        )
    assert archived == 1
    shown = org.search(("archive",), (_probe(_photos(person)[3]),))
    assert shown.candidates == [] and shown.withheld == 1
    # The search says so, and its entry names the erasure that withheld the face.
    assert results.get_search(ctx, org.people["ivy"], shown.search_id).withheld == 1
    with ctx.sessions() as s:
        ran = s.scalars(
            select(AuditEntryRow).where(
                AuditEntryRow.kind == "search.run",
                AuditEntryRow.subject == f"search:{shown.search_id}",
            )
        ).one()
        erased = s.scalars(
            select(AuditEntryRow.seq).where(
                AuditEntryRow.kind == "erasure.done", AuditEntryRow.subject == f"erasure:{done.id}"
            )
        ).one()
    assert json.loads(ran.details)["withheld"] == 1
    assert json.loads(ran.details)["withheld_by"] == [erased]
    # Refused at re-enrolment, and the refused photo's blob is not kept.
    again = tmp_path / "again"
    again.mkdir()
    for photo in _photos(person)[:2]:
        (again / photo.name).write_bytes(photo.read_bytes())
    summary = ingest(ctx, org.people["gus"], IngestRequest(again, "bookings", "county", workers=1))
    assert summary.images_ingested == 0
    assert {f.code for f in summary.failures} == {"blocklisted"} and len(summary.failures) == 2
    for photo in _photos(person)[:2]:
        assert not ctx.blobs.path(hashlib.sha256(photo.read_bytes()).hexdigest()).exists()
    # Another person is not refused.
    other = tmp_path / "other"
    copy_first_images(other, lfw_people(60)[50:52])
    assert (
        ingest(ctx, org.people["gus"], IngestRequest(other, "bookings", "county")).images_ingested
        == 2
    )


def test_a_cancelled_request_keeps_nothing_of_the_person(world) -> None:  # type: ignore[no-untyped-def]
    org, person, _ = world
    ctx: AppContext = org.ctx
    request = ErasureRequest(
        "REQ-2026-0044", "identity card checked at the desk", True, (_probe(_photos(person)[0]),)
    )
    opened = _opened(org, request)
    with ctx.sessions() as s:
        assert s.scalar(select(ErasureRow.pending_templates)) is not None
    cancel_erasure(ctx, org.people["gus"], opened.id, "the person withdrew the request")
    with ctx.sessions() as s:
        assert s.scalar(select(ErasureRow.pending_templates)) is None
        assert s.scalar(select(ErasureRow.status)) == "cancelled"
    assert len(_theirs(ctx, person)["images"]) == 3  # nothing removed
    with pytest.raises(StateError):
        complete_erasure(ctx, org.people["head"], opened.id)


def test_a_blocklist_entry_deleted_or_an_erasure_reopened_fails_verification(world) -> None:  # type: ignore[no-untyped-def]
    org, person, _ = world
    ctx: AppContext = org.ctx
    _, _, done = _erase(org, person, consent=True)
    with ctx.sessions() as s:
        assert verify_log(s, audit.public_key(ctx)).ok
        first = s.scalar(select(func.min(BlocklistEntry.id)))
    with ctx.transaction() as s:  # an insider lets the person back in
        s.execute(delete(BlocklistEntry).where(BlocklistEntry.id == first))
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    assert not report.ok and f"erasures id {done.id}" in (report.problem or "")
    assert "blocklist" in (report.problem or "")


def test_a_decision_changed_in_the_database_erases_no_one(world) -> None:  # type: ignore[no-untyped-def]
    org, person, _ = world
    ctx: AppContext = org.ctx
    request = ErasureRequest(
        "REQ-2026-0045", "passport checked at the desk", False, (_probe(_photos(person)[0]),)
    )
    opened = _opened(org, request)
    decide_matches(ctx, org.people["gus"], opened.id, [], [m.id for m in opened.matches])
    with ctx.transaction() as s:  # an insider turns a rejected face into a confirmed one
        s.execute(update(ErasureMatch).values(decision="confirmed"))
    with pytest.raises(RecordMismatchError):
        complete_erasure(ctx, org.people["head"], opened.id)
    assert len(_theirs(ctx, person)["images"]) == 3  # nothing removed
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    assert not report.ok and f"erasures id {opened.id}" in (report.problem or "")


def test_a_blocklist_template_replaced_fails_verification(world) -> None:  # type: ignore[no-untyped-def]
    org, person, _ = world
    ctx: AppContext = org.ctx
    _, _, done = _erase(org, person, consent=True)
    with ctx.transaction() as s:  # another face's template put in, to let the person back in
        s.execute(update(BlocklistEntry).values(vector=b"\0" * 2048))
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    assert not report.ok and f"erasures id {done.id}" in (report.problem or "")
