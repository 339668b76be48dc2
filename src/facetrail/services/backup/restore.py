"""``facetrail restore``: a backup brought back into an empty home (and, on PostgreSQL, an
empty database), ending with the same check as ``audit verify``.

Every file is held to the manifest's hash before anything is written; the target must be
empty, of the backup's kind of database and at its schema revision; the log's public key
must already be in the target's key folder (restored apart by the operator), and is what the
restored log is verified with. A restore into an empty target writes all of it or nothing.

Authorisation: whoever can write the home and the database (an operator with a shell). Audit:
an ``admin.restore`` entry in the restored log (by ``os:<user>``), and where the backup is
older than a checkpoint seen before, a signed ``audit.restore`` (``_restore_log``), heads told,
and a new checkpoint sent to the witnesses with the statement. A refused restore is
``admin.restore.refused`` in the target's log where it has one; an empty target has no log to
hold the refusal, which the operator is answered with.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import make_url, select
from sqlalchemy.exc import SQLAlchemyError

from facetrail.config import Settings
from facetrail.errors import (
    AuditInputError,
    BackupDamagedError,
    FacetrailError,
    RestoreTargetError,
    SigningKeyUnavailableError,
)
from facetrail.governance.checkpoints import PUBLIC_KEY, load_signer, load_vkey, write_vkey
from facetrail.governance.note import VerifierKey
from facetrail.governance.restores import LogHead
from facetrail.services.audit.log import default_database, make_checkpoint, verify_database
from facetrail.services.backup._databases import PG_DUMP_FILE, SQLITE_FILE, counts, pg_is_empty
from facetrail.services.backup._databases import pg_restore as run_pg_restore
from facetrail.services.backup._restore_log import KIND, last_seen, record_restore
from facetrail.services.backup.backup import operator
from facetrail.services.backup.manifest import (
    MANIFEST,
    Manifest,
    Progress,
    check_files,
    copy_hashed,
)
from facetrail.services.context import AppContext
from facetrail.services.galleries.indexing import check_indexes, rewrite_index
from facetrail.services.unit_of_work import record_refusal
from facetrail.store.migrations import HEAD
from facetrail.store.schema import Gallery


@dataclass(frozen=True)
class RestoreRequest:
    backup: Path
    #: checkpoints seen before (notes, requests, ``audit export`` JSON), besides the inboxes
    last_checkpoint: tuple[Path, ...] = ()


@dataclass(frozen=True)
class RestoreReport:
    backup: str
    database: str
    #: counted in the restored database before anything was added to it
    counts: dict[str, int]
    #: what the manifest says the backup held
    expected: dict[str, int]
    #: "restored" (checked against the store) or "rebuilt" from the templates
    index: str
    verified: bool
    verify_entries: int
    verify_problem: str | None
    #: the restore shortened the log: backup and previous heads, entries lost
    shortened: dict[str, object] | None = None
    seconds: float = 0.0
    gallery_indexes: dict[str, int] = field(default_factory=dict)

    @property
    def counts_equal(self) -> bool:
        return self.counts == self.expected


def restore(settings: Settings, request: RestoreRequest, progress: Progress) -> RestoreReport:
    """Restore the backup in ``request.backup`` into ``settings``' empty home and database.
    See the module's docstring for authorisation and audit. One restore into a home at a
    time: a second, started while one runs, is refused before it checks or writes anything
    (both would find the home empty; the one that failed would empty it again under the
    other, or both would record a restore)."""
    with _alone(settings.home):
        return _restore(settings, request, progress)


@contextmanager
def _alone(home: Path) -> Iterator[None]:
    """An exclusive lock on a file beside ``home`` (outside it: the home must stay empty),
    held for the whole restore; taken without waiting."""
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f".{home.name}.restoring", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RestoreTargetError(
                "another restore into this home is running: wait for it to end",
                subject=str(home),
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _restore(settings: Settings, request: RestoreRequest, progress: Progress) -> RestoreReport:
    started = datetime.now(UTC)
    folder = request.backup.expanduser().absolute()
    manifest = Manifest.read(folder)
    digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    kind = "sqlite" if settings.db_file is not None else "postgresql"
    try:
        _check_target(settings, manifest, kind)
    except RestoreTargetError as exc:
        _record_refusal(settings, folder, exc)
        raise
    progress(f"checking {len(manifest.files):,} files against the manifest")
    check_files(folder, manifest, progress)
    key = _log_key(settings, manifest)
    backup_head = LogHead(int(manifest.audit["size"]), bytes.fromhex(str(manifest.audit["root"])))
    seen = last_seen(settings, key, request.last_checkpoint)
    shortened = seen if seen is not None and seen.head.size > backup_head.size else None
    signer = None
    if shortened is not None:
        try:  # before anything is written: the restore must be signed
            signer = load_signer(settings.audit_key_dir)
        except SigningKeyUnavailableError as exc:
            raise SigningKeyUnavailableError(
                f"this backup's log ({backup_head.size} entries) is older than a checkpoint of "
                f"{shortened.head.size} entries seen in {shortened.where}: the restore must be "
                f"signed by the log's key ({exc.message})",
                subject=exc.subject,
            ) from exc
    _put_files(settings, folder, manifest, kind, progress)
    write_vkey(settings.home / "keys" / PUBLIC_KEY, key)
    ctx = AppContext.open(settings)
    try:
        with ctx.reads() as session:
            restored = counts(session.connection())
        at = datetime.now(UTC).isoformat(timespec="seconds")
        signed = None if shortened is None or signer is None else (shortened, signer, at)
        statement = record_restore(ctx, operator(), manifest, digest, signed)
        progress("index: checking" if manifest.with_index else "index: rebuilding")
        indexes = _indexes(ctx, manifest.with_index)
        if statement is not None:
            make_checkpoint(ctx, operator(), restored_from=backup_head)
    finally:
        ctx.close()
    progress("verifying the audit log")
    report = verify_database(default_database(settings), key)
    return RestoreReport(
        str(folder),
        kind,
        restored,
        manifest.counts,
        "restored" if manifest.with_index else "rebuilt",
        report.ok,
        report.entries,
        report.problem,
        None
        if statement is None
        else {
            "backup": statement.backup.to_json(),
            "previous": statement.previous.to_json(),
            "lost": statement.lost,
            "previous_seen_in": shortened.where if shortened else "",
        },
        (datetime.now(UTC) - started).total_seconds(),
        indexes,
    )


def _check_target(settings: Settings, manifest: Manifest, kind: str) -> None:
    if manifest.database != kind:
        raise RestoreTargetError(
            f"the backup holds a {manifest.database} database, this home is set up for "
            f"{kind} (FACETRAIL_DATABASE_URL)",
            subject=str(settings.home),
        )
    if manifest.schema != HEAD:
        raise RestoreTargetError(
            f"the backup is at schema revision {manifest.schema}, this facetrail needs {HEAD}: "
            f"restore it with facetrail {manifest.facetrail}, then run 'facetrail db upgrade'",
            subject=str(manifest.schema),
        )
    home = settings.home
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise RestoreTargetError(
            "is not empty: a restore goes into an empty (or new) home", subject=str(home)
        )
    if kind == "postgresql":
        shown = make_url(settings.db_url).render_as_string(hide_password=True)
        try:
            empty = pg_is_empty(settings.db_url)
        except SQLAlchemyError as exc:
            raise RestoreTargetError(
                f"cannot be read ({type(exc).__name__}): a restore needs an empty database",
                subject=shown,
            ) from exc
        if not empty:
            raise RestoreTargetError(
                "holds tables already: a restore goes into an empty database", subject=shown
            )


def _log_key(settings: Settings, manifest: Manifest) -> VerifierKey:
    """The log's public key from the target's key folder, which must be this log's."""
    folder = settings.audit_key_dir
    try:
        key = load_vkey(folder / PUBLIC_KEY)
    except AuditInputError as exc:
        raise SigningKeyUnavailableError(
            "the audit log's key folder is not in place: restore it from where it is kept "
            "apart (docs/operator.md) before the backup; the restored log is verified with it",
            subject=str(folder),
        ) from exc
    if manifest.audit.get("vkey") not in (None, key.encode()):
        raise RestoreTargetError(
            f"the key folder holds the key of another log ({key.name}); the backup's log is "
            f"{manifest.audit.get('origin')}",
            subject=str(folder),
        )
    return key


