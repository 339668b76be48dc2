"""Audit log services: keys, checkpoints, verification, proofs, export.

Authorisation: verification and proofs need no account (they work offline from the database
file and the public key). Making checkpoints needs the signing key, which lives apart from the
home (``Settings.audit_key_dir``) and is readable only by the account that runs
``facetrail audit checkpoint``; every other command runs without it. Asked for through the
API (``make_checkpoint_for``) it also needs an auditor or a system admin.
Audit: making a checkpoint is itself appended as an entry before it is signed; a witness that
cannot be reached is an entry too.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.config import Settings
from facetrail.errors import (
    AuditInputError,
    FacetrailError,
    InvalidRequestError,
    SigningKeyUnavailableError,
)
from facetrail.governance import merkle
from facetrail.governance.audit import AuditEvent, append, locked_head, row_bytes
from facetrail.governance.authority import Permission
from facetrail.governance.checkpoints import (
    PRIVATE_KEY,
    PUBLIC_KEY,
    Checkpoint,
    create_signing_key,
    load_signer,
    load_vkey,
    sign_checkpoint,
    write_vkey,
)
from facetrail.governance.credentials import Principal
from facetrail.governance.note import SignerKey, VerifierKey
from facetrail.governance.restores import LogHead
from facetrail.governance.stored_tree import StoredTree
from facetrail.governance.verify import VerifyReport, stored_checkpoints, verify_log
from facetrail.services.audit.witness import RestorePush, push_checkpoint
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import action, record_refusal, require, system_action
from facetrail.store.read_only import read_only_session
from facetrail.store.schema import AuditEntryRow, CheckpointRow


def public_key_file(ctx: AppContext) -> Path:
    """The log's vkey as kept in the home (public: anyone may read and copy it)."""
    return ctx.settings.home / "keys" / PUBLIC_KEY


def _key_dir(ctx: AppContext) -> Path:
    folder = ctx.settings.audit_key_dir.resolve()
    home = ctx.settings.home.resolve()
    if folder == home or home in folder.parents:
        raise SigningKeyUnavailableError(
            "the audit signing key must live outside the home", subject=str(folder)
        )
    return folder


def ensure_keys(ctx: AppContext) -> Path:
    """Make the log's signing key (outside the home) if there is none, and keep a copy of its
    public vkey in the home; returns the vkey file. Never replaces an existing key."""
    vkey_file = public_key_file(ctx)
    if vkey_file.exists():
        return vkey_file
    folder = _key_dir(ctx)
    try:
        if (folder / PRIVATE_KEY).exists():
            verifier = load_vkey(folder / PUBLIC_KEY)
        else:
            origin = ctx.settings.audit_origin or f"facetrail.invalid/audit/{secrets.token_hex(8)}"
            verifier = create_signing_key(folder, origin)
        write_vkey(vkey_file, verifier)
    except OSError as exc:
        raise SigningKeyUnavailableError(
            f"cannot make the audit signing key ({exc.strerror})", subject=str(folder)
        ) from exc
    return vkey_file


def public_key(ctx: AppContext) -> VerifierKey:
    """The log's public vkey, which anyone may be given to verify checkpoints. No key needed."""
    try:
        return load_vkey(public_key_file(ctx))
    except AuditInputError:
        return load_vkey(_key_dir(ctx) / PUBLIC_KEY)


def log_signer(ctx: AppContext) -> SignerKey:
    """The log's signing key (``SigningKeyUnavailableError`` where this process may not read
    it): what checkpoints and erasure receipts are signed with."""
    return load_signer(_key_dir(ctx))


