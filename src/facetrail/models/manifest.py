"""Model pack manifests: what a pack is made of, where its files come from, how to feed them.

A pack = one detector + one recognizer + calibration. Built-in packs ship as JSON in
``facetrail/packs/`` and point at files inside installed PyPI packages (never a download);
a custom pack is a directory holding ``manifest.json`` and its model files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from facetrail.errors import ModelPackError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelFile(_Frozen):
    """One ONNX file: either inside an installed Python package or relative to the pack dir."""

    package: str | None = None
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int | None = None
    #: Graph rewrites applied once into the model cache (see models/prepare.py).
    prepare: tuple[str, ...] = ()


class DetectorSpec(_Frozen):
    kind: Literal["scrfd", "yunet"]
    file: ModelFile
    #: "fixed": letterbox into ``input_size``; "native": the image's own size rounded up to 32,
    #: enlarged or reduced so its longer side lies within [min_side, max_side].
    resize: Literal["fixed", "native"] = "fixed"
    input_size: tuple[int, int] = (640, 640)
    min_side: int = 160
    max_side: int = 640
    score_threshold: float = 0.5
    nms_threshold: float = 0.4


class RecognizerSpec(_Frozen):
    kind: Literal["arcface"] = "arcface"
    file: ModelFile
    input_size: tuple[int, int] = (112, 112)
    #: pixel -> (pixel - mean) / std, channels in ``channels`` order.
    mean: float = 127.5
    std: float = 127.5
    channels: Literal["rgb", "bgr"] = "rgb"
    embedding_dim: int
    max_batch: int = 32


class Calibration(_Frozen):
    """Measured score -> false match rate table (1:1 impostor comparisons).

    ``scores`` ascending; ``fmr[i]`` = share of impostor pairs scoring >= scores[i].
    """

    dataset: str
    impostor_pairs: int
    genuine_pairs: int
    scores: tuple[float, ...]
    fmr: tuple[float, ...]
    measured_with: str = ""


class PackManifest(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: int = 1
    description: str
    licence: str
    licence_note: str = ""
    detector: DetectorSpec
    recognizer: RecognizerSpec
    calibration: Calibration | None = None

    @property
    def embedding_dim(self) -> int:
        return self.recognizer.embedding_dim


def load_manifest(path: Path) -> PackManifest:
    """Read and validate a manifest file; errors name the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelPackError(f"cannot read pack manifest: {exc}", subject=str(path)) from exc
    try:
        return PackManifest.model_validate(raw)
    except ValidationError as exc:
        raise ModelPackError(f"invalid pack manifest: {exc}", subject=str(path)) from exc
