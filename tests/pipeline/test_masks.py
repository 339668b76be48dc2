"""Synthetic masks: what they cover, what they leave alone, and that they are reproducible."""

from __future__ import annotations

import math
from collections import Counter

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from facetrail.errors import InvalidRequestError
from facetrail.pipeline.masks import (
    ALL_COLOURS,
    ALL_SHAPES,
    ALL_STYLES,
    NAVY_DOTS,
    MaskColour,
    MaskShape,
    MaskStyle,
    apply_synthetic_mask,
    mask_polygon,
    mask_style_for,
)

FULL_FACE: tuple[MaskShape, ...] = ("wide", "medium", "round")  # these cover the nose tip
PLAIN = [c for c in ALL_COLOURS if c.dots_bgr is None]


def _face(
    centre: tuple[float, float] = (128.0, 110.0),
    eye_distance: float = 40.0,
    angle_deg: float = 0.0,
    yaw: float = 0.0,
) -> NDArray[np.float32]:
    """Five landmarks of an upright face, then rotated about the eye centre.

    Proportions follow the ArcFace alignment template (eye-to-mouth ~1.15 eye distances).
    """
    d, h = eye_distance, 1.15 * eye_distance
    local = np.array(
        [[-0.5 * d, 0], [0.5 * d, 0], [yaw * d, 0.5 * h], [-0.42 * d, h], [0.42 * d, h]]
    )
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    landmarks: NDArray[np.float32] = (local @ rot.T + np.asarray(centre)).astype(np.float32)
    return landmarks


def _photo(size: int = 256, seed: int = 0) -> NDArray[np.uint8]:
    # Texture, so that "untouched" is a real check and not just "still grey".
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, size=(size, size, 3), dtype=np.uint8)


def _pixel(img: NDArray[np.uint8], point: NDArray[np.float32]) -> tuple[int, ...]:
    x, y = (round(float(v)) for v in point)
    return tuple(int(v) for v in img[y, x])


def _eye_disks(img: NDArray[np.uint8], lm: NDArray[np.float32], radius: float) -> NDArray[np.bool_]:
    disks = np.zeros(img.shape[:2], np.uint8)
    for eye in lm[:2]:
        cv2.circle(disks, (round(float(eye[0])), round(float(eye[1]))), round(radius), 1, -1)
    return disks.astype(bool)


@pytest.mark.parametrize("shape", ALL_SHAPES)
@pytest.mark.parametrize("colour", PLAIN, ids=lambda c: c.name)
def test_flat_mask_has_exactly_its_colour_over_mouth_corners(
    shape: MaskShape, colour: MaskColour
) -> None:
    img, lm = _photo(), _face()
    out = apply_synthetic_mask(img, lm, style=MaskStyle(shape, colour, shading=False))
    assert _pixel(out, lm[3]) == colour.bgr
    assert _pixel(out, lm[4]) == colour.bgr
    if shape in FULL_FACE:
        assert _pixel(out, lm[2]) == colour.bgr
    else:  # worn below the nose: the nose tip shows
        assert _pixel(out, lm[2]) == _pixel(img, lm[2])


@pytest.mark.parametrize("style", ALL_STYLES, ids=lambda s: s.name)
def test_shaded_mask_is_close_to_its_colour_and_spares_the_eyes(style: MaskStyle) -> None:
    img, lm = _photo(), _face()
    out = apply_synthetic_mask(img, lm, style=style)
    palette = [style.colour.bgr] + ([style.colour.dots_bgr] if style.colour.dots_bgr else [])
    for point in lm[3:] if style.shape == "low" else lm[2:]:
        got = np.array(_pixel(out, point))
        # Shading (folds, curvature, scene light) stays within ~20 % of the fabric colour.
        assert min(np.abs(got - np.array(c)).max() for c in palette) <= 48
    eyes = _eye_disks(img, lm, radius=0.25 * 40)
    assert np.array_equal(out[eyes], img[eyes])
    # Nothing at all above the lower eyelids changes on an upright face.
    assert np.array_equal(out[: int(lm[0, 1]) + 6], img[: int(lm[0, 1]) + 6])


@settings(max_examples=40, deadline=None)
@given(
    angle=st.floats(-180, 180),
    eye_distance=st.floats(30, 70),
    yaw=st.floats(-0.35, 0.35),
    style=st.sampled_from([s for s in ALL_STYLES if s.colour.dots_bgr is None]),
)
def test_rotated_and_turned_faces_are_masked_along_the_eye_axis(
    angle: float, eye_distance: float, yaw: float, style: MaskStyle
) -> None:
    img = _photo(320)
    lm = _face((160.0, 150.0), eye_distance, angle, yaw)
    flat = MaskStyle(style.shape, style.colour, shading=False)
    out = apply_synthetic_mask(img, lm, style=flat)
    assert _pixel(out, lm[3]) == style.colour.bgr
    assert _pixel(out, lm[4]) == style.colour.bgr
    shaded = apply_synthetic_mask(img, lm, style=style)
    eyes = _eye_disks(img, lm, radius=0.2 * eye_distance)
    assert np.array_equal(shaded[eyes], img[eyes])


