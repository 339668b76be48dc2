"""Face detectors on onnxruntime: SCRFD (InsightFace) and YuNet (OpenCV zoo).

Both return ``Detection`` objects in the original image's pixel coordinates, highest score
first. Pre-processing (resize/pad) is shared; each model decodes its own output layout.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from facetrail.models.manifest import DetectorSpec
from facetrail.pipeline.faces import Detection

_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class _Canvas:
    image: npt.NDArray[np.uint8]  # padded, resized BGR image fed to the model
    scale: float  # model pixels per image pixel


def _canvas(bgr: npt.NDArray[np.uint8], spec: DetectorSpec) -> _Canvas:
    h, w = bgr.shape[:2]
    if spec.resize == "fixed":
        out_w, out_h = spec.input_size
        scale = min(out_w / w, out_h / h)
    else:
        longer = max(w, h)
        scale = min(max(longer, spec.min_side), spec.max_side) / longer
        out_w = int(np.ceil(w * scale / 32) * 32)
        out_h = int(np.ceil(h * scale / 32) * 32)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = bgr if (new_w, new_h) == (w, h) else cv2.resize(bgr, (new_w, new_h))
    canvas = np.zeros((out_h, out_w, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = resized[:out_h, :out_w]
    return _Canvas(canvas, new_h / h)


def nms(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], threshold: float
) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        iou = inter / (areas[i] + areas[rest] - inter)
        order = [int(j) for j, o in zip(rest, iou, strict=True) if o <= threshold]
    return keep


class Detector(ABC):
    def __init__(self, session: ort.InferenceSession, spec: DetectorSpec) -> None:
        self.session = session
        self.spec = spec
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]

    def detect(self, bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        canvas = _canvas(bgr, self.spec)
        blob = self._blob(canvas.image)
        outputs = dict(
            zip(self.output_names, self.session.run(None, {self.input_name: blob}), strict=True)
        )
        h, w = canvas.image.shape[:2]
        boxes, kps, scores = self._decode(outputs, h, w)
        keep = scores >= self.spec.score_threshold
        boxes, kps, scores = boxes[keep], kps[keep], scores[keep]
        if len(scores) == 0:
            return []
        kept = nms(boxes, scores, self.spec.nms_threshold)
        return [
            Detection(
                bbox=(boxes[i] / canvas.scale).astype(np.float32),
                landmarks=(kps[i] / canvas.scale).astype(np.float32),
                score=float(scores[i]),
            )
            for i in kept
        ]

    @abstractmethod
    def _blob(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]: ...

    @abstractmethod
    def _decode(
        self, outputs: dict[str, npt.NDArray[np.float32]], height: int, width: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """-> boxes (N,4) x1y1x2y2, landmarks (N,5,2), scores (N,), in model pixels."""


@functools.lru_cache(maxsize=64)
def _grid(height: int, width: int, stride: int, repeat: int) -> npt.NDArray[np.float32]:
    rows, cols = height // stride, width // stride
    ys, xs = np.mgrid[:rows, :cols]
    centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32)
    return np.repeat(centres, repeat, axis=0)


class ScrfdDetector(Detector):
    """SCRFD with 3 strides x 2 anchors; outputs are distances in stride units."""

    def _blob(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, 1.0 / 128, (w, h), (127.5, 127.5, 127.5), swapRB=True)
        return np.asarray(blob, dtype=np.float32)

    def _decode(
        self, outputs: dict[str, npt.NDArray[np.float32]], height: int, width: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        values = list(outputs.values())
        all_boxes, all_kps, all_scores = [], [], []
        for i, stride in enumerate(_STRIDES):
            scores = values[i].reshape(-1)
            dist = values[i + 3].reshape(-1, 4) * stride
            kps = values[i + 6].reshape(-1, 10) * stride
            centres = _grid(height, width, stride, 2) * stride
            all_boxes.append(np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], 1))
            all_kps.append(np.repeat(centres, 5, axis=0).reshape(-1, 10) + kps)
            all_scores.append(scores)
        return (
            np.concatenate(all_boxes).astype(np.float32),
            np.concatenate(all_kps).reshape(-1, 5, 2).astype(np.float32),
            np.concatenate(all_scores).astype(np.float32),
        )


class YunetDetector(Detector):
    """YuNet (2023mar): anchor-free; score = sqrt(cls x obj); boxes as offsets + log size."""

    def _blob(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)

    def _decode(
        self, outputs: dict[str, npt.NDArray[np.float32]], height: int, width: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        all_boxes, all_kps, all_scores = [], [], []
        for stride in _STRIDES:
            cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
            obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
            box = outputs[f"bbox_{stride}"].reshape(-1, 4)
            kps = outputs[f"kps_{stride}"].reshape(-1, 10)
            cells = _grid(height, width, stride, 1)
            centre = (cells + box[:, :2]) * stride
            size = np.exp(box[:, 2:]) * stride
            all_boxes.append(np.concatenate([centre - size / 2, centre + size / 2], 1))
            all_kps.append((kps + np.tile(cells, (1, 5))) * stride)
            all_scores.append(np.sqrt(cls * obj))
        return (
            np.concatenate(all_boxes).astype(np.float32),
            np.concatenate(all_kps).reshape(-1, 5, 2).astype(np.float32),
            np.concatenate(all_scores).astype(np.float32),
        )


DETECTORS: dict[str, type[Detector]] = {"scrfd": ScrfdDetector, "yunet": YunetDetector}
