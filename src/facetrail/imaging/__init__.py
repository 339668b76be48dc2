"""Safe image intake: decoding, EXIF orientation and size limits (no knowledge of faces)."""

from facetrail.imaging.decode import DecodedImage, DecodeLimits, decode_image, read_image_file

__all__ = ["DecodeLimits", "DecodedImage", "decode_image", "read_image_file"]
