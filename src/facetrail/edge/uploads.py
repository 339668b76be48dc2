"""Probe uploads: the same intake rules as the CLI, and limits enforced before a body is read.

The request's declared size is checked before the multipart body is parsed (a body without a
declared size is refused), then each file's declared type and size; the bytes themselves go
through the services' safe decoding like any probe the CLI reads."""

from __future__ import annotations

from fastapi import UploadFile

from facetrail.errors import ImageTooLargeError, InvalidRequestError, UnsupportedImageFormatError
from facetrail.services.searching.search_model import ProbeImage

__all__ = ["IMAGE_TYPES", "MAX_PROBES", "UPLOAD_PATHS", "probe_images", "upload_limit"]

#: Probe images one request may carry.
MAX_PROBES = 5
#: The declared types accepted (the decoder checks the bytes themselves too).
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"}
)
#: Routes that take uploads (suffixes of their paths).
UPLOAD_PATHS = ("/searches", "/searches/preview", "/verify", "/erasures")
_FORM_OVERHEAD = 1 << 20


def upload_limit(max_image_bytes: int) -> int:
    """The largest request body an upload route reads."""
    return MAX_PROBES * max_image_bytes + _FORM_OVERHEAD


def probe_images(files: list[UploadFile], max_image_bytes: int) -> tuple[ProbeImage, ...]:
    if not files:
        raise InvalidRequestError("at least one probe image is needed", subject="probes")
    if len(files) > MAX_PROBES:
        raise InvalidRequestError(f"at most {MAX_PROBES} probe images", subject="probes")
    probes = []
    for number, upload in enumerate(files, 1):
        name = upload.filename or f"probe{number}"
        kind = (upload.content_type or "").split(";")[0].strip().lower()
        if kind not in IMAGE_TYPES:
            raise UnsupportedImageFormatError(
                f"declared type {kind or 'none'!r} is not an image type facetrail reads",
                subject=name,
            )
        if upload.size is not None and upload.size > max_image_bytes:
            raise ImageTooLargeError(f"over the {max_image_bytes} byte limit", subject=name)
        data = upload.file.read(max_image_bytes + 1)
        if len(data) > max_image_bytes:
            raise ImageTooLargeError(f"over the {max_image_bytes} byte limit", subject=name)
        probes.append(ProbeImage(name, data))
    return tuple(probes)
