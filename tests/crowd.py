"""Photos of several people in one image, as a crowd at a demonstration is photographed: LFW
photos side by side, three to a row (each LFW photo holds one person's face at its centre)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

__all__ = ["composed_photo"]


def composed_photo(photos: Sequence[Path]) -> bytes:
    """One JPEG of ``photos`` side by side, three to a row (a short row padded with black)."""
    read = [cv2.imread(str(p)) for p in photos]
    tiles = [t for t in read if t is not None]
    assert len(tiles) == len(read), "an LFW photo did not read"
    size = tiles[0].shape
    tiles = [t if t.shape == size else cv2.resize(t, (size[1], size[0])) for t in tiles]
    rows = [tiles[i : i + 3] for i in range(0, len(tiles), 3)]
    width = max(len(r) for r in rows)
    blank = np.zeros_like(tiles[0])
    grid = np.vstack([np.hstack(r + [blank] * (width - len(r))) for r in rows])
    ok, jpeg = cv2.imencode(".jpg", grid, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return bytes(jpeg)