def make_checkpoint(
    ctx: AppContext, actor: str = "system", *, restored_from: LogHead | None = None
) -> Checkpoint:
    """Append a 'checkpoint' entry, then sign the tree that includes it, in one transaction,
    and push the checkpoint to every witness inbox (``restored_from``: the first checkpoint
    after a restore that shortened the log to that head, pushed with a restore statement).

    Authorisation: whoever can read the signing key (SigningKeyUnavailableError otherwise).
    The root comes from the locked log head, so the log is not re-read.
    """
    signer = load_signer(_key_dir(ctx))
    with system_action(ctx, "audit.checkpoint", "audit-log", actor=actor) as session:
        append(session, AuditEvent(actor, "audit.checkpoint", "audit-log"))
        head = locked_head(session)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        cp = sign_checkpoint(signer, head.size, head.root(), at)
        session.add(
            CheckpointRow(
                tree_size=cp.tree_size,
                root=cp.root,
                at=cp.at,
                key_id=cp.key_id,
                signature=cp.signature,
            )
        )
    if not public_key_file(ctx).exists():
        write_vkey(public_key_file(ctx), signer.verifier)
    restore = None if restored_from is None else RestorePush(restored_from, cp.at, signer)
    push_checkpoint(ctx, cp, restore)
    if ctx.settings.tiles_dir is not None:
        _publish(ctx, ctx.settings.tiles_dir)
    return cp


def _publish(ctx: AppContext, folder: Path) -> None:
    """The new checkpoint's hash tiles into ``folder``; a folder that disagrees with the
    database (``TilesConflictError``) or a full disk is an ``audit.tiles.refused`` entry, and
    the checkpoint stands."""
    from facetrail.services.audit.tiles import publish_tiles  # it reads this module's key

    try:
        publish_tiles(ctx, folder)
    except FacetrailError as error:
        record_refusal(ctx, "system", "audit.tiles", str(folder), error)


def make_checkpoint_for(ctx: AppContext, actor: Principal) -> Checkpoint:
    """``make_checkpoint`` at a signed-in person's request (the API), so that an auditor can
    have the latest entries covered before proving them.

    Authorisation: auditors and system admins (``audit.checkpoint.refused`` otherwise), and
    the serving process must hold the signing key (``SigningKeyUnavailableError`` otherwise,
    which is the normal answer where only the checkpointer holds it). Audit: the
    ``audit.checkpoint`` entry names the person."""
    require(ctx, actor, "audit.checkpoint", "audit-log", Permission.MAKE_CHECKPOINT)
    return make_checkpoint(ctx, actor.username)


def _signing_key_readable(ctx: AppContext) -> bool:
    try:
        return os.access(_key_dir(ctx) / PRIVATE_KEY, os.R_OK)
    except SigningKeyUnavailableError:
        return False


def checkpoint_if_due(ctx: AppContext, *, now: datetime | None = None) -> Checkpoint | None:
    """Make a checkpoint when enough entries or time have passed since the last one.

    Skipped quietly when this process cannot read the signing key: only the checkpointer
    (``facetrail audit checkpoint``, e.g. from cron) holds it.
    """
    if not _signing_key_readable(ctx):
        return None
    now = now or datetime.now(UTC)
    with ctx.sessions() as session:
        size = _log_size(session)
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
    if not due:
        return None
    try:
        return make_checkpoint(ctx)
    except SigningKeyUnavailableError:
        return None


@dataclass(frozen=True)
class InclusionProof:
    entry: int
    tree_size: int
    leaf_hash: str
    root: str
    path: list[str]


def prove_entry(ctx: AppContext, entry: int) -> InclusionProof:
    """Inclusion proof of one entry in the latest checkpointed tree (or, before the first
    checkpoint, the whole log), from O(log n) stored hashes (``StoredTree``): the entry's
    bytes must give its recorded hash, and the proof must lead to the signed root, or it is
    refused (``InvalidRequestError``: the log does not verify there)."""
    with ctx.sessions() as session:
        checkpoints = stored_checkpoints(session)
        row = session.get(AuditEntryRow, entry)
        size = checkpoints[-1].tree_size if checkpoints else _log_size(session)
        if not 1 <= entry <= size or row is None:
            raise InvalidRequestError(f"entry must be in 1..{size}", subject=str(entry))
        leaf = merkle.leaf_hash(row_bytes(row))
        tree = StoredTree(session)
        try:
            path = merkle.inclusion_path(size, entry - 1, tree.range_hash)
            signed = checkpoints[-1].root if checkpoints else tree.range_hash(0, size)
        except LookupError as exc:
            raise InvalidRequestError(f"the log does not verify: {exc}", subject="audit") from exc
    if leaf != bytes(row.leaf_hash) or not merkle.verify_inclusion(
        leaf, entry - 1, size, path, signed
    ):
        raise InvalidRequestError(
            f"the log does not verify at entry {entry}: run 'facetrail audit verify'",
            subject="audit",
        )
    return InclusionProof(entry, size, leaf.hex(), signed.hex(), [p.hex() for p in path])


