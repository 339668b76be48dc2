"""Write a file so that readers see the old content or the new, never half of it.

A disk with no room left (``ENOSPC``, or the owner's quota: ``EDQUOT``) is a
``StorageFullError`` naming the file: the partial file is removed, and the old content, if
any, stays as it was.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from facetrail.errors import StorageFullError

__all__ = ["FULL_ERRNOS", "full_disk", "write_all_atomically", "write_atomically"]

#: What the operating system says when a disk, or the owner's quota on it, has no room left.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def full_disk(exc: OSError, path: Path, what: str = "a file") -> StorageFullError | None:
    """``exc`` as the typed error a caller is answered with when it says the disk holding
    ``path`` is full; None when it says something else."""
    if exc.errno not in FULL_ERRNOS:
        return None
    return StorageFullError(
        f"cannot write {what}: the disk is full ({exc.strerror}); nothing was stored",
        subject=str(path),
    )


def write_atomically(
    path: Path,
    data: bytes,
    *,
    fsync: bool = True,
    make_parents: bool = True,
    what: str = "a file",
) -> None:
    """Write to a temporary file beside ``path``, then rename it into place.

    ``fsync=False`` is for content-addressed data that a crash can only leave missing, never
    wrong (a process kill keeps the page cache; a power cut may lose the newest blobs).
    ``what`` names the content in a ``StorageFullError``.
    """
    write_all_atomically([(path, data)], fsync=fsync, make_parents=make_parents, what=what)


def write_all_atomically(
    files: Sequence[tuple[Path, bytes]],
    *,
    fsync: bool = True,
    make_parents: bool = True,
    what: str = "a file",
) -> None:
    """``write_atomically`` for several files that belong together (an index and its
    metadata): every one is written to its temporary file before any is renamed into place,
    so a full disk leaves all of the old ones, never a new one beside an old one."""
    written: list[tuple[str, Path]] = []
    current = files[0][0] if files else Path()
    try:
        for path, data in files:
            current = path
            if make_parents:
                path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            written.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and (full := full_disk(exc, current, what)) is not None:
            raise full from exc
        raise
