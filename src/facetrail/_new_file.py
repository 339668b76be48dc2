"""Files written for the person running facetrail (a disclosure, an export, a receipt, a report,
a face crop, a plot): always a new file of theirs alone, never one that was there before.

Another user of the machine may plant a file at the path in advance (mode 0666, to read what
lands in it) or a symlink (to a file they read, or one the victim may write but should not):
either is refused, never written over or through. The file is created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` and mode 0600, so no one can slip between a check and the
creation, and a file planted after the command checked its output is refused too.
"""

from __future__ import annotations

import os
from pathlib import Path

from facetrail.errors import OutputExistsError, OutputPathError

__all__ = ["EXISTS", "write_new_file"]

#: What a refusal says when something is at the path already.
EXISTS = "exists already: facetrail writes only new files (remove it, or name another)"


def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` (0600) holding ``data``: ``OutputExistsError`` if anything is there
    (a file, a symlink, dangling or not), ``OutputPathError`` if it cannot be made or written
    (a partial file is removed). Both name ``path``."""
    name = str(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise OutputExistsError(EXISTS, subject=name) from None
    except OSError as exc:
        raise OutputPathError(f"cannot be created: {exc.strerror or exc}", subject=name) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        path.unlink(missing_ok=True)  # ours, made above: never half a disclosure left behind
        if isinstance(exc, OSError):
            problem = f"cannot be written: {exc.strerror or exc}"
            raise OutputPathError(problem, subject=name) from exc
        raise
