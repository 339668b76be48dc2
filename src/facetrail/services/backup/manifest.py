"""A backup's manifest: what it holds (every file with its SHA-256 and size), what made it
(facetrail's version, the schema revision, the time) and the audit log it carries (size,
root, the last signed checkpoint), so that a restore can refuse a backup that is not the one
written, before it writes anything.

A backup folder::

    manifest.json
    database/facetrail.db   (SQLite)  or  database/facetrail.dump  (pg_dump -Fc)
    blobs/ab/<sha256>       the photos, content-addressed as in the home
    index/...               only with --with-index (it can be rebuilt from the templates)
    packs.json              the home's registered custom model packs, if any

Never a key: the audit log's signing key and the key that seals second factors live apart
from the home and are backed up apart (docs/operator.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetrail.errors import BackupDamagedError

FORMAT = "facetrail-backup/v1"
MANIFEST = "manifest.json"
#: Bytes read at a time while copying and hashing.
_CHUNK = 1 << 20

#: (files done, files in all) for progress lines.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass
class Manifest:
    facetrail: str
    schema: str | None
    made_at: str
    #: "sqlite" or "postgresql"
    database: str
    with_index: bool
    #: the audit log in the backup: origin, vkey (public), size, root, last checkpoint
    audit: dict[str, Any]
    #: what the backup holds, counted in its own snapshot (``services.backup.counts``)
    counts: dict[str, int]
    files: dict[str, FileEntry] = field(default_factory=dict)

    def encode(self) -> bytes:
        data = {
            "format": FORMAT,
            "facetrail": self.facetrail,
            "schema": self.schema,
            "made_at": self.made_at,
            "database": self.database,
            "with_index": self.with_index,
            "audit": self.audit,
            "counts": self.counts,
            "files": {
                name: {"sha256": f.sha256, "size": f.size} for name, f in sorted(self.files.items())
            },
        }
        return (json.dumps(data, indent=2) + "\n").encode()

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the backup in ``folder``; ``BackupDamagedError`` when there is
        none or it is not one."""
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_bytes())
            if data.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} manifest")
            files = {
                str(name): FileEntry(str(f["sha256"]), int(f["size"]))
                for name, f in data["files"].items()
            }
            return cls(
                str(data["facetrail"]),
                data["schema"],
                str(data["made_at"]),
                str(data["database"]),
                bool(data["with_index"]),
                dict(data["audit"]),
                {str(k): int(v) for k, v in data["counts"].items()},
                files,
            )
        except OSError as exc:
            raise BackupDamagedError(
                f"no readable backup manifest here ({exc.strerror})", subject=str(path)
            ) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupDamagedError(f"not a backup manifest: {exc}", subject=str(path)) from exc


def copy_hashed(source: Path, target: Path) -> FileEntry:
    """Copy ``source`` to ``target`` (0600, a new file), hashing what was copied."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return FileEntry(digest.hexdigest(), size)


def hash_file(path: Path) -> FileEntry:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(digest.hexdigest(), size)


def plain_files(folder: Path) -> list[Path]:
    """The plain files under ``folder`` (links and special files are not followed), sorted;
    none when it does not exist."""
    if not folder.is_dir():
        return []
    found = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return sorted(found)


def copy_tree(
    source: Path, target: Path, prefix: str, files: dict[str, FileEntry], progress: Progress
) -> None:
    """Copy the plain files under ``source`` into ``target``, each listed in ``files`` under
    ``prefix/<its path>``. A file gone while copying (an orphan blob removed) is skipped."""
    listed = plain_files(source)
    for number, path in enumerate(listed, start=1):
        relative = path.relative_to(source).as_posix()
        try:
            files[f"{prefix}/{relative}"] = copy_hashed(path, target / relative)
        except FileNotFoundError:
            continue
        if number % 1000 == 0:
            progress(f"{prefix}: {number:,} of {len(listed):,} files")


def check_files(folder: Path, manifest: Manifest, progress: Progress) -> None:
    """Every file the manifest lists is there with its size and hash, and nothing else is:
    ``BackupDamagedError`` naming the first that is not."""
    present = {p.relative_to(folder).as_posix() for p in plain_files(folder)} - {MANIFEST}
    extra = sorted(present - set(manifest.files))
    if extra:
        raise BackupDamagedError(
            "a file the manifest does not list", subject=str(folder / extra[0])
        )
    for number, (name, expected) in enumerate(sorted(manifest.files.items()), start=1):
        path = folder / name
        if name not in present:
            raise BackupDamagedError("a file the manifest lists is missing", subject=str(path))
        found = hash_file(path)
        if found != expected:
            raise BackupDamagedError(
                f"changed since the backup was made (sha256 {found.sha256[:16]}..., "
                f"{found.size} bytes; the manifest says {expected.sha256[:16]}..., "
                f"{expected.size} bytes)",
                subject=str(path),
            )
        if number % 1000 == 0:
            progress(f"checked {number:,} of {len(manifest.files):,} files")
