"""The API's browsable documentation: Swagger UI at ``/docs``, served by facetrail itself.

Its script and stylesheet come from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, which
reads OpenAPI 3.1), the script that starts it is a file of ours (``static/swagger-init.js``:
no inline script), and the page carries the web app's Content-Security-Policy and frame
protection (``web.render.PAGE_HEADERS``). Nothing is loaded from another origin, so the page
works offline and no CDN decides what runs on facetrail's origin. ReDoc and the OAuth2
redirect page, which FastAPI would load from a CDN or start inline, are not served."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import swagger_ui_bundle
from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from facetrail.edge.headers import PAGE_HEADERS

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_BUNDLE = Path(swagger_ui_bundle.swagger_ui_path)
#: Every file the page loads, with its type; nothing else is reachable.
_ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_BUNDLE / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_BUNDLE / "swagger-ui.css", "text/css; charset=utf-8"),
    "favicon-32x32.png": (_BUNDLE / "favicon-32x32.png", "image/png"),
    "swagger-init.js": (
        Path(str(files("facetrail.api").joinpath("static", "swagger-init.js"))),
        "text/javascript; charset=utf-8",
    ),
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>facetrail API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs")
def docs() -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, with the pages' security headers."""
    return HTMLResponse(_PAGE, headers=PAGE_HEADERS)


@router.get("/docs/assets/{name}")
def asset(name: Annotated[str, PathParam(max_length=40)]) -> Response:
    found = _ASSETS.get(name)
    if found is None:
        raise HTTPException(404, "no such file")
    path, kind = found
    return Response(
        path.read_bytes(), media_type=kind, headers={"Cache-Control": "public, max-age=300"}
    )
