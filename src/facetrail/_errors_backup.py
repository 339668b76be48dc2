"""The typed errors of backups and restores (``facetrail.errors``): a destination that cannot
take a backup, a database tool that is missing or failed, a backup whose files are not the
ones its manifest lists, and a target that is not empty.
"""

from __future__ import annotations

from facetrail._errors_base import FacetrailError, InvalidRequestError, StateError


class BackupError(FacetrailError):
    code = "backup_error"


class BackupDestinationError(BackupError, InvalidRequestError):
    """The folder a backup was asked into cannot take one: it exists and is not empty, it
    cannot be written, or it lies inside the home or a key folder (keys are backed up apart).
    Nothing was written."""

    code = "backup_destination_refused"


class BackupToolMissingError(BackupError):
    """The database's own backup tool (``pg_dump``, ``pg_restore``) is not installed where
    facetrail looks for it (the PATH, then ``/usr/lib/postgresql/*/bin``)."""

    code = "backup_tool_missing"


class BackupFailedError(BackupError):
    """The database's backup or restore tool failed; what it wrote was removed."""

    code = "backup_failed"


class BackupDamagedError(BackupError):
    """A backup's files are not the ones its manifest lists (a file changed, missing or
    added, or the manifest itself unreadable): nothing was restored."""

    code = "backup_damaged"


class RestoreTargetError(BackupError, StateError):
    """A restore goes into an empty home and an empty database only (and a backup of the
    same kind of database, at this facetrail's schema): nothing was written."""

    code = "restore_target_refused"
