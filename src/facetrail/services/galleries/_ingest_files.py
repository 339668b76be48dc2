"""The files of an ingest: what a folder offers, and what its manifest says, never leaving it.

Private to ``services.galleries.ingest``: the listing and the manifest are where untrusted paths
enter, so every rule about them (see ``facetrail.imaging.intake``) is applied here, in one place.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from facetrail.errors import FacetrailError, ManifestError, PathOutsideFolderError
from facetrail.governance import fields
from facetrail.imaging.intake import list_folder, read_regular_file, resolve_inside


@dataclass(frozen=True)
class FailureInfo:
    file: str
    code: str
    message: str


#: Side files that travel with photo folders (labels, notes, manifests): not offered to the
#: decoder. Anything else is, so a mislabelled or hostile file fails with its own error.
SIDE_FILE_SUFFIXES = frozenset(
    {".csv", ".tsv", ".txt", ".md", ".json", ".xml", ".yaml", ".yml", ".log", ".pdf", ".html"}
)


#: A manifest is a small CSV; anything larger is refused before it is read.
MANIFEST_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ImageFiles:
    """What a folder offers: candidate images, side files, and files refused unread."""

    images: list[Path]
    side_files: list[Path]
    refused: list[FailureInfo]


def list_image_files(root: Path, exclude: Path | None = None) -> ImageFiles:
    """The files under ``root``, sorted; hidden files and the manifest left out.

    Nothing outside ``root`` is ever read: symlinks are not followed (one leading outside, a
    loop or a dangling link is refused; one to a file inside is left out, the file being
    listed where it lies), FIFOs, devices and sockets are refused without being opened, and
    so are names that are not valid text (they could not be stored).
    """
    listing = list_folder(root, exclude=exclude)
    refused = [
        FailureInfo(rel_name(r.path, root), r.error.code, r.error.message) for r in listing.refused
    ]
    files: list[Path] = []
    for path in listing.files:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            refused.append(
                FailureInfo(rel_name(path, root), "file_name_invalid", "the name is not valid text")
            )
            continue
        files.append(path)
    side = [p for p in files if p.suffix.lower() in SIDE_FILE_SUFFIXES]
    images = [p for p in files if p.suffix.lower() not in SIDE_FILE_SUFFIXES]
    return ImageFiles(images, side, refused)


def read_manifest(path: Path, root: Path) -> dict[Path, str]:
    """file -> subject reference. Errors name the manifest and the line.

    Every row names a file inside ``root``: an absolute name, one with ``..`` or one that a
    symlink leads outside ``root`` is refused (``PathOutsideFolderError``), and so is the
    whole manifest. The manifest itself must be a regular file (a FIFO is refused unread).
    """
    try:
        text = read_regular_file(path, MANIFEST_MAX_BYTES).decode("utf-8-sig")
    except FacetrailError as exc:
        raise ManifestError(f"cannot read manifest: {exc.message}", subject=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"the manifest is not UTF-8 text: {exc}", subject=str(path)) from exc
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"file", "subject_ref"} <= set(reader.fieldnames):
        raise ManifestError(
            "manifest needs the columns 'file' and 'subject_ref'", subject=str(path)
        )
    mapping: dict[Path, str] = {}
    for line, row in enumerate(reader, start=2):
        name, ref = (row.get("file") or "").strip(), (row.get("subject_ref") or "").strip()
        if not name or not ref:
            raise ManifestError(f"line {line}: empty file or subject_ref", subject=str(path))
        try:
            target = resolve_inside(root, name)
            ref = fields.check_name("subject_ref", ref)
        except PathOutsideFolderError as exc:
            raise PathOutsideFolderError(
                f"line {line}: {name!r}: {exc.message}; facetrail reads only inside {root}",
                subject=str(path),
            ) from exc
        except FacetrailError as exc:
            raise ManifestError(f"line {line}: {exc}", subject=str(path)) from exc
        if not target.is_file():
            raise ManifestError(f"line {line}: no such file {name!r}", subject=str(path))
        mapping[target] = ref
    return mapping


def rel_name(path: Path, root: Path) -> str:
    try:
        name = str(path.relative_to(root)) if root.is_dir() else path.name
    except ValueError:
        name = str(path)
    return shown(name)


def shown(name: object) -> str:
    """A file name as stored text: names that are not valid Unicode are escaped."""
    text = str(name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(text)[1:-1]
    return text
