"""The web app: server-rendered pages (Jinja2) for people in a browser, calling the same
services the CLI and the REST API call, so there is no path around policy or audit.

Signed in with the API's session cookie; every state-changing form carries its CSRF value;
errors are pages that name the stable code, an unknown path's too (``install``).
``create_app`` mounts ``router``."""

from __future__ import annotations

from facetrail.web.routes import router
from facetrail.web.routing import install

__all__ = ["install", "router"]
