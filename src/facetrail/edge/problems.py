"""Errors as RFC 9457 problem details (``application/problem+json``), carrying the stable
codes the CLI prints. No internal error (traceback) ever reaches a client: anything
unforeseen is logged here and answered as a bare ``internal_error``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from facetrail import errors as e
from facetrail.store.db import one_line, outage_of

__all__ = [
    "ERROR_RESPONSES",
    "PROBLEM_TYPE",
    "Problem",
    "ProblemResponse",
    "install",
    "problem",
    "retry_after",
    "status_of",
]

log = logging.getLogger("facetrail.api")

PROBLEM_TYPE = "application/problem+json"
#: ``type`` URIs name the stable code; they need not resolve.
TYPE_BASE = "urn:facetrail:problem:"

#: Most specific class first: the first match decides the status.
_STATUS: tuple[tuple[type[e.FacetrailError], int], ...] = (
    (e.RateLimitedError, 429),
    (e.NotLoggedInError, 401),
    (e.TokenInvalidError, 401),
    (e.EnrolmentRequiredError, 403),
    (e.PasswordChangeRequiredError, 403),
    (e.AccountLockedError, 403),
    (e.AccountInactiveError, 403),
    (e.AuthError, 401),
    (e.PermissionDeniedError, 403),  # policy refusals and review refusals included
    (e.ErasedError, 410),
    (e.NotFoundError, 404),
    (e.GalleryNotFoundError, 404),
    (e.SourceNotFoundError, 404),
    (e.UnknownPackError, 404),
    (e.AccountExistsError, 409),
    (e.GalleryExistsError, 409),
    (e.SourceExistsError, 409),
    (e.StateError, 409),
    (e.WitnessRefusedError, 409),
    (e.TilesConflictError, 409),
    (e.ImageTooLargeError, 413),
    (e.UnsupportedImageFormatError, 415),
    (e.NotAnImageError, 415),
    (e.ImageError, 422),
    (e.NoFaceError, 422),
    (e.ProbeQualityError, 422),
    (e.FaceIndexError, 422),
    (e.PackMismatchError, 422),
    (e.InvalidRequestError, 422),
    (e.ManifestError, 422),
    (e.AuditInputError, 422),  # a checkpoint, proof or request that cannot be parsed
    (e.DatasetError, 422),
    (e.RecordMismatchError, 409),
    (e.StorageFullError, 507),  # a disk full: nothing was stored, reads still answer
    (e.SchemaOutdatedError, 503),
    (e.DatabaseUnavailableError, 503),
    (e.RateLimitStoreError, 503),
    (e.DatabaseUnreadableError, 503),
    (e.SigningKeyUnavailableError, 503),
    (e.ModelPackError, 503),
)


class FieldProblem(BaseModel):
    field: str
    problem: str


class Problem(BaseModel):
    """RFC 9457 problem details, with facetrail's stable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    subject: str | None = None
    errors: list[FieldProblem] | None = None


#: What any API route may answer besides success (documented in the OpenAPI schema).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in (
        (400, "Malformed request"),
        (401, "Not signed in, or the token is not valid"),
        (403, "Not allowed (role, policy, account state)"),
        (404, "No such thing, or one of another agency"),
        (409, "Conflicts with the current state"),
        (411, "An upload without a declared length"),
        (413, "An upload over the limit"),
        (415, "Not an image type facetrail reads"),
        (422, "Invalid input"),
        (429, "Too many requests"),
        (503, "Not ready (database, schema, signing key or model pack)"),
        (507, "No room left to store it (a disk is full): nothing was stored"),
    )
}


def problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses are documented as ``application/problem+json`` (what is sent)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_TYPE] = content.pop("application/json")
    return schema


def status_of(error: e.FacetrailError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_TYPE


def problem(
    status: int, code: str, detail: str, *, subject: str | None = None, **extra: Any
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{code}",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if subject is not None:
        body["subject"] = subject
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="facetrail"'} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


async def _facetrail_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, e.FacetrailError)
    status = status_of(exc)
    if status >= 500:
        log.error("facetrail error answered %d: [%s] %s", status, exc.code, exc)
    answer = problem(status, exc.code, exc.message, subject=exc.subject)
    if (wait := retry_after(exc)) is not None:
        answer.headers["Retry-After"] = str(wait)
    return answer


def retry_after(exc: e.FacetrailError) -> int | None:
    """Seconds a client waits before asking again, for an error that says (a rate limit, a
    database or store out of reach): the answer's ``Retry-After``."""
    wait = getattr(exc, "retry_after", None)
    return wait if isinstance(wait, int) else None


async def _database_error(request: Request, exc: Exception) -> ProblemResponse:
    """A database error no service turned into a facetrail error: the database out of reach
    is a 503 with ``Retry-After`` and one line in the log (never a traceback per request);
    anything else is an internal error. Handled here, not as a bare ``Exception``, so that
    the server does not log the traceback again."""
    outage = outage_of(exc)
    if outage is None:
        return await _internal_error(request, exc)
    log.error("database unavailable on %s: %s", request.url.path, one_line(exc))
    answer = problem(503, outage.code, outage.message, subject=outage.subject)
    answer.headers["Retry-After"] = str(outage.retry_after)
    return answer


async def _validation_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", "")}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{f['field']}: {f['problem']}" for f in fields) or "invalid request"
    return problem(422, e.InvalidRequestError.code, detail, errors=fields)


def _allowed_methods(request: Request) -> str:
    """Every method any route of this path takes (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if route.matches(request.scope)[0] != Match.NONE:  # PARTIAL: the path, not the method
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def http_problem(request: Request, exc: Exception) -> ProblemResponse:
    """An HTTP error outside any route's own handling (no such path, a method the path does
    not take) as problem+json."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "not_logged_in"}.get(
        exc.status_code, "http_error"
    )
    answer = problem(exc.status_code, code, str(exc.detail))
    answer.headers.update(exc.headers or {})
    if exc.status_code == 405:
        answer.headers["Allow"] = _allowed_methods(request)
    return answer


async def _internal_error(_: Request, exc: Exception) -> ProblemResponse:
    log.exception("internal error", exc_info=exc)
    return problem(500, "internal_error", f"internal error ({type(exc).__name__})")


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_types(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(e.FacetrailError, _facetrail_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_problem)
    app.add_exception_handler(Exception, _internal_error)
