"""Synthetic face masks drawn from five landmarks, for masked-probe evaluations.

NIST IR 8311 (Ongoing FRVT Part 6A, "face recognition accuracy with masks") measured
masked probes by drawing digital masks on unmasked photos: a few outline shapes (wide,
round), nose coverage (high, medium, low) and colours. We do the same, so that masked
results can be measured on any image set without photographing anyone in a mask.

The mask lives in a face frame built from the landmarks: the x axis runs from the left eye
to the right eye (one unit = the eye distance, eyes at x = -0.5 and +0.5), and the y axis
runs from the eye centre to the mouth centre (one unit = the eye-to-mouth distance). Chin
and face width are fixed multiples of those two distances, and the frame follows roll
(the eye axis) and, roughly, yaw (the nose tip's sideways offset). Landmark order: left-of-
image eye, right-of-image eye, nose tip, left mouth corner, right mouth corner, in pixels.

A style picked by ``mask_style_for(file_name)`` is a pure function of the name, so a
masked evaluation can be repeated exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from facetrail.errors import InvalidRequestError

__all__ = [
    "ALL_COLOURS",
    "ALL_SHAPES",
    "ALL_STYLES",
    "BLACK",
    "LIGHT_BLUE",
    "NAVY_DOTS",
    "WHITE",
    "MaskColour",
    "MaskShape",
    "MaskStyle",
    "apply_synthetic_mask",
    "mask_polygon",
    "mask_style_for",
]

MaskShape = Literal["wide", "medium", "round", "low"]
BGR = tuple[int, int, int]
FloatArray = NDArray[np.float64]

#: wide: pleated surgical mask up to the nose bridge (NIST "high" nose coverage).
#: medium: cloth mask with a centre seam, over the nose tip, bridge left bare.
#: round: cup-shaped (N95/KN95-like) mask, oval outline from nose bridge to under the chin.
#: low: pleated mask worn below the nose: mouth and chin covered, nose bare.
ALL_SHAPES: tuple[MaskShape, ...] = ("wide", "medium", "round", "low")


@dataclass(frozen=True)
class MaskColour:
    """Fabric colour (BGR) and an optional dot print."""

    name: str
    bgr: BGR
    dots_bgr: BGR | None = None


@dataclass(frozen=True)
class MaskStyle:
    """One drawable mask. ``shading=False`` gives NIST's flat single-colour polygon."""

    shape: MaskShape
    colour: MaskColour
    shading: bool = True

    @property
    def name(self) -> str:
        return f"{self.shape}-{self.colour.name}"


LIGHT_BLUE = MaskColour("light_blue", (226, 196, 148))
WHITE = MaskColour("white", (238, 238, 235))
BLACK = MaskColour("black", (40, 38, 38))
NAVY_DOTS = MaskColour("navy_dots", (92, 46, 34), dots_bgr=(226, 226, 230))
ALL_COLOURS: tuple[MaskColour, ...] = (LIGHT_BLUE, WHITE, BLACK, NAVY_DOTS)
ALL_STYLES: tuple[MaskStyle, ...] = tuple(MaskStyle(s, c) for s in ALL_SHAPES for c in ALL_COLOURS)


