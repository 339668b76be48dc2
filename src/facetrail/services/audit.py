"""Audit log services: checkpoints, verification, proofs, export.

Authorisation: verification and proofs need no account (they work offline from the database
file and the public key); making checkpoints needs the signing key in ``$FACETRAIL_HOME``.
Audit: making a checkpoint is itself appended as an entry before it is signed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from facetrail.errors import InvalidRequestError
from facetrail.governance import merkle
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.checkpoints import (
    PUBLIC_KEY,
    Checkpoint,
    create_keys,
    load_private_key,
    sign,
)
from facetrail.governance.verify import leaves, stored_checkpoints
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow, CheckpointRow


def key_folder(ctx: AppContext) -> Path:
    return ctx.settings.home / "keys"


def ensure_keys(ctx: AppContext) -> Path:
    """Create the signing key pair if this home has none; returns the public key file."""
    folder = key_folder(ctx)
    if not (folder / PUBLIC_KEY).exists():
        create_keys(folder)
    return folder / PUBLIC_KEY


def make_checkpoint(ctx: AppContext, actor: str = "system") -> Checkpoint:
    """Append a 'checkpoint' entry, then sign the tree that includes it, in one transaction."""
    key = load_private_key(key_folder(ctx))
    with ctx.transaction() as session:
        append(session, AuditEvent(actor, "audit.checkpoint", "audit-log"))
        hashes = list(session.scalars(select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq)))
        at = datetime.now(UTC).isoformat(timespec="seconds")
        cp = sign(key, len(hashes), merkle.root(hashes), at)
        session.add(
            CheckpointRow(
                tree_size=cp.tree_size,
                root=cp.root,
                at=cp.at,
                key_id=cp.key_id,
                signature=cp.signature,
            )
        )
    return cp


def checkpoint_if_due(ctx: AppContext, *, now: datetime | None = None) -> Checkpoint | None:
    """Make a checkpoint when enough entries or time have passed since the last one."""
    now = now or datetime.now(UTC)
    with ctx.sessions() as session:
        size = int(session.scalar(select(func.max(AuditEntryRow.seq))) or 0)
        last = session.scalars(
            select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1)
        ).first()
    if size == 0 or (last is not None and last.tree_size >= size):
        return None
    settings = ctx.settings
    due = (
        last is None
        or size - last.tree_size >= settings.checkpoint_every_entries
        or (now - datetime.fromisoformat(last.at)).total_seconds()
        >= settings.checkpoint_every_seconds
    )
    if not due or not (key_folder(ctx) / PUBLIC_KEY).exists():
        return None
    return make_checkpoint(ctx)


@dataclass(frozen=True)
class InclusionProof:
    entry: int
    tree_size: int
    leaf_hash: str
    root: str
    path: list[str]


def prove_entry(ctx: AppContext, entry: int) -> InclusionProof:
    """Inclusion proof of one entry in the latest checkpointed tree (or the whole log)."""
    with ctx.sessions() as session:
        hashes, failure = leaves(session)
        if failure is not None:
            raise InvalidRequestError(failure.problem or "log does not verify", subject="audit")
        checkpoints = stored_checkpoints(session)
    size = max((c.tree_size for c in checkpoints), default=len(hashes))
    if not 1 <= entry <= size:
        raise InvalidRequestError(f"entry must be in 1..{size}", subject=str(entry))
    path = merkle.inclusion_proof(hashes[:size], entry - 1)
    return InclusionProof(
        entry,
        size,
        hashes[entry - 1].hex(),
        merkle.root(hashes[:size]).hex(),
        [p.hex() for p in path],
    )


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]
    verified: bool


def prove_consistency(ctx: AppContext, old: int, new: int) -> ConsistencyProof:
    """Consistency proof between stored checkpoints number ``old`` and ``new`` (1-based)."""
    with ctx.sessions() as session:
        hashes, failure = leaves(session)
        checkpoints = stored_checkpoints(session)
    if failure is not None:
        raise InvalidRequestError(failure.problem or "log does not verify", subject="audit")
    if not 1 <= old < new <= len(checkpoints):
        raise InvalidRequestError(
            f"need 1 <= OLD < NEW <= {len(checkpoints)}", subject=f"{old}..{new}"
        )
    a, b = checkpoints[old - 1], checkpoints[new - 1]
    path = merkle.consistency_proof(hashes[: b.tree_size], a.tree_size)
    ok = merkle.verify_consistency(a.tree_size, b.tree_size, a.root, b.root, path)
    return ConsistencyProof(
        a.tree_size, b.tree_size, a.root.hex(), b.root.hex(), [p.hex() for p in path], ok
    )


def export_checkpoints(ctx: AppContext) -> str:
    """Checkpoints as JSON for publication outside the system (verify --published FILE)."""
    with ctx.sessions() as session:
        cps = stored_checkpoints(session)
    return json.dumps([c.to_json() for c in cps], indent=2)


def load_published(text: str) -> list[Checkpoint]:
    return [Checkpoint.from_json(c) for c in json.loads(text)]
