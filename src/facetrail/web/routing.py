"""How a page answers when something stands in its way: not signed in, or the session over ->
the sign-in page, which comes back here afterwards; a refusal or a bad request -> a page that
names the stable code (the one the CLI prints and the API sends) and what failed; anything
unforeseen -> a page that says so, logged here, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from facetrail import errors as e
from facetrail.edge.deps import SESSION_COOKIE, app_context, csrf_token, drop_session_cookies
from facetrail.edge.problems import http_problem, retry_after, status_of
from facetrail.services.signin.authentication import authenticate
from facetrail.store.db import one_line, outage_of
from facetrail.web.deps import viewer_of
from facetrail.web.render import page

__all__ = ["WebRoute", "error_page", "install", "local_path", "signin_redirect"]

log = logging.getLogger("facetrail.web")

_TITLES = {
    400: "The request could not be read",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Not possible here",
    409: "Not possible now",
    413: "Too large",
    415: "Not an image facetrail reads",
    422: "Please check what you entered",
    429: "Too many requests",
    503: "facetrail is not ready",
    507: "No room left to store it",
}


class WebRoute(APIRoute):
    """A page route: errors become pages (or a way to sign in), never problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (e.NotLoggedInError, e.TokenInvalidError) as exc:
                if exc.subject == "csrf":
                    return error_page(request, 403, exc.code, exc.message)
                return signin_redirect(request)
            except e.FacetrailError as exc:
                answer = error_page(request, status_of(exc), exc.code, exc.message, exc.subject)
                if (wait := retry_after(exc)) is not None:
                    answer.headers["Retry-After"] = str(wait)
                return answer
            except RequestValidationError as exc:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
                    for err in exc.errors()
                )
                return error_page(request, 422, e.InvalidRequestError.code, fields)
            except StarletteHTTPException as exc:
                code = {404: "not_found", 405: "method_not_allowed"}.get(
                    exc.status_code, "http_error"
                )
                return error_page(request, exc.status_code, code, str(exc.detail))
            except Exception as exc:  # the last line of defence: a page, never a traceback
                if (outage := outage_of(exc)) is not None:  # one line, not a traceback
                    log.error("database unavailable on %s: %s", request.url.path, one_line(exc))
                    answer = error_page(request, 503, outage.code, outage.message, "database")
                    answer.headers["Retry-After"] = str(outage.retry_after)
                    return answer
                log.exception("internal error on %s", request.url.path, exc_info=exc)
                return error_page(
                    request, 500, "internal_error", f"internal error ({type(exc).__name__})"
                )

        return answer


#: Paths that answer programs, never pages: an error there stays problem+json.
_PROGRAM_PATHS = ("/api/", "/metrics", "/ready", "/health", "/openapi.json")


def _wants_page(request: Request) -> bool:
    """A browser asking for a page: not a program's path, and HTML accepted."""
    path = request.url.path
    if path.startswith(_PROGRAM_PATHS):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _http_error(request: Request, exc: Exception) -> Response:
    """No such path (or a method it does not take) outside the routes: a page with the
    navigation and a way back for a browser, problem+json for a program."""
    assert isinstance(exc, StarletteHTTPException)
    if not _wants_page(request):
        return await http_problem(request, exc)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    _signed_in_viewer(request)  # for the page's navigation, when there is a session
    detail = {
        404: f"There is no page at {request.url.path}.",
        405: f"{request.url.path} cannot be {request.method}-ed.",
    }.get(exc.status_code, str(exc.detail))
    answer = error_page(request, exc.status_code, code, detail)
    answer.headers.update(exc.headers or {})
    return answer


def _signed_in_viewer(request: Request) -> None:
    """The session's viewer, kept for ``error_page``'s navigation (an audited token use, as on
    every page); none for a stranger or a session that no longer works."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or getattr(request.state, "viewer", None) is not None:
        return
    try:
        principal = authenticate(app_context(request), token)
    except e.FacetrailError:
        return  # refused and audited: the page shows no navigation
    request.state.viewer = viewer_of(app_context(request), principal, csrf_token(token))


def install(app: FastAPI) -> None:
    """Answer errors that no route handled (an unknown path) with a page in a browser; after
    ``api.problems.install``, whose answers programs keep."""
    app.add_exception_handler(StarletteHTTPException, _http_error)


def error_page(
    request: Request, status: int, code: str, detail: str, subject: str | None = None
) -> Response:
    if status >= 500 and code not in ("internal_error", e.DatabaseUnavailableError.code):
        log.error("facetrail error answered %d: [%s] %s", status, code, detail)
    referer = local_path(request, request.headers.get("referer"))
    return page(
        "error.html",
        viewer=getattr(request.state, "viewer", None),
        status=status,
        title=_TITLES.get(status, "Something went wrong"),
        code=code,
        detail=detail,
        subject=subject,
        back=referer if referer != request.url.path else None,
    )


def local_path(request: Request, url: str | None) -> str | None:
    """``url`` as a path of this site (with its query), or None if it leads anywhere else."""
    # Browsers drop tabs and line breaks from a URL ("/\t/evil" would become "//evil").
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        base = urlsplit(str(request.base_url))
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            return None
    path = parts.path
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def signin_redirect(request: Request) -> Response:
    """To the sign-in page, which returns to this page afterwards (a GET page; after a form,
    the home page). A stale session's cookies are dropped."""
    back = request.url.path if request.method == "GET" else "/"
    if request.method == "GET" and request.url.query:
        back += f"?{request.url.query}"
    answer = RedirectResponse(f"/signin?next={quote(back, safe='')}", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        drop_session_cookies(answer)
    return answer