def _put_files(
    settings: Settings, folder: Path, manifest: Manifest, kind: str, progress: Progress
) -> None:
    """Copy the backup's files into the empty home (each held to its hash again as it is
    copied), the database last; on any failure the home is left empty again."""
    home = settings.home
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    progress("files: copying")
    try:
        for number, (name, expected) in enumerate(sorted(manifest.files.items()), start=1):
            if name in (SQLITE_FILE, PG_DUMP_FILE):
                continue
            if copy_hashed(folder / name, home / name) != expected:
                raise BackupDamagedError(
                    "changed while it was restored", subject=str(folder / name)
                )
            if number % 1000 == 0:
                progress(f"files: {number:,} of {len(manifest.files):,}")
        progress("database: restoring")
        if kind == "sqlite":
            assert settings.db_file is not None
            staged = home / ".facetrail.db.restoring"
            if copy_hashed(folder / SQLITE_FILE, staged) != manifest.files[SQLITE_FILE]:
                raise BackupDamagedError("changed while it was restored", subject=SQLITE_FILE)
            staged.rename(settings.db_file)
        else:
            run_pg_restore(settings.db_url, folder / PG_DUMP_FILE)
    except (OSError, FacetrailError) as exc:
        for entry in list(home.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RestoreTargetError(
                f"cannot write the home ({exc.strerror or exc}); nothing was kept",
                subject=str(home),
            ) from exc
        raise


def _indexes(ctx: AppContext, restored: bool) -> dict[str, int]:
    """Each gallery's index: the restored files checked against the store (and rebuilt where
    they disagree, as the service's own check does), or rebuilt from the templates."""
    if restored:
        return {report.gallery: report.entries for report in check_indexes(ctx)}
    out = {}
    with ctx.sessions() as session:
        for gallery in list(session.scalars(select(Gallery).order_by(Gallery.id))):
            out[gallery.name] = rewrite_index(ctx, session, gallery)
    return out


def _record_refusal(settings: Settings, folder: Path, error: FacetrailError) -> None:
    """A refused restore into a home or database that holds an installation is recorded in
    its log (someone tried to restore over it); elsewhere there is no log to hold it."""
    if settings.db_file is not None:
        has_log = settings.db_file.is_file()
    else:  # never one made here: opening an empty database would make the schema in it
        try:
            has_log = settings.home.is_dir() and not pg_is_empty(settings.db_url)
        except SQLAlchemyError:
            has_log = False
    if not has_log:
        return
    try:
        ctx = AppContext.open(settings)
    except (FacetrailError, SQLAlchemyError, OSError):
        return  # not a facetrail database (or not this version's): nothing to record into
    try:
        record_refusal(ctx, operator(), KIND, str(folder), error)
    except (FacetrailError, SQLAlchemyError):
        pass
    finally:
        ctx.close()
