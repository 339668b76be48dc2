"""Which folders of the server an ingestion may read.

Private to ``services.galleries.ingest`` and ``services.galleries.jobs``. facetrail's own folders
are never read, whoever asks: the home (database, session token), the blobs (every agency's probe
photos and every gallery's images), the index, the models, the audit signing key, the TOTP secrets
and the mail pickup folder; nor is a folder that holds one of them, since an ingestion reads its
folder recursively. A folder named over the service (the API, the web app, a queued job) must
also lie under an import root its operator configured (``Settings.import_roots``); the CLI's
operator, on their own machine, names any other folder. Paths are compared once symlinks and
".." are resolved, so neither leads out of a root or into facetrail's own folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from facetrail.config import Settings
from facetrail.errors import FolderNotAllowedError, InvalidRequestError

__all__ = ["outside_facetrail", "under_import_root"]

_HOW_TO_ALLOW = (
    "the service reads no folder of the server until its operator lists the folders it may "
    'read in FACETRAIL_IMPORT_ROOTS (a JSON list, e.g. ["/srv/intake"])'
)


def _facetrail_folders(settings: Settings) -> dict[str, Path]:
    """facetrail's own folders, each resolved (a blob store linked elsewhere is protected
    where it really lies), the most specific first (a refusal names the one it hit)."""
    folders = {
        "the blob store": settings.blob_dir,
        "the index folder": settings.index_dir,
        "the model cache": settings.model_cache_dir,
        "the audit signing key's folder": settings.audit_key_dir,
        "the secrets folder": settings.totp_key_file.parent,
    }
    if settings.mail_dir is not None:
        folders["the mail pickup folder"] = settings.mail_dir
    folders["the facetrail home"] = settings.home
    return {name: _real(folder) for name, folder in folders.items()}


def _real(path: Path) -> Path:
    """``path`` absolute, with every symlink and ".." resolved (a loop is left unresolved,
    never followed for ever); a name no file can have (a NUL, a lone surrogate) is refused."""
    try:
        return Path(os.path.realpath(path))
    except ValueError as exc:
        raise InvalidRequestError("not a path a file can have", subject=ascii(str(path))) from exc


def outside_facetrail(settings: Settings, path: Path) -> Path:
    """``path`` resolved, unless it is, lies in or holds one of facetrail's own folders
    (``FolderNotAllowedError`` naming ``path`` as given)."""
    real = _real(path)
    folders = _facetrail_folders(settings).items()
    if inside := [name for name, folder in folders if real.is_relative_to(folder)]:
        problem = f"is in {inside[0]}, which is never ingested"
    elif holds := [name for name, folder in folders if folder.is_relative_to(real)]:
        problem = f"holds {holds[-1]}, which is never ingested"  # the widest it holds
    else:
        return real
    raise FolderNotAllowedError(problem, subject=str(path))


def under_import_root(settings: Settings, given: str) -> Path:
    """The folder (or manifest) ``given`` names for an ingestion asked for over the service,
    resolved: an absolute path under an import root, outside facetrail's own folders
    (``FolderNotAllowedError``, or ``InvalidRequestError`` for a relative path)."""
    path = Path(given)
    if not path.is_absolute():
        raise InvalidRequestError(
            "give the folder's whole path on the server, starting with / "
            "(for example /srv/imports/bookings)",
            subject=given,
        )
    roots = [_real(root) for root in settings.import_roots]
    if not roots:
        raise FolderNotAllowedError(_HOW_TO_ALLOW, subject=given)
    if not any(_real(path).is_relative_to(root) for root in roots):
        listed = ", ".join(str(root) for root in roots)
        raise FolderNotAllowedError(
            f"is not under an import root ({listed}) once symlinks and '..' are resolved",
            subject=given,
        )
    if not path.exists():  # told only under an import root: no probing the server's disk
        raise InvalidRequestError("there is no such folder or file on the server", subject=given)
    return outside_facetrail(settings, path)
