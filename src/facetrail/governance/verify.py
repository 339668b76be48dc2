"""Offline verification of the audit log: from the database and the public key alone.

Every entry's hash is recomputed from its columns, positions must run 1..n without a gap,
and every checkpoint (stored, or published copies given by the caller) must carry a valid
signature of this key over the root of exactly that prefix of the log. The first failure is
reported with the entry (or checkpoint) it concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.audit import entry_bytes
from facetrail.governance.checkpoints import Checkpoint, key_id, signature_ok
from facetrail.governance.merkle import leaf_hash, prefix_roots, root
from facetrail.store.schema import AuditEntryRow, CheckpointRow


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    root: str
    problem: str | None = None
    first_bad_entry: int | None = None
    bad_checkpoint: str | None = None


def stored_checkpoints(session: Session) -> list[Checkpoint]:
    rows = session.scalars(select(CheckpointRow).order_by(CheckpointRow.id)).all()
    return [Checkpoint(r.tree_size, r.root, r.at, r.key_id, r.signature) for r in rows]


def leaves(session: Session) -> tuple[list[bytes], VerifyReport | None]:
    """Recomputed leaf hashes, or a failure naming the first bad entry."""
    out: list[bytes] = []
    stmt = select(
        AuditEntryRow.seq,
        AuditEntryRow.at,
        AuditEntryRow.actor,
        AuditEntryRow.kind,
        AuditEntryRow.subject,
        AuditEntryRow.details,
        AuditEntryRow.leaf_hash,
    ).order_by(AuditEntryRow.seq)
    for position, (seq, at, actor, kind, subject, details, stored) in enumerate(
        session.execute(stmt), start=1
    ):
        if seq != position:
            return out, _fail(
                out, f"entry {position} is missing (next entry found is {seq})", entry=position
            )
        try:
            value = leaf_hash(entry_bytes(seq, at, actor, kind, subject, details))
        except ValueError:
            return out, _fail(out, f"entry {seq} is unreadable (details are not JSON)", entry=seq)
        if value != stored:
            return out, _fail(
                out,
                f"entry {seq} was altered: its content does not match its recorded hash",
                entry=seq,
            )
        out.append(value)
    return out, None


def _fail(
    leaves_so_far: Sequence[bytes],
    problem: str,
    *,
    entry: int | None = None,
    checkpoint: str | None = None,
    checkpoints: int = 0,
) -> VerifyReport:
    return VerifyReport(False, len(leaves_so_far), checkpoints, "", problem, entry, checkpoint)


def verify_log(
    session: Session, public_key: Ed25519PublicKey, published: Sequence[Checkpoint] = ()
) -> VerifyReport:
    """Check every entry and every checkpoint; ``published`` adds checkpoints kept outside."""
    hashes, failure = leaves(session)
    if failure is not None:
        return failure
    checks = [(f"stored #{i}", c) for i, c in enumerate(stored_checkpoints(session), 1)]
    checks += [(f"published #{i}", c) for i, c in enumerate(published, 1)]
    expected_key = key_id(public_key)
    roots = prefix_roots(hashes, [c.tree_size for _, c in checks if c.tree_size <= len(hashes)])
    previous = 0
    for label, cp in checks:
        if cp.key_id != expected_key or not signature_ok(public_key, cp):
            return _fail(
                hashes,
                f"checkpoint {label} (size {cp.tree_size}) is not signed by "
                f"this log's key {expected_key}",
                checkpoint=label,
            )
        if cp.tree_size > len(hashes):
            return _fail(
                hashes,
                f"log truncated: checkpoint {label} covers {cp.tree_size} "
                f"entries, the log has {len(hashes)}",
                entry=len(hashes) + 1,
                checkpoint=label,
            )
        if roots[cp.tree_size] != cp.root:
            first = previous + 1 if label.startswith("stored") else 1
            return _fail(
                hashes,
                f"entries {first}..{cp.tree_size} do not match the signed root "
                f"of checkpoint {label}: an entry there was altered, removed, "
                "reordered or the log was replaced",
                entry=first,
                checkpoint=label,
            )
        if label.startswith("stored"):
            previous = cp.tree_size
    return VerifyReport(True, len(hashes), len(checks), root(hashes).hex())
