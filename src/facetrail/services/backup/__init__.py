"""Backups and restores of a running installation (``facetrail backup``, ``restore``): the
database by its own online method, the blobs, the index if asked, a manifest of hashes, and
never a key. See ``backup`` and ``restore`` for authorisation and audit."""

from __future__ import annotations

from facetrail.services.backup.backup import BackupReport, BackupRequest, backup
from facetrail.services.backup.manifest import MANIFEST, Manifest
from facetrail.services.backup.restore import RestoreReport, RestoreRequest, restore

__all__ = [
    "MANIFEST",
    "BackupReport",
    "BackupRequest",
    "Manifest",
    "RestoreReport",
    "RestoreRequest",
    "backup",
    "restore",
]