def mask_style_for(key: str) -> MaskStyle:
    """The style for ``key`` (e.g. an image file name), fixed by its SHA-256."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return ALL_STYLES[int.from_bytes(digest[:8], "big") % len(ALL_STYLES)]


# --- geometry in the face frame -------------------------------------------------------------


@dataclass(frozen=True)
class _Outline:
    """A shape in face-frame units. Pleats: (y at the side, y at the centre) per fold."""

    points: FloatArray
    loops: tuple[tuple[tuple[float, float], tuple[float, float]], ...]
    pleats: tuple[tuple[float, float], ...] = ()
    seam: bool = False
    dome: bool = False


def _pleated(
    top_centre: float, dip: float, top_side: float, half_top: float, half_low: float
) -> FloatArray:
    """Top edge with a peak over the nose (where the nose wire bends), straight sides, and a
    rounded bottom that wraps under the chin (chin ~1.6 eye-to-mouth units below the eyes)."""
    low_y, bottom_y = 1.14, 1.80
    base = top_centre + dip
    x = np.linspace(-half_top, half_top, 41)
    top = base + (top_side - base) * (x / half_top) ** 2 - dip * np.exp(-((x / 0.22) ** 2))
    theta = np.linspace(0.0, np.pi, 41)
    bottom_x = half_low * np.cos(theta)
    bottom_y_arc = low_y + (bottom_y - low_y) * np.sin(theta)
    return np.concatenate(
        [np.stack([x, top], axis=1), np.stack([bottom_x, bottom_y_arc], axis=1)]
    ).astype(np.float64)


def _outline(shape: MaskShape) -> _Outline:
    if shape == "round":
        theta = np.linspace(0.0, 2 * np.pi, 97)[:-1]
        # Egg-shaped: narrower over the nose than over the chin.
        pts = np.stack(
            [0.84 * np.cos(theta) * (1 + 0.10 * np.sin(theta)), 1.0 + 0.77 * np.sin(theta)],
            axis=1,
        )
        loops = (((0.78, 0.62), (1.2, 0.40)), ((0.80, 1.30), (1.2, 0.70)))
        return _Outline(pts.astype(np.float64), loops, dome=True)
    if shape == "medium":
        loops = (((0.97, 0.54), (1.2, 0.38)), ((0.90, 1.12), (1.2, 0.66)))
        return _Outline(_pleated(0.34, 0.08, 0.52, 0.97, 0.90), loops, seam=True)
    if shape == "low":
        loops = (((0.96, 0.74), (1.2, 0.52)), ((0.90, 1.12), (1.2, 0.72)))
        pleats = ((0.84, 0.90), (0.96, 1.18), (1.06, 1.45))
        return _Outline(_pleated(0.66, 0.0, 0.74, 0.96, 0.90), loops, pleats)
    loops = (((0.98, 0.50), (1.2, 0.34)), ((0.90, 1.12), (1.2, 0.64)))
    pleats = ((0.64, 0.58), (0.82, 0.98), (0.99, 1.36))
    return _Outline(_pleated(0.22, 0.16, 0.48, 0.98, 0.90), loops, pleats)


@dataclass(frozen=True)
class _Frame:
    """Affine face frame: pixel = origin + axes @ (x, y), plus the yaw cue."""

    origin: FloatArray
    axes: FloatArray  # columns: eye-to-eye vector, eye-centre-to-mouth-centre vector
    yaw: float  # nose tip's x in the frame, clipped; > 0 when the face turns to image right
    eye_distance: float

    def to_pixels(self, pts: FloatArray) -> FloatArray:
        return self.origin + _warp_for_yaw(pts, self.yaw) @ self.axes.T

    def to_frame(self, pixels: FloatArray) -> FloatArray:
        return (pixels - self.origin) @ np.linalg.inv(self.axes).T


def _frame(landmarks5: NDArray[np.floating]) -> _Frame:
    lm = np.asarray(landmarks5, dtype=np.float64)
    if lm.shape != (5, 2) or not np.all(np.isfinite(lm)):
        raise InvalidRequestError("expected 5 finite (x, y) landmarks", subject="landmarks5")
    eyes = lm[1] - lm[0]
    origin = (lm[0] + lm[1]) / 2
    down = (lm[3] + lm[4]) / 2 - origin
    axes = np.stack([eyes, down], axis=1)
    d = float(np.hypot(*eyes))
    if d < 1.0 or abs(float(np.linalg.det(axes))) < 0.05 * d * d:
        raise InvalidRequestError(
            "landmarks too close or mouth on the eye line", subject="landmarks5"
        )
    nose_x = float((np.linalg.inv(axes) @ (lm[2] - origin))[0])
    return _Frame(origin, axes, float(np.clip(nose_x, -0.3, 0.3)), d)


def _warp_for_yaw(pts: FloatArray, yaw: float) -> FloatArray:
    """Turned faces: the far cheek narrows, the near one widens, and the part of the mask
    over the nose follows the nose, which stands out of the face plane more than the mouth."""
    x, y = pts[:, 0], pts[:, 1]
    x = x * (1 - 1.2 * yaw * np.sign(x))
    ridge = np.exp(-((x / 0.45) ** 2)) * np.clip((1.0 - y) / 0.5, 0.0, 1.0)
    return np.stack([x + 0.8 * yaw * ridge, y], axis=1)


def mask_polygon(landmarks5: NDArray[np.floating], shape: MaskShape) -> NDArray[np.float32]:
    """The mask outline in pixel coordinates, shape (N, 2), for drawing or coverage tests."""
    frame = _frame(landmarks5)
    return frame.to_pixels(_outline(shape).points).astype(np.float32)


# --- drawing --------------------------------------------------------------------------------

_SHIFT = 4  # fixed-point bits for cv2 drawing: sub-pixel outlines on small faces


def _fixed(pts: FloatArray) -> NDArray[np.int32]:
    return np.round(pts * (1 << _SHIFT)).astype(np.int32)


def _coverage(size: tuple[int, int], pts: FloatArray) -> NDArray[np.float32]:
    canvas = np.zeros(size, np.uint8)
    cv2.fillPoly(canvas, [_fixed(pts)], 255, cv2.LINE_AA, _SHIFT)
    return canvas.astype(np.float32) / 255.0


def _stroke(size: tuple[int, int], curves: list[FloatArray], px: float) -> NDArray[np.float32]:
    canvas = np.zeros(size, np.uint8)
    thickness = max(1, round(px))
    cv2.polylines(canvas, [_fixed(c) for c in curves], False, 255, thickness, cv2.LINE_AA, _SHIFT)
    return canvas.astype(np.float32) / 255.0


def _loop_curves(frame: _Frame, outline: _Outline, offset: FloatArray) -> list[FloatArray]:
    curves = []
    for (x0, y0), (x1, y1) in outline.loops:
        for side in (-1.0, 1.0):
            t = np.linspace(0.0, 1.0, 9)[:, None]
            a, b = np.array([side * x0, y0]), np.array([side * x1, y1])
            bulge = np.array([side * 0.05, -0.05])  # loops arc outwards towards the ear
            pts = (1 - t) * a + t * b + 4 * t * (1 - t) * bulge
            curves.append(frame.to_pixels(pts) - offset)
    return curves


def _shading(
    outline: _Outline,
    xy: FloatArray,
    gray: NDArray[np.float32],
    body: NDArray[np.float32],
    d: float,
) -> NDArray[np.float32]:
    """Brightness factor per pixel: a curved surface lit from the front, folds, and the
    photo's own light (a heavily blurred copy of what the mask hides)."""
    x, y = xy[..., 0], xy[..., 1]
    f = 1.0 - 0.22 * np.clip(x / 0.95, -1, 1) ** 2 - 0.06 * ((y - 0.9) / 0.8) ** 2
    if outline.dome:
        r2 = (x / 0.84) ** 2 + ((y - 1.0) / 0.77) ** 2
        f = f + 0.06 - 0.10 * r2 - 0.10 * np.clip((r2 - 0.78) / 0.2, 0, 1)
    fold = 0.9 / d  # about one pixel, in frame units
    for side_y, centre_y in outline.pleats:
        line = side_y + (centre_y - side_y) * (1 - np.clip(np.abs(x) / 0.95, 0, 1) ** 2)
        below = (y - line) / fold
        f = f - 0.20 * np.exp(-((below - 0.6) ** 2)) + 0.07 * np.exp(-((below + 1.2) ** 2))
    if outline.seam:
        seam = x / fold
        f = f - 0.16 * np.exp(-(seam**2)) + 0.05 * np.exp(-((seam - 1.8) ** 2))
    inside = body > 0.5
    if np.any(inside):
        light = cv2.GaussianBlur(gray, (0, 0), 0.45 * d)
        level = float(np.mean(light[inside])) + 1.0
        f = f * np.clip((light + 1.0) / level, 0.65, 1.3) ** 0.5
    return np.clip(f, 0.4, 1.3).astype(np.float32)


