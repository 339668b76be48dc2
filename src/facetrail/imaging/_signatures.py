"""Recognise an image format from its first bytes, before any decoder sees the data.

We decide the format ourselves rather than let Pillow try each of its ~40 plugins: only the
plugin for the sniffed format ever parses untrusted input, and a file we recognise but do
not support (HEIC from a phone, PSD, ...) gets a helpful error instead of "not an image".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from facetrail.errors import ImageError, NotAnImageError, UnsupportedImageFormatError


@dataclass(frozen=True)
class SupportedFormat:
    name: str  # facetrail's name, as reported in DecodedImage.format
    pillow: str  # the one Pillow plugin allowed to parse it
    label: str  # for messages


_JPEG = SupportedFormat("jpeg", "JPEG", "JPEG image")
_PNG = SupportedFormat("png", "PNG", "PNG image")
_GIF = SupportedFormat("gif", "GIF", "GIF image")
_WEBP = SupportedFormat("webp", "WEBP", "WebP image")
_BMP = SupportedFormat("bmp", "BMP", "BMP image")
_TIFF = SupportedFormat("tiff", "TIFF", "TIFF image")

_PREFIXES: tuple[tuple[bytes, SupportedFormat], ...] = (
    (b"\xff\xd8\xff", _JPEG),
    (b"\x89PNG\r\n\x1a\n", _PNG),
    (b"GIF87a", _GIF),
    (b"GIF89a", _GIF),
    (b"II*\x00", _TIFF),
    (b"MM\x00*", _TIFF),
    (b"II+\x00", _TIFF),  # BigTIFF
    (b"MM\x00+", _TIFF),
)

# Sizes of the BMP info headers Pillow reads; "BM" alone would also match plain text.
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

# Image formats people do send, which facetrail does not decode.
_UNSUPPORTED_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x01\x00", "ICO (icon)"),
    (b"\x00\x00\x02\x00", "CUR (cursor)"),
    (b"8BPS", "PSD (Photoshop)"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"v/1\x01", "OpenEXR"),
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def sniff_format(data: bytes) -> SupportedFormat | None:
    """The supported format ``data`` starts like, or None."""
    for prefix, fmt in _PREFIXES:
        if data.startswith(prefix):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _WEBP
    if data[:2] == b"BM" and len(data) >= 18:
        (info_size,) = struct.unpack_from("<I", data, 14)
        if info_size in _BMP_HEADER_SIZES:
            return _BMP
    return None


def describe_unrecognised(data: bytes, name: str) -> ImageError:
    """The error for bytes that are no supported format: unsupported image, or no image."""
    kind = _unsupported_kind(data)
    if kind is not None:
        return UnsupportedImageFormatError(
            f"{kind} images are not supported; convert it to JPEG or PNG", subject=name
        )
    if _looks_like_text(data):
        return NotAnImageError("the file contains text, not image data", subject=name)
    return NotAnImageError(
        "the file is not an image: its content matches none of JPEG, PNG, WebP, BMP, TIFF, GIF",
        subject=name,
    )


def webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Width and height a WebP header declares, or None when the header cannot be read."""
    chunk = data[12:16]
    try:
        if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return (width, height) if len(data) >= 30 else None
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # lossy key frame
            width, height = struct.unpack_from("<HH", data, 26)
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L" and data[20:21] == b"\x2f":  # lossless: 14-bit sizes - 1
            (bits,) = struct.unpack_from("<I", data, 21)
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    except struct.error:
        return None
    return None


def _unsupported_kind(data: bytes) -> str | None:
    for prefix, kind in _UNSUPPORTED_PREFIXES:
        if data.startswith(prefix):
            return kind
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _HEIF_BRANDS:
            return "HEIC/HEIF"
        if brand in _AVIF_BRANDS:
            return "AVIF"
    if len(data) >= 3 and data[0:1] == b"P" and data[1:2] in b"1234567" and data[2:3].isspace():
        return "PNM (PBM/PGM/PPM)"
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG (vector)"
    return None


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at 512 bytes is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return bool(text) and printable >= 0.95 * len(text)
