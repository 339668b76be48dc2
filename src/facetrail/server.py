"""The FastAPI application: one ``AppContext`` per worker process, the routers grouped by
resource, problem+json errors, request metrics. Every route calls the same services as the
CLI; there is no other path to data."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version as package_version

from fastapi import FastAPI, Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facetrail import web
from facetrail.api import docs
from facetrail.api.background import start_background
from facetrail.api.metrics import observe
from facetrail.api.routes import (
    accounts,
    admin,
    audit,
    directory,
    erasures,
    galleries,
    jobs,
    oversight,
    policy,
    reports,
    searches,
    system,
    users,
)
from facetrail.config import Settings, get_settings
from facetrail.edge import problems
from facetrail.edge.limits import RateLimits
from facetrail.edge.problems import problem
from facetrail.edge.uploads import UPLOAD_PATHS, upload_limit
from facetrail.errors import ImageTooLargeError
from facetrail.services.context import AppContext
from facetrail.services.galleries.indexing import use_search_threads
from facetrail.services.galleries.packs import warm_pipelines

__all__ = ["create_app"]

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    """The API for the configured home (``ctx``: share an open context, as tests do).

    The database is opened, and its schema checked, when the app starts: an outdated one stops
    the start with the command to run (``facetrail db upgrade``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = getattr(app.state, "ctx", None) is None
        if own:
            app.state.ctx = AppContext.open(settings or get_settings())
            # A served worker: its parallelism is the worker processes (facetrail serve).
            use_search_threads(app.state.ctx.settings.threads or 1)
        app.state.limits = RateLimits.configured(app.state.ctx)
        # A served worker loads the model packs its galleries use before it takes requests,
        # so the first search is not the one that waits for them (``/ready`` says if one failed).
        app.state.model_problems = warm_pipelines(app.state.ctx) if own else {}
        if own:
            # What a worker has loaded by now lives as long as it does: kept out of the
            # garbage collector's full passes, which would otherwise scan it mid-request.
            gc.freeze()
        # Background work runs in a served worker, not in an app a test or caller shares.
        background = own and app.state.ctx.settings.background_work
        scheduler = start_background(app.state.ctx) if background else None
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if own:
                app.state.ctx.close()
                app.state.ctx = None

    app = FastAPI(
        title="facetrail",
        version=package_version("facetrail"),
        description=(
            "Accountable face search. Every search is authorised, bound to a case and "
            "logged; candidates are investigative leads, never identifications. Errors are "
            "RFC 9457 problem details carrying the stable codes the CLI prints."
        ),
        lifespan=lifespan,
        # Served by api/docs.py from facetrail's own files, under the pages' CSP (FastAPI's
        # would load Swagger UI and ReDoc from a CDN, started by an inline script).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.ctx = ctx  # given: shared and left open; None: opened at start, closed at end
    if ctx is not None:
        app.state.limits = RateLimits.configured(ctx)
    problems.install(app)
    web.install(app)  # after: an unknown path is a page in a browser, problem+json otherwise
    app.add_middleware(_HeadersAndMetrics)
    app.include_router(system.router)
    app.include_router(docs.router)
    app.include_router(web.router)
    routers = (
        users,
        accounts,
        directory,
        policy,
        oversight,
        searches,
        galleries,
        erasures,
        jobs,
        audit,
        reports,
        admin,
    )
    for router in (module.router for module in routers):
        app.include_router(router, prefix=API_PREFIX, responses=problems.ERROR_RESPONSES)
    return app


#: Set on every answer unless the route set its own.
_DEFAULT_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


class _HeadersAndMetrics:
    """Refuses an oversized upload unread, sets the default headers and counts every answer
    by route and status. Plain ASGI: a ``BaseHTTPMiddleware`` would stream each answer
    through a task group of its own, which costs every request time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: an error no handler turned into one

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in _DEFAULT_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        refused = _oversized(Request(scope))
        try:
            await (refused or self.app)(scope, receive, answer)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            observe(scope["method"], path, status, time.perf_counter() - started)


def _oversized(request: Request) -> Response | None:
    """An upload whose declared size is missing or over the limit is refused before a byte of
    its body is read."""
    if request.method != "POST" or not request.url.path.endswith(UPLOAD_PATHS):
        return None
    limit = upload_limit(request.app.state.ctx.settings.max_image_bytes)
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return problem(411, "length_required", "an upload must declare its Content-Length")
    if int(declared) > limit:
        return problem(413, ImageTooLargeError.code, f"request body over {limit} bytes")
    return None
