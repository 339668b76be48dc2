"""facetrail's REST API (FastAPI): routers that parse, call a service and serialise
(``facetrail.server`` mounts them under ``/api/v1`` beside the web app)."""
