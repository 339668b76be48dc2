"""Backup and restore (issue 26): a running installation is backed up with a manifest of
hashes and never its keys, restored into an empty home (and database) with every count equal
and the log verifying; a damaged backup or a target that is not empty is refused before
anything is written; a restore from an older backup is recorded as a signed ``audit.restore``
that the witnesses accept, while a log shortened without it is still refused."""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from facetrail.config import Settings
from facetrail.errors import (
    BackupDamagedError,
    BackupDestinationError,
    RestoreTargetError,
    WitnessConflictError,
)
from facetrail.governance import merkle
from facetrail.governance.restores import parse_restore
from facetrail.governance.verify import leaves
from facetrail.governance.witness import AddCheckpoint, Witness
from facetrail.services.audit import log as audit
from facetrail.services.audit import witness as witnessing
from facetrail.services.backup import BackupRequest, Manifest, RestoreRequest, backup, restore
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.notifications import inbox
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow
from tests.conftest import PostgresDatabases, copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery, make_org, open_searching

pytestmark = needs_lfw

Lines = list[str]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """A running installation: an organisation, a gallery of four LFW people, two searches
    under one case, a checkpoint pushed to a witness inbox."""
    root = tmp_path_factory.mktemp("source")
    ctx = AppContext.open(Settings(home=root / "home", threads=1, witness_dirs=[root / "inbox"]))
    org = make_org(ctx)
    people = lfw_people(4)
    copy_first_images(root / "photos", people)
    make_gallery(org, "bookings")
    ingest(ctx, org.people["gus"], IngestRequest(root / "photos", "bookings", "county"))
    open_searching(org, "bookings")
    probe = sorted(people[1].glob("*.jpg"))[1]
    for _ in range(2):
        org.search(("bookings",), (ProbeImage(probe.name, probe.read_bytes()),))
    audit.make_checkpoint(ctx)
    yield org
    ctx.close()


@pytest.fixture()
def empty_target(
    tmp_path: Path, _postgres_per_test: PostgresDatabases | None
) -> Callable[..., Settings]:
    """Settings of a new, empty home (and an empty PostgreSQL database in PostgreSQL mode)
    whose key folders hold copies of the source's, as an operator restores them apart."""

    def make(org: Org, name: str = "target", **values: object) -> Settings:
        url = None if _postgres_per_test is None else _postgres_per_test.create(empty=True)
        settings = Settings(home=tmp_path / name, database_url=url, threads=1, **values)  # type: ignore[arg-type]
        shutil.copytree(org.ctx.settings.audit_key_dir, settings.audit_key_dir)
        shutil.copytree(org.ctx.settings.totp_key_file.parent, settings.totp_key_file.parent)
        return settings

    return make


def _kinds(ctx: AppContext, kind: str) -> list[dict[str, object]]:
    with ctx.sessions() as s:
        rows = s.scalars(select(AuditEntryRow.details).where(AuditEntryRow.kind == kind))
        return [json.loads(d) for d in rows]


def _quiet(_line: str) -> None:
    pass


def test_backup_restores_into_a_fresh_home_with_every_count_equal(
    source: Org, tmp_path: Path, empty_target: Callable[..., Settings]
) -> None:
    report = backup(source.ctx, BackupRequest(tmp_path / "b1"), _quiet)
    manifest = Manifest.read(tmp_path / "b1")
    assert report.counts == manifest.counts and manifest.counts["templates"] >= 4
    assert manifest.counts["searches"] == 2 and manifest.counts["cases"] == 1
    assert manifest.audit["size"] == report.audit_size and manifest.audit["checkpoint"]
    assert any(name.startswith("blobs/") for name in manifest.files)
    assert not any(name.startswith("index/") for name in manifest.files)  # not asked for
    # the backup is in the log, with its manifest's hash, in one entry
    assert report.manifest_sha256 in [
        d["manifest_sha256"] for d in _kinds(source.ctx, "admin.backup")
    ]
    # no key of any kind, nor a session, went into it
    keys = [
        *source.ctx.settings.audit_key_dir.iterdir(),
        source.ctx.settings.totp_key_file,
    ]
    held = b"".join(p.read_bytes() for p in (tmp_path / "b1").rglob("*") if p.is_file())
    for key in keys:
        if key.suffix != ".vkey":  # the public key may be anywhere
            assert key.read_bytes().strip() not in held, key
    assert not list((tmp_path / "b1").rglob("session.token"))

    target = empty_target(source)
    done = restore(target, RestoreRequest(tmp_path / "b1"), _quiet)
    assert done.verified, done.verify_problem
    assert done.counts == manifest.counts and done.counts_equal
    assert done.index == "rebuilt" and done.gallery_indexes == {
        "bookings": manifest.counts["templates"]
    }
    assert done.shortened is None
    restored = AppContext.open(target)
    try:
        assert len(_kinds(restored, "admin.restore")) == 1
        # the restored installation serves: the investigator signs in and searches again
        again = Org(restored, enrolments=dict(source.enrolments))
        again.login("ivy")
        probe = next(iter(sorted(lfw_people(4)[1].glob("*.jpg"))[1:]))
        result = again.search(("bookings",), (ProbeImage(probe.name, probe.read_bytes()),))
        assert result.status == "done" and result.candidates
    finally:
        restored.close()


