"""Face quality measures from landmarks and the aligned crop (cheap, no extra model)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from facetrail.pipeline.faces import Detection, FaceQuality


def measure_quality(detection: Detection, crop: npt.NDArray[np.uint8]) -> FaceQuality:
    lm = detection.landmarks.astype(np.float64)
    eye_l, eye_r, nose = lm[0], lm[1], lm[2]
    axis = eye_r - eye_l
    inter_eye = float(np.hypot(*axis))
    roll = math.degrees(math.atan2(axis[1], axis[0]))
    # Yaw: how far the nose tip sits from the eyes' midline, in half inter-eye distances.
    if inter_eye > 0:
        unit = axis / inter_eye
        offset = float(np.dot(nose - (eye_l + eye_r) / 2, unit)) / (inter_eye / 2)
        yaw = math.degrees(math.asin(max(-1.0, min(1.0, offset))))
    else:
        yaw = 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    blur = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return FaceQuality(
        detector_score=detection.score,
        inter_eye_px=inter_eye,
        blur=blur,
        yaw_deg=yaw,
        roll_deg=roll,
    )