def _fabric(
    colour: MaskColour, pixels: FloatArray, frame: _Frame, size: tuple[int, int]
) -> NDArray[np.float32]:
    layer = np.empty((*size, 3), np.float32)
    layer[:] = colour.bgr
    if colour.dots_bgr is None:
        return layer
    # Dots on a staggered grid in eye-distance units along the eye axis, so the print
    # rotates and scales with the face and the dots stay round.
    d = frame.eye_distance
    u = frame.axes[:, 0] / d
    rel = (pixels - frame.origin) / d
    s = rel @ u
    t = rel @ np.array([-u[1], u[0]])
    pitch, radius = 0.2, 0.045
    row = np.floor(t / pitch)
    s = s + 0.5 * pitch * (row % 2)
    ds = s - pitch * np.round(s / pitch)
    dt = t - pitch * (row + 0.5)
    cover = np.clip((radius - np.hypot(ds, dt)) * d + 0.5, 0, 1).astype(np.float32)[..., None]
    dots: NDArray[np.float32] = (
        layer * (1 - cover) + np.asarray(colour.dots_bgr, np.float32) * cover
    )
    return dots


def apply_synthetic_mask(
    bgr: NDArray[np.uint8], landmarks5: NDArray[np.floating], *, style: MaskStyle
) -> NDArray[np.uint8]:
    """A copy of ``bgr`` with a mask over nose (per shape), mouth and chin; input untouched."""
    if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise InvalidRequestError("expected an H x W x 3 uint8 BGR image", subject="bgr")
    frame = _frame(landmarks5)
    outline = _outline(style.shape)
    body_px = frame.to_pixels(outline.points)
    out = bgr.copy()
    loops_px = _loop_curves(frame, outline, np.zeros(2)) if style.shading else []
    everything = np.concatenate([body_px, *loops_px])
    h, w = bgr.shape[:2]
    x0, y0 = np.floor(everything.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(everything.max(axis=0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x0 >= x1 or y0 >= y1:
        return out  # the mask falls outside the image
    roi = out[y0:y1, x0:x1].astype(np.float32)
    size = (y1 - y0, x1 - x0)
    offset = np.array([x0, y0], np.float64)
    body = _coverage(size, body_px - offset)
    gy, gx = np.mgrid[y0:y1, x0:x1]
    pixels = np.stack([gx, gy], axis=-1).astype(np.float64)
    fabric = _fabric(style.colour, pixels, frame, size)
    if style.shading:
        d = frame.eye_distance
        loops = _stroke(size, _loop_curves(frame, outline, offset), 0.035 * d)[..., None]
        loop_bgr = np.asarray(style.colour.bgr, np.float32) * 0.92
        roi = roi * (1 - 0.9 * loops) + loop_bgr * 0.9 * loops
        gray = cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
        f = _shading(outline, frame.to_frame(pixels), gray, body, d)
        edge = _stroke(size, [np.vstack([body_px, body_px[:1]]) - offset], 0.05 * d)
        fabric = fabric * (f * (1 - 0.12 * edge))[..., None]
    alpha = body[..., None]
    roi = roi * (1 - alpha) + fabric * alpha
    out[y0:y1, x0:x1] = np.clip(np.round(roi), 0, 255).astype(np.uint8)
    return out
