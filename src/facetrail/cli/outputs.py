"""Files the CLI writes and probes it reads: checked before any service is called, written
as new files of the person running it.

A command that writes a file (``--out``, ``--json``, ``--crops``...) checks first that it can:
otherwise the service would run, read records and write audit entries, and only then would
the write fail, leaving an audited view whose result nobody received. A file to write must
not exist yet (a file planted there by another user, or a symlink, would receive what is
written), and its folder must exist and be writable; a folder to write into must be (or be
creatable inside) a writable folder. The write itself makes a new 0600 file
(``facetrail._new_file``), so a file planted after the check is refused too; that refusal
comes after the service recorded what it showed, so it is audited as
``<kind>.output.refused``. Probe images are read without blocking and only when they are
regular files, so a FIFO given as a probe is refused at once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from facetrail._new_file import EXISTS, write_new_file
from facetrail.errors import OutputExistsError, OutputPathError
from facetrail.imaging.decode import DecodeLimits
from facetrail.imaging.intake import describe_mode, read_regular_file
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import record_refusal

__all__ = [
    "OutputOf",
    "check_output_file",
    "check_output_folder",
    "new_output_folder",
    "outputs_writable",
    "read_probe_bytes",
    "write_output",
]


@dataclass(frozen=True)
class OutputOf:
    """The audited action an output comes from (``kind``, by ``actor``): a refusal to write
    the output is audited after it, so the log says what was shown never reached a file."""

    ctx: AppContext
    actor: str
    kind: str


def write_output(path: Path, data: str | bytes, of: OutputOf | None = None) -> None:
    """Write a command's output to a new 0600 file at ``path`` (text as UTF-8); something
    there already is refused (``OutputExistsError``), and audited when ``of`` is given."""
    body = data.encode("utf-8") if isinstance(data, str) else data
    try:
        write_new_file(path, body)
    except OutputPathError as error:
        if of is not None:
            record_refusal(of.ctx, of.actor, f"{of.kind}.output", str(path), error)
        raise


def new_output_folder(path: Path) -> None:
    """Make folder ``path`` (0700) if it is not there; files go in it with ``write_output``."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot be made: {exc.strerror or exc}", subject=str(path)) from exc


def check_output_file(path: Path) -> None:
    """Raise ``OutputPathError`` (naming ``path``) unless a new file can be written there:
    ``OutputExistsError`` if anything is there already, a symlink included."""
    name = str(path)
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputPathError(f"cannot be checked: {exc.strerror or exc}", subject=name) from exc
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise OutputExistsError(
                "is a symlink; facetrail never writes through one", subject=name
            )
        if not stat.S_ISREG(info.st_mode):
            raise OutputPathError(
                f"is {describe_mode(info.st_mode)}, not a file to write", subject=name
            )
        raise OutputExistsError(EXISTS, subject=name)
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