def test_with_index_the_index_is_restored_not_rebuilt(
    source: Org, tmp_path: Path, empty_target: Callable[..., Settings]
) -> None:
    backup(source.ctx, BackupRequest(tmp_path / "b", with_index=True), _quiet)
    assert any(n.startswith("index/") for n in Manifest.read(tmp_path / "b").files)
    done = restore(empty_target(source), RestoreRequest(tmp_path / "b"), _quiet)
    assert done.verified and done.counts_equal and done.index == "restored"


def test_a_damaged_backup_is_refused_before_anything_is_written(
    source: Org, tmp_path: Path, empty_target: Callable[..., Settings]
) -> None:
    backup(source.ctx, BackupRequest(tmp_path / "b"), _quiet)
    target = empty_target(source)
    blob = next(p for p in sorted((tmp_path / "b" / "blobs").rglob("*")) if p.is_file())
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(BackupDamagedError, match="changed since the backup") as changed:
        restore(target, RestoreRequest(tmp_path / "b"), _quiet)
    assert changed.value.subject == str(blob)
    assert not target.home.exists()
    blob.unlink()
    with pytest.raises(BackupDamagedError, match="missing"):
        restore(target, RestoreRequest(tmp_path / "b"), _quiet)
    blob.write_bytes(original)
    (tmp_path / "b" / "blobs" / "planted").write_bytes(b"x")
    with pytest.raises(BackupDamagedError, match="does not list"):
        restore(target, RestoreRequest(tmp_path / "b"), _quiet)
    assert not target.home.exists()
    if target.database_url is not None:
        from facetrail.services.backup._databases import pg_is_empty

        assert pg_is_empty(target.database_url)


def test_a_backup_is_never_written_beside_the_keys_nor_over_anything(
    source: Org, tmp_path: Path
) -> None:
    settings = source.ctx.settings
    for inside in (settings.audit_key_dir / "b", settings.totp_key_file.parent / "b"):
        with pytest.raises(BackupDestinationError, match="never written inside"):
            backup(source.ctx, BackupRequest(inside), _quiet)
        assert not inside.exists()
    with pytest.raises(BackupDestinationError, match="never written inside the home"):
        backup(source.ctx, BackupRequest(settings.home / "b"), _quiet)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(BackupDestinationError, match="not empty"):
        backup(source.ctx, BackupRequest(tmp_path / "full"), _quiet)
    with pytest.raises(BackupDestinationError, match="the folder it goes in"):
        backup(source.ctx, BackupRequest(tmp_path / "no" / "such"), _quiet)
    refused = _kinds(source.ctx, "admin.backup.refused")
    assert len(refused) >= 5 and all(d["code"] == "backup_destination_refused" for d in refused)
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_a_restore_into_a_home_or_database_in_use_is_refused(
    source: Org, tmp_path: Path, empty_target: Callable[..., Settings]
) -> None:
    backup(source.ctx, BackupRequest(tmp_path / "b"), _quiet)
    before = len(_kinds(source.ctx, "admin.restore.refused"))
    with pytest.raises(RestoreTargetError, match="not empty"):
        restore(source.ctx.settings, RestoreRequest(tmp_path / "b"), _quiet)
    # someone tried to restore over this installation: its log says so
    assert len(_kinds(source.ctx, "admin.restore.refused")) == before + 1
    if source.ctx.settings.database_url is not None:  # an empty home, a database in use
        target = empty_target(source)
        busy = target.model_copy(update={"database_url": source.ctx.settings.database_url})
        with pytest.raises(RestoreTargetError, match="holds tables already"):
            restore(busy, RestoreRequest(tmp_path / "b"), _quiet)


