"""facetrail's REST API (FastAPI): routers that parse, call a service and serialise."""

from facetrail.api.app import create_app

__all__ = ["create_app"]