def _log_size(session: Session) -> int:
    return int(session.scalar(select(func.max(AuditEntryRow.seq))) or 0)


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]
    verified: bool


def prove_consistency(ctx: AppContext, old: int, new: int) -> ConsistencyProof:
    """Consistency proof between stored checkpoints number ``old`` and ``new`` (1-based), from
    O(log n) stored hashes; ``verified``: it leads from the one signed root to the other."""
    with ctx.sessions() as session:
        checkpoints = stored_checkpoints(session)
        if not 1 <= old < new <= len(checkpoints):
            raise InvalidRequestError(
                f"need 1 <= OLD < NEW <= {len(checkpoints)}", subject=f"{old}..{new}"
            )
        a, b = checkpoints[old - 1], checkpoints[new - 1]
        try:
            path = merkle.consistency_path(a.tree_size, b.tree_size, StoredTree(session).range_hash)
        except (LookupError, IndexError) as exc:
            raise InvalidRequestError(f"the log does not verify: {exc}", subject="audit") from exc
    ok = merkle.verify_consistency(a.tree_size, b.tree_size, a.root, b.root, path)
    return ConsistencyProof(
        a.tree_size, b.tree_size, a.root.hex(), b.root.hex(), [p.hex() for p in path], ok
    )


def export_checkpoints(ctx: AppContext) -> str:
    """Checkpoints as JSON for publication outside the system (verify --published FILE);
    each carries its C2SP signed note. Needs only the public key."""
    origin = public_key(ctx).name
    with ctx.sessions() as session:
        cps = stored_checkpoints(session, origin)
    return json.dumps([c.to_json() for c in cps], indent=2)


def load_published(text: str) -> list[Checkpoint]:
    """Checkpoints from ``audit export`` output; AuditInputError when it is not that."""
    try:
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError("a list of checkpoints is expected")
        return [Checkpoint.from_json(c) for c in data]
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditInputError(f"not an exported checkpoint list: {exc}") from exc


def verify_database(
    source: str | Path, verifier: VerifierKey, published: list[Checkpoint] | None = None
) -> VerifyReport:
    """``audit verify`` from outside: every entry, its canonical bytes, every checkpoint (the
    stored ones and ``published``) and every record against its entry, on a database file or
    URL opened read-only. ``AuditInputError`` when it cannot be read."""
    with read_only_session(source) as session:
        return verify_log(session, verifier, published or [])


def default_database(settings: Settings) -> str | Path:
    """What ``audit verify`` and a witness read when not told: the configured database URL,
    else the home's SQLite file."""
    return settings.db_file or settings.db_url


def audit_status(ctx: AppContext, actor: Principal) -> VerifyReport:
    """Verify the whole log as it stands (entries, checkpoints, records against entries), for
    the API and web app. Authorisation: auditors, agency heads and system admins. Audit:
    ``audit.verify`` with the result, after the check; a refusal as ``audit.verify.refused``."""
    require(ctx, actor, "audit.verify", "audit", Permission.VERIFY_LOG)
    with ctx.sessions() as session:
        report = verify_log(session, public_key(ctx))
    with action(ctx, actor, "audit.verify", "audit", Permission.VERIFY_LOG) as (session, _):
        details = {"ok": report.ok, "entries": report.entries}
        append(session, AuditEvent(actor.username, "audit.verify", "audit", details))
    return report


def checkpoint_list(ctx: AppContext) -> list[dict[str, object]]:
    """The stored checkpoints with their C2SP signed notes (public by design: they are what
    witnesses and readers outside hold the log to). Needs only the public key."""
    return list(json.loads(export_checkpoints(ctx)))
