from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from facetrail.pipeline.alignment import ARCFACE_TEMPLATE, similarity_transform


@given(
    angle=st.floats(-math.pi, math.pi),
    scale=st.floats(0.2, 5.0),
    tx=st.floats(-200, 200),
    ty=st.floats(-200, 200),
)
def test_recovers_an_exact_similarity(angle: float, scale: float, tx: float, ty: float) -> None:
    rot = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    src = (ARCFACE_TEMPLATE.astype(np.float64) - [tx, ty]) @ np.linalg.inv(rot).T
    m = similarity_transform(src.astype(np.float32), ARCFACE_TEMPLATE)
    mapped = src @ m[:, :2].T + m[:, 2]
    assert np.abs(mapped - ARCFACE_TEMPLATE).max() < 1e-3


def test_uses_all_five_points_least_squares() -> None:
    noisy = ARCFACE_TEMPLATE + np.array(
        [[1, 0], [-1, 0], [0, 1], [0, -1], [0.5, 0.5]], dtype=np.float32
    )
    m = similarity_transform(noisy, ARCFACE_TEMPLATE)
    residual = noisy @ m[:, :2].T + m[:, 2] - ARCFACE_TEMPLATE
    # No single point is dropped: every residual is small and none is zero by fiat.
    assert np.abs(residual).max() < 1.5
