"""The audit log catches every kind of tampering, each on its own (issue 2/6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import Settings, get_settings
from facetrail.errors import GalleryExistsError
from facetrail.governance.audit import AuditEvent, append, entry_bytes
from facetrail.governance.checkpoints import sign_checkpoint
from facetrail.governance.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from facetrail.governance.note import SignerKey
from facetrail.governance.verify import verify_log
from facetrail.services.accounts import NewAccount, init_system, principal_of, user_by_name
from facetrail.services.audit import log as audit
from facetrail.services.audit.log import default_database
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.store.schema import AuditEntryRow, CheckpointRow
from tests.org import PASSWORD, Org

ENTRIES = 40


@pytest.fixture()
def log(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A home with 40+ entries from real actions and appends, and three checkpoints."""
    ctx = AppContext.open(Settings(home=tmp_path / "home"))
    org = Org(ctx)
    org.enrolments["root"] = init_system(ctx, NewAccount("root", "r@ops", PASSWORD, "operators"))
    galleries.create_gallery(ctx, org.login("root"), galleries.CreateGalleryRequest("g"))
    for i in range(ENTRIES):
        with ctx.transaction() as s:
            append(s, AuditEvent(f"user{i % 3}", "test.event", f"thing-{i}", {"n": i}))
        if i in (9, 24):
            audit.make_checkpoint(ctx)
    audit.make_checkpoint(ctx)
    yield ctx
    ctx.close()


def _verify(ctx: AppContext, published: list | None = None):  # type: ignore[no-untyped-def,type-arg]
    public = audit.public_key(ctx)
    with ctx.sessions() as s:
        return verify_log(s, public, published or ())


def _entries(ctx: AppContext) -> int:
    with ctx.sessions() as s:
        return len(s.scalars(select(AuditEntryRow.seq)).all())


def test_untouched_log_verifies(log: AppContext) -> None:
    report = _verify(log)
    assert report.ok and report.entries == _entries(log) and report.checkpoints == 3


def test_actions_and_entries_commit_together(log: AppContext) -> None:
    with log.sessions() as s:
        admin = principal_of(s, user_by_name(s, "root"))
    before = _entries(log)
    with pytest.raises(GalleryExistsError):
        galleries.create_gallery(log, admin, galleries.CreateGalleryRequest("g"))
    assert _entries(log) == before + 1  # the refused action left only its refusal
    with log.sessions() as s:
        refusal = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).first()
    assert refusal is not None and refusal.kind == "gallery.create.refused"
    galleries.create_gallery(log, admin, galleries.CreateGalleryRequest("h"))
    with log.sessions() as s:
        made, seal = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).all()[
            1::-1
        ]
    assert (made.kind, made.subject) == ("gallery.create", "h")
    # the gallery's row is sealed by the entry after it, in the same transaction
    assert (seal.kind, seal.subject) == ("row.seal", f"entries:{made.seq}-{made.seq}")
    assert list(json.loads(seal.details)["rows"]) == ["galleries"]


def test_edit_one_byte_of_one_entry(log: AppContext) -> None:
    with log.transaction() as s:
        row = s.get(AuditEntryRow, 7)
        assert row is not None
        raw = bytearray(row.details.encode())
        at = raw.index(b":") + 1  # the first value's first byte
        raw[at] = raw[at] ^ 0x01  # one bit of one byte: '5' -> '4', '"' -> '#'
        s.execute(update(AuditEntryRow).where(AuditEntryRow.seq == 7).values(details=raw.decode()))
    report = _verify(log)
    assert not report.ok and report.first_bad_entry == 7 and "altered" in (report.problem or "")


def test_edit_with_recomputed_hash_is_caught_by_the_signed_checkpoint(log: AppContext) -> None:
    with log.transaction() as s:
        sizes = list(s.scalars(select(CheckpointRow.tree_size).order_by(CheckpointRow.id)))
        row = s.get(AuditEntryRow, 15)
        assert row is not None
        row.actor = "someone-else"
        row.leaf_hash = leaf_hash(
            entry_bytes(row.seq, row.at, row.actor, row.kind, row.subject, row.details)
        )
    first_covering = next(i for i, size in enumerate(sizes) if size >= 15)
    report = _verify(log)
    assert not report.ok and report.bad_checkpoint == f"stored #{first_covering + 1}"
    # Named as the range since the previous good checkpoint.
    previous = sizes[first_covering - 1] if first_covering else 0
    assert report.first_bad_entry == previous + 1 and previous < 15


