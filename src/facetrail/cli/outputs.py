"""Files the CLI writes and probes it reads: checked before any service is called.

A command that writes a file (``--out``, ``--json``, ``--crops``...) checks first that it can:
otherwise the service would run, read records and write audit entries, and only then would
the write fail, leaving an audited view whose result nobody received. A file to write must
not be a folder, a symlink (never written through) or a special file (a FIFO would block),
and its folder must exist and be writable; a folder to write into must be (or be creatable
inside) a writable folder. Probe images are read without blocking and only when they are
regular files, so a FIFO given as a probe is refused at once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from facetrail.errors import OutputPathError
from facetrail.imaging.decode import DecodeLimits
from facetrail.imaging.intake import describe_mode, read_regular_file

__all__ = ["check_output_file", "check_output_folder", "outputs_writable", "read_probe_bytes"]


def check_output_file(path: Path) -> None:
    """Raise ``OutputPathError`` (naming ``path``) unless a new file can be written there."""
    name = str(path)
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputPathError(f"cannot be checked: {exc.strerror or exc}", subject=name) from exc
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise OutputPathError("is a symlink; facetrail never writes through one", subject=name)
        if not stat.S_ISREG(info.st_mode):
            raise OutputPathError(
                f"is {describe_mode(info.st_mode)}, not a file to write", subject=name
            )
        if not os.access(path, os.W_OK):
            raise OutputPathError("exists and is not writable", subject=name)
    _check_folder_writable(path.absolute().parent, name)


def check_output_folder(path: Path) -> None:
    """Raise ``OutputPathError`` unless files can be written in folder ``path`` (it may be
    created, inside the nearest folder that exists)."""
    name = str(path)
    existing = path.absolute()
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing == path.absolute() and not existing.is_dir():
        raise OutputPathError("exists and is not a folder", subject=name)
    _check_folder_writable(existing, name)


def outputs_writable(
    files: Iterable[Path | None] = (), folders: Iterable[Path | None] = ()
) -> None:
    """Check every output a command was given (``None``: not given)."""
    for file in files:
        if file is not None:
            check_output_file(file)
    for folder in folders:
        if folder is not None:
            check_output_folder(folder)


def read_probe_bytes(path: Path) -> bytes:
    """A probe image's bytes: a regular file within the decode byte limit, read without
    blocking (``ImageReadError`` subclasses name the file otherwise)."""
    return read_regular_file(path, DecodeLimits().max_bytes)


def _check_folder_writable(folder: Path, name: str) -> None:
    try:
        info = folder.stat()
    except FileNotFoundError:
        raise OutputPathError(f"its folder {folder} does not exist", subject=name) from None
    except OSError as exc:
        raise OutputPathError(
            f"its folder {folder} cannot be used: {exc.strerror or exc}", subject=name
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise OutputPathError(f"{folder} is not a folder", subject=name)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"its folder {folder} is not writable", subject=name)
