"""Safe image intake: decoding, EXIF orientation, size limits, and reading files and folders
without following links out of them or blocking on special files (no knowledge of faces)."""

from facetrail.imaging.decode import DecodedImage, DecodeLimits, decode_image, read_image_file
from facetrail.imaging.intake import (
    FolderListing,
    RefusedPath,
    list_folder,
    read_regular_file,
    resolve_inside,
)

__all__ = [
    "DecodeLimits",
    "DecodedImage",
    "FolderListing",
    "RefusedPath",
    "decode_image",
    "list_folder",
    "read_image_file",
    "read_regular_file",
    "resolve_inside",
]
