"""The face pipeline's value types: what a detected, measured, templated face is."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]

#: Template kinds. "plain" is the face as seen; later kinds (e.g. "masked", a template of a
#: synthetically masked copy) sit beside it on the same face.
PLAIN = "plain"


@dataclass(frozen=True)
class Detection:
    """A detector's raw answer for one face, in the image's pixel coordinates."""

    bbox: Float32Array  # (4,) x1, y1, x2, y2
    landmarks: (
        Float32Array  # (5, 2): eye, eye, nose tip, mouth corner, mouth corner (image left first)
    )
    score: float

    @property
    def area(self) -> float:
        return float(max(0.0, self.bbox[2] - self.bbox[0]) * max(0.0, self.bbox[3] - self.bbox[1]))

    @property
    def centre(self) -> tuple[float, float]:
        return float(self.bbox[0] + self.bbox[2]) / 2, float(self.bbox[1] + self.bbox[3]) / 2


@dataclass(frozen=True)
class FaceQuality:
    detector_score: float
    inter_eye_px: float
    #: Variance of the Laplacian of the aligned 112x112 crop: low means blurred.
    blur: float
    #: Rough head yaw (degrees, + = turned towards image right) and roll from the landmarks.
    yaw_deg: float
    roll_deg: float


@dataclass(frozen=True)
class Template:
    """An L2-normalised embedding tagged with its pack; never compared across packs."""

    pack: str
    kind: str
    vector: Float32Array

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


@dataclass(frozen=True)
class Face:
    """One face found in an image: where, how good, and its template(s)."""

    index: int
    detection: Detection
    quality: FaceQuality
    templates: dict[str, Template] = field(default_factory=dict)

    def template(self, kind: str = PLAIN) -> Template:
        return self.templates[kind]


def nearest_centre(detections: list[Detection], width: int, height: int) -> int | None:
    """Index of the detection whose box centre is nearest the image centre (the 1:N protocol)."""
    if not detections:
        return None
    cx, cy = width / 2, height / 2
    dists = [(d.centre[0] - cx) ** 2 + (d.centre[1] - cy) ** 2 for d in detections]
    return int(np.argmin(dists))
