"""Issue 12: the log cannot be silently shortened or rewritten, because its checkpoints leave
the machine: C2SP signed notes, pushed to witnesses that keep what they saw and cosign only a
log that extends it. Whoever holds the server (and the signing key) is still caught."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner, Result

from facetrail.cli.main import app
from facetrail.config import Settings, get_settings
from facetrail.errors import (
    WitnessConflictError,
    WitnessInconsistentError,
    WitnessSignatureError,
    WitnessUnknownLogError,
)
from facetrail.governance.audit import AuditEvent, append, entry_bytes
from facetrail.governance.checkpoints import PRIVATE_KEY, sign_checkpoint
from facetrail.governance.merkle import consistency_proof, leaf_hash, root
from facetrail.governance.note import (
    SignerKey,
    VerifierKey,
    open_note,
    parse_skey,
    parse_vkey,
    sign_note,
    split_note,
    verify_cosignature,
)
from facetrail.governance.witness import AddCheckpoint, Witness
from facetrail.services.audit import log as audit
from facetrail.services.audit.log import checkpoint_if_due, default_database
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow, AuditHeadRow, CheckpointRow

# From the documentation of golang.org/x/mod/sumdb/note (public test data): Ed25519 is
# deterministic, so our signer must reproduce Go's signature byte for byte.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _add(ctx: AppContext, n: int, tag: str = "e") -> None:
    for i in range(n):
        with ctx.transaction() as s:
            append(s, AuditEvent(f"user{i % 3}", "test.event", f"{tag}-{i}", {"n": i}))


@pytest.fixture()
def log(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A log of 13 entries with one checkpoint, pushed to a witness inbox outside the home."""
    ctx = AppContext.open(Settings(home=tmp_path / "home", witness_dirs=[tmp_path / "inbox"]))
    audit.ensure_keys(ctx)
    _add(ctx, 12)
    audit.make_checkpoint(ctx)
    yield ctx
    ctx.close()


def _witness(ctx: AppContext, *source: str) -> tuple[int, str]:
    state = ctx.settings.home.parent / "auditor"
    vkey = audit.public_key(ctx).encode()
    args = ["audit", "witness", "--state", str(state), "--log-key", vkey, *source]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def _in_home(ctx: AppContext, *args: str) -> Result:
    """A command run as an ordinary user of this home (its settings from the environment)."""
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env={"FACETRAIL_HOME": str(ctx.settings.home)})
    finally:
        get_settings.cache_clear()


def _db(ctx: AppContext) -> tuple[str, str]:
    return "--db", str(default_database(ctx.settings))


def _size(ctx: AppContext) -> int:
    with ctx.sessions() as s:
        return len(s.scalars(select(AuditEntryRow.seq)).all())


# --- the formats are C2SP's, byte for byte ---------------------------------------------------


def test_go_sumdb_note_vector_verifies_and_is_reproduced() -> None:
    verifier = parse_vkey(GO_VKEY)
    assert verifier.encode() == GO_VKEY
    assert open_note(GO_NOTE, verifier) == GO_TEXT
    assert sign_note(GO_TEXT, parse_skey(GO_SKEY)) == GO_NOTE
    with pytest.raises(Exception, match="does not verify"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), verifier)


def test_checkpoint_is_a_c2sp_signed_note(log: AppContext) -> None:
    verifier = audit.public_key(log)
    cp = audit.make_checkpoint(log)
    origin, size, root_b64, blank, signature, end = cp.note().split("\n")
    assert (origin, int(size), blank, end) == (verifier.name, _size(log), "", "")
    assert base64.b64decode(root_b64) == cp.root and len(cp.root) == 32
    assert signature.startswith(f"\u2014 {verifier.name} ")
    raw = base64.b64decode(signature.rsplit(" ", 1)[1])
    assert raw[:4] == verifier.id and len(raw) == 68  # key id || Ed25519 signature
    assert open_note(cp.note(), verifier) == cp.text()
    # the vkey is name+hex(key id)+base64(0x01 || key), and anyone may read it
    _, key_hex, blob = verifier.encode().split("+", 2)
    assert key_hex == verifier.id.hex() and base64.b64decode(blob)[0] == 0x01
    out = _in_home(log, "audit", "public-key")
    assert out.exit_code == 0 and out.output.strip() == verifier.encode()


