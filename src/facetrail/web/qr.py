"""An otpauth URI as a QR code in inline SVG: drawn here from the ``qrcode`` package's module
matrix, so the secret never leaves facetrail (no QR service, no image file on disk)."""

from __future__ import annotations

from html import escape

import qrcode
from markupsafe import Markup

__all__ = ["qr_svg"]


def qr_svg(data: str, *, label: str) -> Markup:
    """An SVG (one path of dark modules on a white ground, with its quiet zone) that scales
    to its container; ``label`` is its accessible name."""
    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    size = len(matrix)
    modules = "".join(
        f"M{x} {y}h{run}v1h-{run}z" for y, row in enumerate(matrix) for x, run in _runs(row)
    )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="qr" role="img" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f"<title>{escape(label)}</title>"
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{modules}" fill="#000"/></svg>'
    )


def _runs(row: list[bool]) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for x, dark in enumerate([*row, False]):
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            runs.append((start, x - start))
            start = None
    return runs