def test_a_restore_from_an_older_backup_is_signed_recorded_and_witnessed(
    source: Org, tmp_path: Path, empty_target: Callable[..., Settings]
) -> None:
    ctx = source.ctx
    inbox_dir = ctx.settings.witness_dirs[0]
    key = audit.public_key(ctx)
    witness = Witness.open(tmp_path / "witness")
    witnessing.witness_inbox(witness, key, inbox_dir)
    backup(ctx, BackupRequest(tmp_path / "old"), _quiet)
    backup_size = int(Manifest.read(tmp_path / "old").audit["size"])
    # Work goes on after the backup, is checkpointed and cosigned; then the disk is lost.
    probe = sorted(lfw_people(4)[2].glob("*.jpg"))[1]
    for _ in range(3):
        source.search(("bookings",), (ProbeImage(probe.name, probe.read_bytes()),))
    later = audit.make_checkpoint(ctx)
    assert witnessing.witness_inbox(witness, key, inbox_dir).latest_size == later.tree_size
    strict = Witness.open(tmp_path / "strict")  # a witness that only ever sees requests
    strict.add_checkpoint(AddCheckpoint(0, (), later.note()), key)
    monitor = Witness.open(tmp_path / "monitor")  # one that reads the database itself
    witnessing.witness_database(monitor, key, audit.default_database(ctx.settings))

    target = empty_target(source, witness_dirs=[inbox_dir])
    done = restore(target, RestoreRequest(tmp_path / "old"), _quiet)
    assert done.verified, done.verify_problem
    assert done.shortened is not None
    assert done.shortened["lost"] == later.tree_size - backup_size
    restored = AppContext.open(target)
    try:
        (entry,) = _kinds(restored, "audit.restore")
        statement = parse_restore(str(entry["statement"]), key)
        assert (statement.backup.size, statement.previous.size) == (backup_size, later.tree_size)
        assert statement.previous.root == later.root
        # the heads are told
        head = restored_head_inbox(restored, source)
        assert any("audit log restored" in m.subject for m in head)

        # The witness follows the restored log by the statement, and says so ...
        seen = witnessing.witness_inbox(witness, key, inbox_dir)
        (accepted,) = seen.restores
        assert accepted["lost"] == later.tree_size - backup_size
        assert witness.restores(key.name) and seen.latest_size > backup_size
        # (a witness that reads the database finds the statement in the audit.restore entry)
        monitored = witnessing.witness_database(monitor, key, audit.default_database(target))
        assert [r["lost"] for r in monitored.restores] == [later.tree_size - backup_size]
        # ... and goes on cosigning the restored log.
        restored_cp = audit.make_checkpoint(restored)
        assert (
            witnessing.witness_inbox(witness, key, inbox_dir).latest_size == restored_cp.tree_size
        )

        # A log shortened without the statement is refused as before.
        with restored.sessions() as s:
            hashes, _ = leaves(s)
        proof = merkle.consistency_proof(hashes[: restored_cp.tree_size], backup_size)
        bare = AddCheckpoint(backup_size, tuple(proof), restored_cp.note())
        assert restored_cp.tree_size < later.tree_size
        with pytest.raises(WitnessConflictError, match="shorter"):
            strict.add_checkpoint(bare, key)
        # and a statement naming another previous head than the one it cosigned is refused too
        other = Witness.open(tmp_path / "other")
        other.add_checkpoint(AddCheckpoint(0, (), restored_cp.note()), key)
        with pytest.raises(WitnessConflictError, match="restore refused"):
            other.add_checkpoint(bare, key, restore=str(entry["statement"]))
    finally:
        restored.close()


def restored_head_inbox(ctx: AppContext, org: Org) -> list[object]:
    from facetrail.services import accounts as acc

    with ctx.sessions() as s:
        head = acc.user_by_name(s, "head")
    return list(inbox(ctx, head.id))


def test_a_second_restore_into_the_same_home_while_one_runs_is_refused(
    source: Org, tmp_path: Path, empty_target: Callable[..., Settings]
) -> None:
    """Both would find the home empty: the second is refused before it checks or writes
    anything, and the first's home is left as it was (here: empty, not yet begun)."""
    backup(source.ctx, BackupRequest(tmp_path / "b"), _quiet)
    target = empty_target(source)
    lock_path = target.home.parent / f".{target.home.name}.restoring"
    with open(lock_path, "a") as running:  # the first restore, holding its lock
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RestoreTargetError, match="another restore"):
            restore(target, RestoreRequest(tmp_path / "b"), _quiet)
        assert not target.home.exists() or not any(target.home.iterdir())
        fcntl.flock(running, fcntl.LOCK_UN)
    report = restore(target, RestoreRequest(tmp_path / "b"), _quiet)  # once it has ended
    assert report.verified and report.counts_equal
