"""A corpus of hostile and awkward image files, built from one real face photo.

Every case is generated here (Pillow, numpy, zlib) so nothing is downloaded, and the
decompression bombs are written by streaming zlib so building them never needs the memory
they would take to decode. Tests import :func:`make_hostile_corpus`; ``CASES`` lists the
file names with the error code each must produce (``None``: it must decode).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from facetrail.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    UnsupportedImageFormatError,
)

CASES: dict[str, str | None] = {
    # must decode
    "face.jpg": None,
    "face.webp": None,
    "face_lossless.webp": None,
    "face.bmp": None,
    "face.tiff": None,
    "face_cmyk.jpg": None,
    "face_16bit_grey.png": None,
    "face_16bit_rgb.png": None,
    "face_rgba.png": None,
    "face_animated.gif": None,
    "face_exif_rotated.jpg": None,  # stored turned 90° CCW, EXIF orientation 6 turns it back
    "face_exif_upright.png": None,  # the upright reference for the case above
    # must be refused
    "truncated.jpg": CorruptImageError.code,
    "truncated.png": CorruptImageError.code,
    "bad_crc.png": CorruptImageError.code,
    "empty.jpg": EmptyImageError.code,
    "text.jpg": NotAnImageError.code,
    "random_bytes.png": NotAnImageError.code,
    "bomb_20000x20000.png": ImageTooLargeError.code,  # 1-bit, ~50 KB; over Pillow's own limit
    "bomb_10000x10000.png": ImageTooLargeError.code,  # in the zone where Pillow only warns
    "bomb_8000x8000.png": ImageTooLargeError.code,  # only facetrail's limit refuses it
    "giant_20000x20000_grey.png": ImageTooLargeError.code,  # real 8-bit gradient, 400 MP
    "bomb_16384x16384.webp": ImageTooLargeError.code,  # header only; libwebp would allocate
    "photo.heic": UnsupportedImageFormatError.code,
    "face.ico": UnsupportedImageFormatError.code,
}


def make_hostile_corpus(folder: Path, face_jpeg: bytes) -> dict[str, str | None]:
    """Write every case of ``CASES`` into ``folder``; return {file name: expected code}."""
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(io.BytesIO(face_jpeg)) as opened:
        face = opened.convert("RGB")
    rgb = np.asarray(face)
    files = {
        "face.jpg": face_jpeg,
        "face.webp": _save(face, "WEBP", quality=90),
        "face_lossless.webp": _save(face, "WEBP", lossless=True),
        "face.bmp": _save(face, "BMP"),
        "face.tiff": _save(face, "TIFF"),
        "face_cmyk.jpg": _save(face.convert("CMYK"), "JPEG", quality=95),
        "face_16bit_grey.png": _save(
            Image.fromarray(np.asarray(face.convert("L")).astype(np.uint16) * 257), "PNG"
        ),
        "face_16bit_rgb.png": _png_16bit_rgb(rgb),
        "face_rgba.png": _save(_with_round_alpha(face), "PNG"),
        "face_animated.gif": _animated_gif(face),
        **_exif_rotated_pair(face),
        "truncated.jpg": face_jpeg[: len(face_jpeg) // 2],
        "truncated.png": (png := _save(face, "PNG"))[: len(png) // 2],
        "bad_crc.png": _flip_byte_in_idat(png),
        "empty.jpg": b"",
        "text.jpg": b"This is a shopping list, not a photo.\nmilk\neggs\n",
        "random_bytes.png": np.random.default_rng(7).integers(0, 256, 4096, np.uint8).tobytes(),
        "bomb_20000x20000.png": _zero_png(20000, 20000),
        "bomb_10000x10000.png": _zero_png(10000, 10000),
        "bomb_8000x8000.png": _zero_png(8000, 8000),
        "giant_20000x20000_grey.png": _giant_gradient_png(20000, 20000),
        "bomb_16384x16384.webp": _webp_vp8x_header(16384, 16384),
        "photo.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
        "face.ico": _save(face.resize((64, 64)), "ICO"),
    }
    assert files.keys() == CASES.keys()
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    return dict(CASES)


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _with_round_alpha(face: Image.Image) -> Image.Image:
    """Opaque disc in the middle, fully transparent corners."""
    width, height = face.size
    ys, xs = np.mgrid[0:height, 0:width]
    inside = (xs - width / 2) ** 2 + (ys - height / 2) ** 2 <= (min(width, height) / 3) ** 2
    rgba = face.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.where(inside, 255, 0).astype(np.uint8)))
    return rgba


def _animated_gif(face: Image.Image) -> bytes:
    second = Image.fromarray(255 - np.asarray(face))
    return _save(face, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


def _exif_rotated_pair(face: Image.Image) -> dict[str, bytes]:
    """A portrait crop of the face, and the same stored rotated with EXIF saying so."""
    width, height = face.size
    upright = face.crop((width // 5, 0, width - width // 5, height))  # taller than wide
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "rotate 90° clockwise to view"
    return {
        "face_exif_rotated.jpg": _save(stored, "JPEG", quality=95, exif=exif),
        "face_exif_upright.png": _save(upright, "PNG"),
    }


def _flip_byte_in_idat(png: bytes) -> bytes:
    start = png.index(b"IDAT") + 4 + 100
    return png[:start] + bytes([png[start] ^ 0xFF]) + png[start + 1 :]


def _png_16bit_rgb(rgb: np.ndarray) -> bytes:
    """Pillow cannot write 16-bit RGB PNGs, so write one by hand (big-endian samples)."""
    height, width = rgb.shape[:2]
    samples = (rgb.astype(">u2") * 257).reshape(height, width * 3)
    rows = (b"\x00" + row.tobytes() for row in samples)
    return _png(width, height, bit_depth=16, colour_type=2, scanlines=rows)


def _zero_png(width: int, height: int) -> bytes:
    """A 1-bit black image: a few tens of KB on disk, ``width * height`` pixels decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    return _png(width, height, bit_depth=1, colour_type=0, scanlines=_repeat(row, height))


def _giant_gradient_png(width: int, height: int) -> bytes:
    """A real 8-bit grey gradient; rows after the first use the "Up" filter, so they are zeros."""
    first = b"\x00" + (np.arange(width) % 256).astype(np.uint8).tobytes()
    rest = b"\x02" + bytes(width)
    scanlines = _chain([first], _repeat(rest, height - 1))
    return _png(width, height, bit_depth=8, colour_type=0, scanlines=scanlines, level=1)


def _webp_vp8x_header(width: int, height: int) -> bytes:
    payload = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    payload += (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(payload)) + payload
    body = b"WEBP" + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _png(
    width: int,
    height: int,
    *,
    bit_depth: int,
    colour_type: int,
    scanlines: Iterable[bytes],
    level: int = 9,
) -> bytes:
    """A PNG from already-filtered scanlines, compressed as a stream (never all in memory)."""
    compressor = zlib.compressobj(level)
    parts = [compressor.compress(scanline) for scanline in scanlines]
    idat = b"".join([*parts, compressor.flush()])
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"".join(
        [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header), _chunk(b"IDAT", idat), _chunk(b"IEND", b"")]
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _repeat(row: bytes, count: int, batch: int = 256) -> Iterator[bytes]:
    block = row * batch
    for _ in range(count // batch):
        yield block
    yield row * (count % batch)


def _chain(*parts: Iterable[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield from part
