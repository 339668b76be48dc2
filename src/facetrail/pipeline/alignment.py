"""5-point similarity alignment to the standard ArcFace 112x112 template."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

#: InsightFace's reference landmark positions for a 112x112 crop (SFace uses the same).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(
    src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst.

    Umeyama (1991), as scikit-image's SimilarityTransform: uses all five points, unlike a
    RANSAC fit that may drop one.
    """
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    var = (sc**2).sum() / len(src)
    scale = (s * d).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align_face(
    bgr: npt.NDArray[np.uint8],
    landmarks: npt.NDArray[np.float32],
    size: tuple[int, int] = (112, 112),
) -> npt.NDArray[np.uint8]:
    """Warp the face so its landmarks land on the ArcFace template (scaled to ``size``)."""
    template = ARCFACE_TEMPLATE * np.array([size[0] / 112, size[1] / 112], dtype=np.float32)
    m = similarity_transform(landmarks, template)
    crop = cv2.warpAffine(bgr, m, size, borderValue=(0, 0, 0))
    return np.asarray(crop, dtype=np.uint8)
