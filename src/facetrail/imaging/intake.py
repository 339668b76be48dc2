"""Reading untrusted files and folders without being led astray.

Everything facetrail reads from a folder it was given (photos to ingest, a manifest, a probe)
may be hostile. Three rules hold here, for every caller:

- A file is opened without blocking and checked to be a regular file on the open descriptor
  before one byte is read: a FIFO, device or socket is refused at once (``O_NONBLOCK`` keeps
  ``open`` itself from waiting on a FIFO with no writer), and a path swapped for one after it
  was listed is caught too.
- Listing a folder never leaves it: symlinks are not followed. A link that leads outside the
  folder (to a file or a folder) is refused with ``PathOutsideFolderError``, a loop or dangling
  link with ``BrokenLinkError``; a link to a file inside the folder is left out, since the file
  itself is listed where it lies. Special files are refused with ``NotARegularFileError``.
- A name from a manifest is relative to the folder, has no ``..`` part and resolves inside it.

Refusals are values (``RefusedPath``) in a listing, so one bad entry never stops the rest.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from facetrail.errors import (
    BrokenLinkError,
    FacetrailError,
    ImageReadError,
    ImageTooLargeError,
    InvalidRequestError,
    NotARegularFileError,
    PathOutsideFolderError,
)

__all__ = [
    "FolderListing",
    "RefusedPath",
    "describe_mode",
    "list_folder",
    "open_regular_file",
    "read_regular_file",
    "resolve_inside",
]

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC


@dataclass(frozen=True)
class RefusedPath:
    path: Path
    error: FacetrailError


@dataclass(frozen=True)
class FolderListing:
    """Regular files under a folder (sorted; hidden names left out) and what was refused."""

    files: list[Path] = field(default_factory=list)
    refused: list[RefusedPath] = field(default_factory=list)


def describe_mode(mode: int) -> str:
    """'a FIFO', 'a folder', ...: what a non-regular file is, for messages."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symlink"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def open_regular_file(path: Path, *, follow_symlinks: bool = True) -> int:
    """Open ``path`` read-only without blocking and return the descriptor, checked (fstat) to
    be a regular file. The caller closes it. Raises ``ImageReadError`` subclasses naming the
    path: ``NotARegularFileError`` for a FIFO, device, socket, folder (or, with
    ``follow_symlinks=False``, a symlink)."""
    name = str(path)
    flags = _OPEN_FLAGS | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageReadError("the file does not exist", subject=name) from None
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):
            raise NotARegularFileError("a symlink, which is not followed", subject=name) from exc
        if os.path.isdir(path):
            raise NotARegularFileError("not a regular file (a folder)", subject=name) from exc
        raise ImageReadError(
            f"the file cannot be read: {exc.strerror or exc}", subject=name
        ) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotARegularFileError(f"not a regular file ({describe_mode(mode)})", subject=name)
    return fd


def read_regular_file(path: Path, max_bytes: int, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (checked before reading)."""
    fd = open_regular_file(path, follow_symlinks=follow_symlinks)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise ImageTooLargeError(
                f"the file is {size:,} bytes, over the limit of {max_bytes:,} bytes",
                subject=str(path),
            )
        try:
            # One byte more than allowed: a file that grew since fstat() is still caught.
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise ImageReadError(
                f"the file cannot be read: {exc.strerror or exc}", subject=str(path)
            ) from exc
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"the file grew over {max_bytes:,} bytes", subject=str(path))
    return data


def list_folder(root: Path, *, exclude: Path | None = None) -> FolderListing:
    """Every regular file under ``root`` (or ``root`` itself when it is a file), never
    following a symlink out of it. ``exclude`` (e.g. the manifest) is left out."""
    try:
        info = root.stat()
    except OSError as exc:
        raise InvalidRequestError(
            f"no such file or folder ({exc.strerror or exc})", subject=str(root)
        ) from exc
    if stat.S_ISREG(info.st_mode):
        return FolderListing([root])
    if not stat.S_ISDIR(info.st_mode):
        raise NotARegularFileError(
            f"neither a folder nor a file ({describe_mode(info.st_mode)})", subject=str(root)
        )
    real_root = Path(os.path.realpath(root))
    skip = Path(os.path.realpath(exclude)) if exclude else None
    files: list[Path] = []
    refused: list[RefusedPath] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            error = ImageReadError(f"cannot list: {exc.strerror or exc}", subject=str(folder))
            refused.append(RefusedPath(folder, error))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                link_error = _check_link(path, real_root)
                if link_error is not None:
                    refused.append(RefusedPath(path, link_error))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                if skip is None or Path(os.path.realpath(path)) != skip:
                    files.append(path)
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
                error = NotARegularFileError(
                    f"not a regular file ({describe_mode(mode)}); refused", subject=str(path)
                )
                refused.append(RefusedPath(path, error))
    return FolderListing(sorted(files), sorted(refused, key=lambda r: r.path))


def _check_link(path: Path, real_root: Path) -> FacetrailError | None:
    """None for a link to something inside the folder (listed where it lies, if a file)."""
    try:
        target = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        return BrokenLinkError(
            f"a symlink that loops or points at nothing ({exc.strerror or exc}); refused",
            subject=str(path),
        )
    if not target.is_relative_to(real_root):
        return PathOutsideFolderError(
            "a symlink that leads outside the folder; refused, never followed", subject=str(path)
        )
    return None


def resolve_inside(root: Path, name: str) -> Path:
    """A relative name (e.g. from a manifest) -> its real path inside ``root``.

    Raises ``PathOutsideFolderError`` (subject: the name) for an absolute name, one with a
    ``..`` part, or one that a symlink leads outside ``root``; ``BrokenLinkError`` for a loop.
    """
    pure = PurePath(name)
    if pure.is_absolute() or name.startswith(("/", "\\")) or pure.drive:
        raise PathOutsideFolderError("an absolute path; names are relative", subject=name)
    if ".." in pure.parts or ".." in name.replace("\\", "/").split("/"):
        raise PathOutsideFolderError("a name with '..' is not allowed", subject=name)
    real_root = Path(os.path.realpath(root))
    try:
        target = Path(os.path.realpath(root / pure, strict=True))
    except FileNotFoundError:
        raise InvalidRequestError("no such file", subject=name) from None
    except OSError as exc:
        raise BrokenLinkError(
            f"a symlink that loops ({exc.strerror or exc})", subject=name
        ) from exc
    if not target.is_relative_to(real_root):
        raise PathOutsideFolderError("leads outside the folder (a symlink)", subject=name)
    return target
