"""A real full disk for tests: a small tmpfs mounted on a folder (as root), filled to the last
byte with one file, and freed by deleting it. Unmounted by the test that mounted it, whatever
happens; a test skips, saying why, where mounting is not permitted."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["FILLER", "fill", "free", "tmpfs"]

#: The file that takes a mounted disk's last byte.
FILLER = ".filler"


@contextmanager
def tmpfs(folder: Path, size: str = "4m") -> Iterator[Path]:
    """``folder`` (made if need be) with a tmpfs of ``size`` mounted on it for the block."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        pytest.skip("a full disk is made by mounting a tmpfs, which needs root and mount(8)")
    folder.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run([umount, str(folder)], timeout=30, check=True)


def fill(folder: Path) -> int:
    """Take every byte left on the disk holding ``folder`` -> how many were taken."""
    taken = 0
    block = b"\0" * 65536
    with (folder / FILLER).open("ab", buffering=0) as out:
        while len(block) >= 1:
            try:
                taken += out.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                block = block[: len(block) // 2]
    return taken


def free(folder: Path) -> None:
    """Give the disk holding ``folder`` its room back."""
    (folder / FILLER).unlink(missing_ok=True)