def test_rotation_of_image_and_landmarks_rotates_the_mask() -> None:
    img, lm = _photo(), _face((128.0, 128.0))
    style = MaskStyle("wide", PLAIN[0], shading=False)
    upright = apply_synthetic_mask(img, lm, style=style)
    turned_img = np.ascontiguousarray(np.rot90(img))
    # np.rot90 (counter-clockwise) sends (x, y) to (y, W - 1 - x); the eye order swaps
    # nothing here because both eyes move together.
    turned_lm = np.stack([lm[:, 1], img.shape[1] - 1 - lm[:, 0]], axis=1).astype(np.float32)
    turned = apply_synthetic_mask(turned_img, turned_lm, style=style)
    changed_upright = np.any(upright != img, axis=2)
    changed_turned = np.any(turned != turned_img, axis=2)
    overlap = np.logical_and(np.rot90(changed_upright), changed_turned).sum()
    assert overlap / changed_upright.sum() > 0.97


def test_same_input_gives_the_same_pixels() -> None:
    img, lm = _photo(), _face()
    for style in ALL_STYLES:
        assert np.array_equal(
            apply_synthetic_mask(img, lm, style=style), apply_synthetic_mask(img, lm, style=style)
        )


def test_input_array_is_not_modified() -> None:
    img, lm = _photo(), _face()
    before, lm_before = img.copy(), lm.copy()
    out = apply_synthetic_mask(img, lm, style=ALL_STYLES[0])
    assert out is not img
    assert not np.shares_memory(out, img)
    assert np.array_equal(img, before)
    assert np.array_equal(lm, lm_before)


def test_style_for_a_key_is_reproducible_and_spread_over_all_styles() -> None:
    assert mask_style_for("Aaron_Eckhart_0001.jpg") == mask_style_for("Aaron_Eckhart_0001.jpg")
    counts = Counter(mask_style_for(f"Person_{i}_0001.jpg") for i in range(800))
    assert set(counts) == set(ALL_STYLES)
    assert max(counts.values()) < 3 * 800 / len(ALL_STYLES)


def test_style_catalogue() -> None:
    assert len(ALL_STYLES) == len(set(ALL_STYLES)) == len(ALL_SHAPES) * len(ALL_COLOURS)
    assert len({s.name for s in ALL_STYLES}) == len(ALL_STYLES)
    assert {"light_blue", "white", "black"} <= {c.name for c in ALL_COLOURS}
    assert NAVY_DOTS.dots_bgr is not None


@pytest.mark.parametrize("shape", ALL_SHAPES)
def test_polygon_encloses_mouth_and_not_eyes(shape: MaskShape) -> None:
    lm = _face()
    poly = mask_polygon(lm, shape)
    inside = [cv2.pointPolygonTest(poly, (float(x), float(y)), False) > 0 for x, y in lm]
    assert inside[3] and inside[4]
    assert not inside[0] and not inside[1]
    assert inside[2] == (shape in FULL_FACE)


def test_dotted_fabric_shows_both_colours() -> None:
    img, lm = _photo(), _face(eye_distance=60.0)
    out = apply_synthetic_mask(img, lm, style=MaskStyle("wide", NAVY_DOTS, shading=False))
    inside = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(mask_polygon(lm, "wide")).astype(np.int32)], 1)
    pixels = out[cv2.erode(inside, np.ones((5, 5), np.uint8)).astype(bool)]
    assert np.any(np.all(pixels == NAVY_DOTS.bgr, axis=1))
    assert np.any(np.all(pixels == NAVY_DOTS.dots_bgr, axis=1))


def test_mask_outside_the_image_leaves_it_as_it_was() -> None:
    img = _photo(64)
    out = apply_synthetic_mask(img, _face((500.0, 500.0)), style=ALL_STYLES[0])
    assert np.array_equal(out, img)


def test_face_at_the_border_is_clipped_not_refused() -> None:
    img = _photo(128)
    lm = _face((64.0, 110.0))
    out = apply_synthetic_mask(img, lm, style=ALL_STYLES[0])
    assert out.shape == img.shape
    assert np.any(out != img)


@pytest.mark.parametrize(
    "landmarks",
    [
        np.zeros((4, 2), np.float32),
        np.full((5, 2), np.nan, np.float32),
        np.zeros((5, 2), np.float32),  # all on one point: no eye distance
        np.array([[0, 0], [40, 0], [20, 0], [10, 0], [30, 0]], np.float32),  # mouth on eye line
    ],
)
def test_unusable_landmarks_are_refused(landmarks: NDArray[np.float32]) -> None:
    with pytest.raises(InvalidRequestError):
        apply_synthetic_mask(_photo(), landmarks, style=ALL_STYLES[0])


def test_non_bgr_image_is_refused() -> None:
    with pytest.raises(InvalidRequestError):
        apply_synthetic_mask(np.zeros((64, 64), np.uint8), _face(), style=ALL_STYLES[0])
    with pytest.raises(InvalidRequestError):
        apply_synthetic_mask(np.zeros((64, 64, 3), np.float32), _face(), style=ALL_STYLES[0])
