"""What a restore says in the restored log: an ``admin.restore`` entry always, and when the
backup is older than a checkpoint seen before (in a witness inbox, or a file the operator
gives), a signed ``audit.restore`` entry naming the backup's head, that checkpoint and the
entries lost, which the agencies' heads are told of. The first checkpoint after it goes to
the witnesses with a restore statement (``services.audit.witness``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from facetrail.config import Settings
from facetrail.errors import AuditInputError, NoteError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.checkpoints import Checkpoint, parse_checkpoint, signature_ok
from facetrail.governance.note import SignerKey, VerifierKey
from facetrail.governance.restores import LogHead, RestoreStatement
from facetrail.governance.witness import AddCheckpoint
from facetrail.services.audit.witness import RESTORE_KIND, last_pushed
from facetrail.services.backup.manifest import Manifest
from facetrail.services.context import AppContext
from facetrail.services.notifications import notify_head
from facetrail.services.unit_of_work import system_action
from facetrail.store.schema import Agency

KIND = "admin.restore"


@dataclass(frozen=True)
class SeenCheckpoint:
    head: LogHead
    #: where it was seen: a witness inbox or a file
    where: str


def last_seen(
    settings: Settings, key: VerifierKey, files: tuple[Path, ...]
) -> SeenCheckpoint | None:
    """The largest checkpoint of this log (signed by ``key``) in the witness inboxes and in
    ``files`` (a signed checkpoint note, an add-checkpoint request or ``audit export`` JSON).
    ``AuditInputError`` when a file given cannot be read as one of those."""
    found: list[SeenCheckpoint] = []
    for inbox in settings.witness_dirs:
        try:
            request = last_pushed(inbox) if inbox.is_dir() else None
            if request is not None:
                found.extend(_signed(key, [request.note], str(inbox)))
        except (OSError, AuditInputError):
            continue  # an inbox out of reach says nothing; the file option is there for it
    for path in files:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditInputError("cannot read this checkpoint file", subject=str(path)) from exc
        signed = _signed(key, _notes(text), str(path))
        if not signed:
            raise AuditInputError(
                "holds no checkpoint signed by this log's key (a signed note, an "
                "add-checkpoint request or 'audit export' JSON)",
                subject=str(path),
            )
        found.extend(signed)
    return max(found, key=lambda seen: seen.head.size, default=None)


def _notes(text: str) -> list[str]:
    if text.lstrip().startswith("["):
        try:
            return [str(item["note"]) for item in json.loads(text)]
        except (ValueError, KeyError, TypeError):
            return []
    if text.startswith("old "):
        try:
            return [AddCheckpoint.parse(text).note]
        except AuditInputError:
            return []
    return [text]


def _signed(key: VerifierKey, notes: list[str], where: str) -> list[SeenCheckpoint]:
    out = []
    for note in notes:
        try:
            checkpoint: Checkpoint = parse_checkpoint(note)
        except NoteError:
            continue
        if signature_ok(key, checkpoint):
            out.append(SeenCheckpoint(LogHead(checkpoint.tree_size, checkpoint.root), where))
    return out


def record_restore(
    ctx: AppContext,
    actor: str,
    manifest: Manifest,
    manifest_sha256: str,
    shortened: tuple[SeenCheckpoint, SignerKey, str] | None,
) -> RestoreStatement | None:
    """In one action: ``admin.restore``, and for a restore that shortened the log the signed
    ``audit.restore`` with notices to every agency's head. ``shortened``: the checkpoint seen
    before, the log's signing key and the time to state."""
    backup = LogHead(int(manifest.audit["size"]), bytes.fromhex(str(manifest.audit["root"])))
    subject = f"backup:{manifest.made_at}"
    with system_action(ctx, KIND, subject, actor=actor) as session:
        details: dict[str, object] = {
            "manifest_sha256": manifest_sha256,
            "made_at": manifest.made_at,
            "facetrail": manifest.facetrail,
            "audit_size": backup.size,
            "audit_root": backup.root.hex(),
        }
        append(session, AuditEvent(actor, KIND, subject, details))
        if shortened is None:
            return None
        seen, signer, at = shortened
        statement = RestoreStatement(signer.name, backup, seen.head, at)
        append(
            session,
            AuditEvent(
                actor,
                RESTORE_KIND,
                "audit-log",
                {
                    "backup": statement.backup.to_json(),
                    "previous": statement.previous.to_json(),
                    "previous_seen_in": seen.where,
                    "lost": statement.lost,
                    "statement": statement.sign(signer),
                },
            ),
        )
        body = (
            f"The audit log was restored from a backup made {manifest.made_at}. It held "
            f"{backup.size} entries; a checkpoint of {seen.head.size} entries had been signed "
            f"before (seen in {seen.where}), so {statement.lost} entries recorded after the "
            "backup are lost. The restore is recorded as a signed audit.restore entry and "
            "the witnesses are sent the statement with the next checkpoint."
        )
        for agency_id in session.scalars(select(Agency.id).order_by(Agency.id)):
            notify_head(
                session, agency_id, f"audit log restored: {statement.lost} entries lost", body
            )
    return statement