# --- the witness catches what verify alone cannot -----------------------------------------------


def test_legit_later_checkpoint_is_cosigned_and_the_cosignature_verifies(log: AppContext) -> None:
    code, out = _witness(log, *_db(log))
    assert code == 0, out
    _add(log, 7)
    cp = audit.make_checkpoint(log)
    code, out = _witness(log, "--inbox", str(log.settings.home.parent / "inbox"))
    assert code == 0, out
    witness_key = parse_vkey((log.settings.home.parent / "auditor" / "witness.vkey").read_text())
    line = next(x for x in out.splitlines() if x.startswith("\u2014 "))
    _, signatures = split_note(cp.text() + "\n" + line + "\n")
    stamp = verify_cosignature(cp.text(), signatures[0], witness_key)
    assert stamp > 1_700_000_000 and witness_key.sig_type == 0x04
    # and the cosignature was written back beside the request in the inbox
    back = log.settings.home.parent / "inbox" / f"{cp.tree_size:020d}.cosignature"
    assert back.read_text() == line + "\n"


def test_wiped_log_fails_at_the_witness(log: AppContext) -> None:
    assert _witness(log, *_db(log))[0] == 0
    with log.transaction() as s:
        for table in (AuditEntryRow, CheckpointRow, AuditHeadRow):
            s.execute(delete(table))
    code, out = _witness(log, *_db(log))
    assert code == 1 and "wiped" in out
    # starting over with the real key does not help: the new log is shorter than what was seen
    _add(log, 3, "fresh")
    audit.make_checkpoint(log)
    code, out = _witness(log, *_db(log))
    assert code == 1 and "shorter" in out


def test_cut_tail_with_its_checkpoints_fails_at_the_witness(log: AppContext) -> None:
    first = _size(log)
    _add(log, 9)
    audit.make_checkpoint(log)
    assert _witness(log, *_db(log))[0] == 0
    # Cut the tail and the checkpoints over it, and rebuild the head: verify cannot tell.
    with log.transaction() as s:
        s.execute(delete(AuditEntryRow).where(AuditEntryRow.seq > first))
        s.execute(delete(CheckpointRow).where(CheckpointRow.tree_size > first))
        s.execute(delete(AuditHeadRow))
    code, out = _witness(log, *_db(log))
    assert code == 1 and "shorter" in out


def test_resigned_rewrite_fails_at_the_witness(log: AppContext) -> None:
    code, out = _witness(log, *_db(log))
    assert code == 0, out
    # Someone with root and the real signing key rewrites history and re-signs all of it.
    with log.transaction() as s:
        for row in s.scalars(select(AuditEntryRow)):
            if row.seq == 3:
                row.subject = "nothing-to-see"
            row.leaf_hash = leaf_hash(
                entry_bytes(row.seq, row.at, row.actor, row.kind, row.subject, row.details)
            )
        s.execute(delete(CheckpointRow))
        s.execute(delete(AuditHeadRow))
    audit.make_checkpoint(log)
    verify = CliRunner().invoke(
        app,
        ["audit", "verify", *_db(log), "--public-key", audit.public_key(log).encode()],
    )
    assert verify.exit_code == 0, verify.output  # the rewrite is self-consistent and signed
    code, out = _witness(log, *_db(log))
    assert code == 1 and "rewritten" in out
    # and the push to the witness inbox carried a proof that does not verify either
    code, out = _witness(log, "--inbox", str(log.settings.home.parent / "inbox"))
    assert code == 1 and "rewritten" in out
    refused = list((log.settings.home.parent / "auditor" / "logs").glob("*/refused/*"))
    assert refused  # kept as evidence


