"""The 1:N identification protocol of ``shared/data/README.md``, for any folder laid out as
``<root>/<Identity>/<images>`` (optionally with ``identities.csv``: identity,gender,race)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from facetrail.errors import DatasetError

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Protocol:
    root: Path
    #: identity -> its enrolled image (mates first, then distractors)
    gallery: dict[str, Path]
    #: (identity, image) of each mated probe
    mated: list[tuple[str, Path]]
    #: (identity, image) of each non-mated probe
    nonmated: list[tuple[str, Path]]
    labels: dict[str, dict[str, str]]

    @property
    def images(self) -> list[Path]:
        return [*self.gallery.values(), *(p for _, p in self.mated), *(p for _, p in self.nonmated)]


def _bytewise(names: list[str]) -> list[str]:
    return sorted(names, key=lambda s: s.encode("utf-8"))


def load_protocol(root: Path, limit_identities: int | None = None) -> Protocol:
    """Apply the protocol: sort byte-wise; first image enrolled; singles alternate."""
    if not root.is_dir():
        raise DatasetError("dataset folder not found", subject=str(root))
    identities = _bytewise([p.name for p in root.iterdir() if p.is_dir()])
    if limit_identities is not None:
        identities = identities[:limit_identities]
    files: dict[str, list[Path]] = {}
    for ident in identities:
        names = _bytewise(
            [
                p.name
                for p in (root / ident).iterdir()
                if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
            ]
        )
        if names:
            files[ident] = [root / ident / n for n in names]
    if not files:
        raise DatasetError("no identity folders with images", subject=str(root))
    gallery: dict[str, Path] = {}
    mated: list[tuple[str, Path]] = []
    for ident, paths in files.items():
        if len(paths) >= 2:
            gallery[ident] = paths[0]
            mated += [(ident, p) for p in paths[1:]]
    singles = [ident for ident, paths in files.items() if len(paths) == 1]
    nonmated: list[tuple[str, Path]] = []
    for j, ident in enumerate(singles):
        if j % 2 == 0:
            gallery[ident] = files[ident][0]
        else:
            nonmated.append((ident, files[ident][0]))
    return Protocol(root, gallery, mated, nonmated, _labels(root / "identities.csv"))


def _labels(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "identity" not in reader.fieldnames:
            raise DatasetError("identities.csv needs an 'identity' column", subject=str(path))
        return {
            row["identity"]: {k: v for k, v in row.items() if k != "identity" and v}
            for row in reader
        }
