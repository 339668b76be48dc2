"""When a probe's face is too poor to search well, in words an investigator reads before
searching: too small, blurred, or turned away from the camera. The agency's policy decides
whether such a face is searched with a warning or refused (``Policy.low_quality_probes``).

The figures are the pipeline's own (``pipeline.quality``): the distance between the eyes in
the photo's pixels, the sharpness (variance of the Laplacian of the aligned 112 x 112 crop)
and the head's yaw from the landmarks. The limits sit well outside the range of ordinary
photos: on 150 lfw-dev photos (250 x 250, small faces) the eyes were 18 to 28 px apart (1st
to 95th percentile), the sharpness 40 to 300 and the yaw under 43 degrees in 95 of 100; a
copy at 40% of the size had eyes 7 to 11 px apart, a Gaussian blur of sigma 3 a sharpness of
4. A mask is not detected yet.
"""

from __future__ import annotations

__all__ = ["MAX_YAW_DEG", "MIN_INTER_EYE_PX", "MIN_SHARPNESS", "quality_warnings"]

#: Fewer pixels between the eyes than this: the face is upscaled into the model's crop,
#: several times over, and its detail is invented.
MIN_INTER_EYE_PX = 15.0
#: A sharpness under this: the face is blurred (motion, focus, heavy compression).
MIN_SHARPNESS = 15.0
#: Turned further than this from facing the camera: half the face is hidden.
MAX_YAW_DEG = 45.0


def quality_warnings(inter_eye_px: float, sharpness: float, yaw_deg: float) -> list[str]:
    """What makes a face poor to search, each in words (none: fit to search)."""
    found: list[str] = []
    if inter_eye_px < MIN_INTER_EYE_PX:
        found.append(
            f"too small: the eyes are {inter_eye_px:.0f} pixels apart "
            f"({MIN_INTER_EYE_PX:.0f} or more are needed)"
        )
    if sharpness < MIN_SHARPNESS:
        found.append(f"blurred: sharpness {sharpness:.0f} ({MIN_SHARPNESS:.0f} or more is needed)")
    if abs(yaw_deg) > MAX_YAW_DEG:
        found.append(
            f"turned away: about {abs(yaw_deg):.0f} degrees from facing the camera "
            f"({MAX_YAW_DEG:.0f} at most)"
        )
    return found
