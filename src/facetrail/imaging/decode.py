"""The one way facetrail turns untrusted image bytes into pixels.

Every image — an ingested photo, a search probe, an evaluation pair — comes from outside and
may be hostile: empty, text with an image name, truncated, or a decompression bomb that
declares billions of pixels in a few kilobytes. This module is the single door: it checks
the byte and pixel limits before any pixel is decoded, restricts Pillow to the six formats
facetrail supports (so no exotic plugin ever parses our input), and normalises whatever it
accepts (EXIF orientation, grey, palette, CMYK, 16-bit, alpha) to one shape: HxWx3 uint8
BGR, the OpenCV convention the pipeline uses. Failures are typed ``ImageError`` subclasses
that name the file, never a raw Pillow exception or warning.
"""

from __future__ import annotations

import io
import logging
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, UnidentifiedImageError

from facetrail.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from facetrail.imaging._signatures import (
    SupportedFormat,
    describe_unrecognised,
    sniff_format,
    webp_canvas_size,
)
from facetrail.imaging.intake import read_regular_file

__all__ = ["DecodeLimits", "DecodedImage", "decode_image", "read_image_file"]

_log = logging.getLogger(__name__)

U8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class DecodeLimits:
    """What one image may cost: bytes on disk and pixels once decoded.

    Pillow's own process-wide ``Image.MAX_IMAGE_PIXELS`` still applies as an outer ceiling
    (about 179 million pixels by default); we never raise it, because that would weaken
    Pillow for every other user in the process.
    """

    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 50_000_000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("DecodeLimits need positive max_bytes and max_pixels")


@dataclass(frozen=True)
class DecodedImage:
    """Pixels ready for the pipeline, plus what the file said about them."""

    bgr: np.ndarray  # HxWx3 uint8, C-contiguous, BGR order (OpenCV convention)
    format: str  # "jpeg", "png", "webp", "bmp", "tiff", "gif"
    width: int
    height: int
    exif_orientation: int  # 1 when none/identity; otherwise the EXIF value that was applied
    frames: int  # number of frames in the file (the first frame is used)


# Pillow reports what goes wrong inside a decoder with any of these; on hostile input they
# mean "damaged data", never a facetrail bug (our own failures are ImageError subclasses).
_PILLOW_FAILURES: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)

# The fix for each EXIF orientation, on an HxWxC array stored as the camera wrote it.
_ORIENTATION_FIXES: dict[int, Callable[[U8Array], U8Array]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a[:, ::-1], -1),
    8: lambda a: np.rot90(a, 1),
}

_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

# warnings.catch_warnings swaps process-wide state; without this lock two threads decoding
# at once could restore each other's filters and leave warnings silenced (or escaping).
_WARNINGS_LOCK = threading.Lock()


def decode_image(data: bytes, *, name: str, limits: DecodeLimits | None = None) -> DecodedImage:
    """Decode untrusted image bytes to HxWx3 uint8 BGR, refusing anything unsafe.

    ``name`` (a file name or path) is only used to name the image in errors. Raises an
    ``ImageError`` subclass: ``EmptyImageError``, ``NotAnImageError``,
    ``UnsupportedImageFormatError``, ``ImageTooLargeError`` (bytes, or pixels declared in
    the header — checked before decoding) or ``CorruptImageError``.
    """
    limits = limits or DecodeLimits()
    if not data:
        raise EmptyImageError("the file is empty (0 bytes)", subject=name)
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"the file is {len(data):,} bytes, over the limit of {limits.max_bytes:,} bytes",
            subject=name,
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise describe_unrecognised(data, name)
    if fmt.name == "webp":
        # libwebp allocates the whole canvas when Pillow merely opens the file, so the
        # pixel limit has to be checked on the raw header first.
        size = webp_canvas_size(data)
        if size is not None:
            _check_pixels(size, limits, name)
    return _decode_with_pillow(data, fmt, name, limits)


def read_image_file(
    path: Path, *, limits: DecodeLimits | None = None, follow_symlinks: bool = True
) -> tuple[bytes, DecodedImage]:
    """Read and decode an image file; return its raw bytes (for hashing) and the pixels.

    The file is opened without blocking and must be a regular file (a FIFO, device or socket
    is refused at once, never waited on); its size is checked against ``limits.max_bytes``
    before a single byte is read, so a huge file costs nothing. Errors name ``path``; an
    unreadable, missing or non-regular file raises ``ImageReadError`` (``NotARegularFileError``
    for special files and, with ``follow_symlinks=False``, symlinks).
    """
    limits = limits or DecodeLimits()
    data = read_regular_file(path, limits.max_bytes, follow_symlinks=follow_symlinks)
    return data, decode_image(data, name=str(path), limits=limits)


