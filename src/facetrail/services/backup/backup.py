"""``facetrail backup``: a consistent copy of a running installation in a new folder.

Authorisation: whoever can read the home and the database (an operator with a shell, as for
``db upgrade``); no sign-in. The keys are never copied: a destination inside the home or a
key folder is refused. Audit: the backup is one ``admin.backup`` entry (by ``os:<user>``)
with the manifest's SHA-256, written once the folder is complete; a refused backup is
``admin.backup.refused``. Nothing half-written is left: the backup is written into a hidden
folder beside the destination and renamed into place at the end.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from facetrail._atomic import full_disk
from facetrail.errors import BackupDestinationError, FacetrailError
from facetrail.governance.audit import AuditEvent, append
from facetrail.services.audit.log import public_key
from facetrail.services.backup._databases import (
    PG_DUMP_FILE,
    SQLITE_FILE,
    Snapshot,
    pg_backup,
    sqlite_backup,
)
from facetrail.services.backup.manifest import (
    MANIFEST,
    Manifest,
    Progress,
    copy_hashed,
    copy_tree,
    hash_file,
)
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import refuse, system_action

KIND = "admin.backup"


@dataclass(frozen=True)
class BackupRequest:
    destination: Path
    with_index: bool = False


@dataclass(frozen=True)
class BackupReport:
    destination: str
    manifest_sha256: str
    files: int
    bytes: int
    database: str
    schema: str | None
    audit_size: int
    audit_root: str
    checkpoint_size: int | None
    with_index: bool
    counts: dict[str, int]
    seconds: float


def operator() -> str:
    """Who an operator's command on the machine is logged as."""
    return f"os:{getpass.getuser()}"


def backup(ctx: AppContext, request: BackupRequest, progress: Progress) -> BackupReport:
    """Back the installation of ``ctx`` up into ``request.destination`` (a new or empty
    folder): the database by its own online method, the blobs, the index if asked, and a
    manifest. See the module's docstring for authorisation and audit."""
    started = datetime.now(UTC)
    actor = operator()
    destination = request.destination.expanduser().absolute()
    try:
        _check_destination(ctx, destination)
        staging = _staging_folder(destination)
    except FacetrailError as exc:
        refuse(ctx, actor, KIND, str(destination), exc)
    try:
        manifest = _write(ctx, staging, request.with_index, progress)
        encoded = manifest.encode()
        (staging / MANIFEST).write_bytes(encoded)
        if destination.is_dir():
            destination.rmdir()  # empty, checked: the complete backup takes its place
        staging.rename(destination)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        error: FacetrailError = full_disk(exc, destination, "the backup") or BackupDestinationError(
            f"cannot write the backup ({exc.strerror or exc}); nothing was kept",
            subject=str(destination),
        )
        refuse(ctx, actor, KIND, str(destination), error)
    except FacetrailError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        refuse(ctx, actor, KIND, str(destination), exc)
    digest = hashlib.sha256(encoded).hexdigest()
    total = sum(f.size for f in manifest.files.values())
    details: dict[str, object] = {
        "destination": str(destination),
        "manifest_sha256": digest,
        "files": len(manifest.files),
        "bytes": total,
        "audit_size": manifest.audit["size"],
        "audit_root": manifest.audit["root"],
        "with_index": request.with_index,
    }
    try:
        with system_action(ctx, KIND, destination.name, actor=actor) as session:
            append(session, AuditEvent(actor, KIND, destination.name, details))
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)  # no backup the log does not know of
        raise
    return BackupReport(
        str(destination),
        digest,
        len(manifest.files),
        total,
        manifest.database,
        manifest.schema,
        int(manifest.audit["size"]),
        str(manifest.audit["root"]),
        manifest.audit["checkpoint"]["size"] if manifest.audit["checkpoint"] else None,
        request.with_index,
        manifest.counts,
        (datetime.now(UTC) - started).total_seconds(),
    )


def _check_destination(ctx: AppContext, destination: Path) -> None:
    settings = ctx.settings
    resolved = destination.resolve()
    kept_apart = {
        "the home": settings.home,
        "the audit key folder": settings.audit_key_dir,
        "the secrets key folder": settings.totp_key_file.parent,
    }
    for what, folder in kept_apart.items():
        inside = folder.resolve()
        if resolved == inside or inside in resolved.parents:
            raise BackupDestinationError(
                f"a backup is never written inside {what} ({inside}): the keys are backed "
                "up apart, and a home never holds its own backup",
                subject=str(destination),
            )
    if destination.is_symlink() or (destination.exists() and not destination.is_dir()):
        raise BackupDestinationError("exists and is not a folder", subject=str(destination))
    if destination.is_dir() and any(destination.iterdir()):
        raise BackupDestinationError(
            "exists and is not empty: name a new folder", subject=str(destination)
        )
    if not destination.parent.is_dir():
        raise BackupDestinationError(
            f"the folder it goes in ({destination.parent}) does not exist",
            subject=str(destination),
        )


def _staging_folder(destination: Path) -> Path:
    staging = destination.parent / f".{destination.name}.partial-{secrets.token_hex(4)}"
    try:
        staging.mkdir(mode=0o700)
    except OSError as exc:
        raise BackupDestinationError(
            f"cannot write beside it ({exc.strerror})", subject=str(destination)
        ) from exc
    return staging


def _write(ctx: AppContext, staging: Path, with_index: bool, progress: Progress) -> Manifest:
    settings = ctx.settings
    key = public_key(ctx)
    progress("database: copying")
    if settings.db_file is not None:
        snapshot = sqlite_backup(settings.db_file, staging / SQLITE_FILE, key.name)
        database, name = "sqlite", SQLITE_FILE
    else:
        snapshot = pg_backup(ctx.engine, settings.db_url, staging / PG_DUMP_FILE, key.name)
        database, name = "postgresql", PG_DUMP_FILE
    manifest = Manifest(
        package_version("facetrail"),
        snapshot.schema,
        datetime.now(UTC).isoformat(timespec="seconds"),
        database,
        with_index,
        _audit(snapshot, key.encode()),
        snapshot.counts,
    )
    manifest.files[name] = hash_file(staging / name)
    progress(f"database: {manifest.files[name].size:,} bytes, {snapshot.head.size:,} entries")
    # After the database: every blob a copied row names was on disk before its row committed.
    progress("blobs: copying")
    copy_tree(settings.blob_dir, staging / "blobs", "blobs", manifest.files, progress)
    if with_index:
        progress("index: copying")
        copy_tree(settings.index_dir, staging / "index", "index", manifest.files, progress)
    packs = settings.home / "packs.json"
    if packs.is_file():
        manifest.files["packs.json"] = copy_hashed(packs, staging / "packs.json")
    _fsync_tree(staging)
    return manifest


def _audit(snapshot: Snapshot, vkey: str) -> dict[str, Any]:
    checkpoint = snapshot.checkpoint
    return {
        "origin": vkey.split("+", 1)[0],
        "vkey": vkey,
        "size": snapshot.head.size,
        "root": snapshot.head.root.hex(),
        "checkpoint": None
        if checkpoint is None
        else {
            "size": checkpoint.tree_size,
            "root": checkpoint.root.hex(),
            "note": checkpoint.note(),
        },
    }


def _fsync_tree(folder: Path) -> None:
    """Folders' entries on disk before the rename makes the backup visible."""
    for root, _dirs, _files in os.walk(folder):
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["KIND", "BackupReport", "BackupRequest", "backup", "operator"]