# --- the add-checkpoint exchange (c2sp.org/tlog-witness) ---------------------------------


def test_add_checkpoint_refusals_are_typed(log: AppContext, tmp_path: Path) -> None:
    key = audit.public_key(log)
    signer = parse_skey((log.settings.audit_key_dir / PRIVATE_KEY).read_text())
    witness = Witness.open(tmp_path / "w", "witness.example/w1")
    with log.sessions() as s:
        hashes = list(s.scalars(select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq)))

    def checkpoint(size: int, by: SignerKey = signer) -> str:
        return sign_checkpoint(by, size, root(hashes[:size]), "").note()

    witness.add_checkpoint(AddCheckpoint(0, (), checkpoint(5)), key)
    with pytest.raises(WitnessConflictError) as conflict:  # old size is not 5
        witness.add_checkpoint(AddCheckpoint(0, (), checkpoint(9)), key)
    assert conflict.value.latest_size == 5
    bad = tuple(reversed(consistency_proof(hashes[:9], 5)))
    with pytest.raises(WitnessInconsistentError):
        witness.add_checkpoint(AddCheckpoint(5, bad, checkpoint(9)), key)
    mallory = SignerKey.generate(key.name)
    with pytest.raises(WitnessSignatureError):
        witness.add_checkpoint(AddCheckpoint(5, (), checkpoint(9, mallory)), key)
    elsewhere = VerifierKey("other.example/log", 0x01, mallory.private.public_key())
    with pytest.raises(WitnessUnknownLogError):
        witness.add_checkpoint(AddCheckpoint(5, (), checkpoint(9)), elsewhere)
    good = AddCheckpoint(5, tuple(consistency_proof(hashes[:9], 5)), checkpoint(9))
    body = good.encode()
    assert body.startswith("old 5\n") and "\n\n" + key.name + "\n9\n" in body
    done = witness.add_checkpoint(AddCheckpoint.parse(body), key, now=1_700_000_000)
    line = done.cosignature.line()
    raw = base64.b64decode(line.rsplit(" ", 1)[1])
    assert raw[4:12] == (1_700_000_000).to_bytes(8, "big") and len(raw) == 4 + 8 + 64
    assert verify_cosignature(done.checkpoint.text(), done.cosignature, witness.verifier) > 0


# --- the signing key lives apart; ordinary commands never need it -----------------------


def test_signing_key_lives_outside_the_home_readable_only_by_its_owner(log: AppContext) -> None:
    folder = log.settings.audit_key_dir
    home = log.settings.home.resolve()
    assert home not in folder.resolve().parents
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / PRIVATE_KEY).stat().st_mode) == 0o600
    assert not list(home.rglob("*.skey")) and not list(home.rglob("*.pem"))


def test_without_the_key_housekeeping_skips_and_checkpoint_says_why(
    log: AppContext, tmp_path: Path
) -> None:
    away = tmp_path / "elsewhere"
    log.settings.audit_key_dir.rename(away)
    _add(log, 3)
    log.settings.checkpoint_every_entries = 1
    assert checkpoint_if_due(log) is None  # quietly: ordinary commands never need the key
    result = _in_home(log, "audit", "checkpoint")
    assert result.exit_code == 2 and "audit_signing_key_unavailable" in result.output
    log.settings.signing_key_dir = away  # the checkpointer's configuration
    assert checkpoint_if_due(log) is not None


def test_appends_take_positions_from_the_locked_head(log: AppContext) -> None:
    with log.transaction() as s:
        s.execute(delete(AuditHeadRow))  # a home made before the head existed
    _add(log, 4)
    cp = audit.make_checkpoint(log)
    with log.sessions() as s:
        head = s.get(AuditHeadRow, 1)
        hashes = list(s.scalars(select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq)))
    assert head is not None and head.size == len(hashes) == cp.tree_size
    assert cp.root == root(hashes)