def test_delete_an_entry(log: AppContext) -> None:
    with log.transaction() as s:
        s.execute(delete(AuditEntryRow).where(AuditEntryRow.seq == 5))
    report = _verify(log)
    assert not report.ok and report.first_bad_entry == 5 and "missing" in (report.problem or "")


def test_reorder_two_entries(log: AppContext) -> None:
    with log.transaction() as s:
        a, b = s.get(AuditEntryRow, 20), s.get(AuditEntryRow, 21)
        assert a is not None and b is not None
        fields = ("at", "actor", "kind", "subject", "details", "leaf_hash")
        saved = {f: getattr(a, f) for f in fields}
        for f in fields:
            setattr(a, f, getattr(b, f))
            setattr(b, f, saved[f])
    report = _verify(log)
    assert not report.ok and report.first_bad_entry == 20


def test_truncate_the_tail(log: AppContext) -> None:
    size = _entries(log)
    with log.transaction() as s:
        s.execute(delete(AuditEntryRow).where(AuditEntryRow.seq > size - 3))
    report = _verify(log)
    assert not report.ok and "truncated" in (report.problem or "")
    assert report.first_bad_entry == size - 2


def test_forged_checkpoint_with_another_key(log: AppContext) -> None:
    # Mallory's key under the log's own name: the name matches, the key does not.
    mallory = SignerKey.generate(audit.public_key(log).name)
    forged = sign_checkpoint(mallory, 3, b"\x00" * 32, "2026-01-01")
    with log.transaction() as s:
        s.add(
            CheckpointRow(
                tree_size=forged.tree_size,
                root=forged.root,
                at=forged.at,
                key_id=forged.key_id,
                signature=forged.signature,
            )
        )
    report = _verify(log)
    assert not report.ok and report.bad_checkpoint == "stored #4"
    assert "not signed" in (report.problem or "")


def test_replace_the_log_with_a_consistent_fork(log: AppContext) -> None:
    published = audit.load_published(audit.export_checkpoints(log))
    size = _entries(log)
    # Mallory rewrites history: every entry re-hashed, so the log is self-consistent, and
    # the stored checkpoints (which she cannot re-sign) are thrown away.
    with log.transaction() as s:
        for row in s.scalars(select(AuditEntryRow)):
            row.subject = row.subject + "-rewritten"
            row.leaf_hash = leaf_hash(
                entry_bytes(row.seq, row.at, row.actor, row.kind, row.subject, row.details)
            )
        s.execute(delete(CheckpointRow))
    assert _entries(log) == size
    report = _verify(log, published)
    assert not report.ok and report.bad_checkpoint == "published #1"
    assert report.first_bad_entry == 1


def test_proofs_verify_against_checkpoints(log: AppContext) -> None:
    proof = audit.prove_entry(log, 17)
    with log.sessions() as s:
        row = s.get(AuditEntryRow, 17)
        assert row is not None
        assert proof.leaf_hash == row.leaf_hash.hex()
    assert verify_inclusion(
        bytes.fromhex(proof.leaf_hash),
        16,
        proof.tree_size,
        [bytes.fromhex(p) for p in proof.path],
        bytes.fromhex(proof.root),
    )
    c = audit.prove_consistency(log, 1, 3)
    assert c.verified and verify_consistency(
        c.old_size,
        c.new_size,
        bytes.fromhex(c.old_root),
        bytes.fromhex(c.new_root),
        [bytes.fromhex(p) for p in c.path],
    )
    with log.sessions() as s:
        hashes = list(s.scalars(select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq)))
    assert root(hashes[: c.new_size]).hex() == c.new_root


def test_cli_verify_offline_exit_codes(log: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    home = log.settings.home
    monkeypatch.setenv("FACETRAIL_HOME", str(home))
    get_settings.cache_clear()
    runner = CliRunner()
    db, key = default_database(log.settings), home / "keys" / "audit-log.vkey"
    ok = runner.invoke(
        app, ["audit", "verify", "--db", str(db), "--public-key", str(key), "--json"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    with log.transaction() as s:
        s.execute(text("UPDATE audit_entries SET kind = 'x' WHERE seq = 3"))
    bad = runner.invoke(app, ["audit", "verify", "--db", str(db), "--public-key", str(key)])
    get_settings.cache_clear()
    assert bad.exit_code == 1 and "entry 3" in bad.output