def _check_pixels(size: tuple[int, int], limits: DecodeLimits, name: str) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"the image declares {width}x{height} = {width * height:,} pixels, over the limit "
            f"of {limits.max_pixels:,}; refused before decoding (possible decompression bomb)",
            subject=name,
        )


@contextmanager
def _pillow_guard(name: str) -> Iterator[None]:
    """Keep Pillow's warnings inside: bomb warnings become errors, the rest are logged."""
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        finally:
            for warning in caught[:5]:
                _log.debug("%s: Pillow warned: %s", name, warning.message)


def _decode_with_pillow(
    data: bytes, fmt: SupportedFormat, name: str, limits: DecodeLimits
) -> DecodedImage:
    with _pillow_guard(name):
        try:
            with Image.open(io.BytesIO(data), formats=[fmt.pillow]) as image:
                _check_pixels(image.size, limits, name)
                # Counting frames seeks through a GIF, which resets a loaded frame: count first.
                frames = int(getattr(image, "n_frames", 1))
                orientation = _exif_orientation(image)
                image.load()
                # Pillow turns TIFFs upright itself while loading and drops the tag; only
                # the orientation still tagged after loading is left for us to undo.
                pending = _exif_orientation(image) if orientation != 1 else 1
                rgb = _to_rgb(image, fmt, name)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLargeError(
                "the image declares more pixels than can be decoded safely; refused before "
                f"decoding (possible decompression bomb). Pillow: {exc}",
                subject=name,
            ) from exc
        except UnidentifiedImageError as exc:
            raise CorruptImageError(
                f"the file starts like a {fmt.label} but its header is damaged", subject=name
            ) from exc
        except _PILLOW_FAILURES as exc:
            raise CorruptImageError(
                f"the {fmt.label} data is damaged or truncated and cannot be decoded ({exc})",
                subject=name,
            ) from exc
    fix = _ORIENTATION_FIXES.get(pending)
    if fix is not None:
        rgb = fix(rgb)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    height, width = bgr.shape[:2]
    return DecodedImage(
        bgr=bgr,
        format=fmt.name,
        width=width,
        height=height,
        exif_orientation=orientation,
        frames=frames,
    )


def _exif_orientation(image: Image.Image) -> int:
    value = image.getexif().get(ExifTags.Base.Orientation)
    # Hostile files put anything in this tag; only the eight defined values mean something.
    if isinstance(value, int) and value in _ORIENTATION_FIXES:
        return value
    return 1


def _to_rgb(image: Image.Image, fmt: SupportedFormat, name: str) -> U8Array:
    """Any Pillow mode -> HxWx3 uint8 RGB; transparency is composited over white."""
    if image.mode in _HIGH_DEPTH_MODES:
        grey = _high_depth_to_uint8(np.asarray(image))
        return np.repeat(grey[:, :, np.newaxis], 3, axis=2)
    try:
        if image.mode in _ALPHA_MODES or "transparency" in image.info:
            return _over_white(np.asarray(image.convert("RGBA")))
        if image.mode == "RGB":
            return np.asarray(image)
        return np.asarray(image.convert("RGB"))
    except ValueError as exc:  # Pillow has no conversion for this mode (e.g. LAB)
        raise UnsupportedImageFormatError(
            f"the {fmt.label} uses colour mode {image.mode}, which facetrail cannot convert to RGB",
            subject=name,
        ) from exc


def _over_white(rgba: U8Array) -> U8Array:
    alpha = rgba[:, :, 3:4].astype(np.uint32)
    colour = rgba[:, :, :3].astype(np.uint32)
    blended = (colour * alpha + 255 * (255 - alpha) + 127) // 255
    return blended.astype(np.uint8)


def _high_depth_to_uint8(values: npt.NDArray[np.generic]) -> U8Array:
    """Scale 16-bit, 32-bit integer or float grey to 0..255.

    16-bit data maps 0..65535 onto 0..255. Integer ("I") data in 0..65535 is treated as
    16-bit (that is what PNG/TIFF 16-bit grey usually becomes). Float data in 0..1 is
    scaled by 255. Anything else has no agreed range, so it is stretched min..max.
    """
    if values.dtype.kind == "f":
        floats = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if floats.size and floats.min() >= 0.0 and floats.max() <= 1.0:
            return np.rint(floats * 255.0).astype(np.uint8)
        return _stretch(floats)
    ints = values.astype(np.int64)
    if ints.size and (ints.min() < 0 or ints.max() > 65535):
        return _stretch(ints.astype(np.float64))
    return ((ints * 255 + 32767) // 65535).astype(np.uint8)


def _stretch(values: npt.NDArray[np.float64]) -> U8Array:
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)
