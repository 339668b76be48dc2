"""The headers of every HTML page facetrail serves (the web app's and the API's docs page)."""

from __future__ import annotations

__all__ = ["PAGE_HEADERS"]

#: Nothing from another origin, no inline script, no framing, forms post back here only;
#: scripts may call facetrail's own API (a job's progress, a probe's faces), and show a photo
#: the person chose on their own computer (``blob:``, the face picker) without sending it here
#: to be shown.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
}
