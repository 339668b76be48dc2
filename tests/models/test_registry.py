"""A licensed larger model can be plugged in as a custom pack directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facetrail.errors import ModelIntegrityError, ModelPackError
from facetrail.models.registry import get_pack, list_packs, locate, register_pack


def _custom_dir(tmp_path: Path, name: str = "licensed-r100") -> Path:
    base = get_pack("sface", tmp_path)
    folder = tmp_path / name
    folder.mkdir()
    manifest = base.manifest.model_dump(mode="json")
    manifest["name"] = name
    manifest.pop("calibration")
    for role in ("detector", "recognizer"):
        source = locate(base, getattr(base.manifest, role).file)
        assert source is not None
        shutil.copy(source, folder / source.name)
        manifest[role]["file"]["package"] = None
        manifest[role]["file"]["path"] = source.name
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_register_and_use_a_custom_pack(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = _custom_dir(tmp_path)
    register_pack(folder, home)
    assert [p.name for p in list_packs(home)] == ["arcface-mbf", "sface", "licensed-r100"]
    pack = get_pack("licensed-r100", home)
    assert pack.directory == folder.resolve()
    assert locate(pack, pack.manifest.recognizer.file) == folder.resolve() / Path(
        pack.manifest.recognizer.file.path
    )


def test_tampered_or_clashing_packs_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = _custom_dir(tmp_path)
    weights = folder / get_pack("sface", tmp_path).manifest.recognizer.file.path.split("/")[-1]
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelIntegrityError):
        register_pack(folder, home)
    clash = _custom_dir(tmp_path, "other")
    data = json.loads((clash / "manifest.json").read_text())
    data["name"] = "sface"
    (clash / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelPackError, match="built-in"):
        register_pack(clash, home)
    (clash / "manifest.json").write_text("{not json")
    with pytest.raises(ModelPackError, match="manifest"):
        register_pack(clash, home)
