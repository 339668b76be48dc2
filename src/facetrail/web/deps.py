"""What a page request brings: its posted form (read only once its declared size is within the
upload limit), the signed-in viewer behind the session cookie, and the CSRF proofs.

A browser signs in to the web app exactly as to the API: the HttpOnly session cookie the API
sets (``api.deps.SESSION_COOKIE``), checked by ``services.signin.authentication.authenticate``,
which audits each use. Every state-changing page request proves it came from facetrail's own page
with the CSRF value that goes with the cookie (``api.deps.csrf_token``), sent as the hidden
form field ``csrf_token`` or the ``X-CSRF-Token`` header; it is checked before the token is
used, so a forged request is not an audited use. The sign-in and enrolment forms, sent before
there is a session, carry a random value that must match a SameSite=Strict cookie set with
the form (so another site cannot sign a browser in under someone else's name)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData, UploadFile

from facetrail.edge.deps import CSRF_HEADER, SESSION_COOKIE, Context, app_context, csrf_token
from facetrail.edge.uploads import MAX_PROBES, upload_limit
from facetrail.errors import (
    ImageTooLargeError,
    InvalidRequestError,
    NotLoggedInError,
    TokenInvalidError,
)
from facetrail.governance.authority import Actor
from facetrail.governance.credentials import Principal
from facetrail.services.context import AppContext
from facetrail.services.signin.authentication import (
    TokenUse,
    authenticate,
    check_token,
    finish_use,
)
from facetrail.services.waiting import Waiting, work_waiting
from facetrail.web.tasks import Task, tasks_for

__all__ = [
    "CSRF_FIELD",
    "SIGNIN_COOKIE",
    "Form",
    "Looking",
    "Signed",
    "Viewer",
    "check_signin_form",
    "files",
    "keep_signin_cookie",
    "posted_form",
    "signin_form_token",
    "text",
    "texts",
    "viewer",
    "viewer_of",
]

CSRF_FIELD = "csrf_token"
#: The cookie that pairs with the sign-in and enrolment forms' hidden value.
SIGNIN_COOKIE = "facetrail_form"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_FIELDS = 50
#: The largest text field (the longest free text a service takes is 5000 characters).
_MAX_TEXT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, the CSRF value their pages' forms carry, their tasks, and what
    waits for them (counted when a page first shows it, so after the request's action)."""

    principal: Principal
    csrf: str
    tasks: tuple[Task, ...]
    count_waiting: Callable[[], Waiting] = field(default=Waiting, repr=False, compare=False)

    @property
    def links(self) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if t.href is not None)

    @cached_property
    def waiting(self) -> Waiting:
        return self.count_waiting()

    @property
    def actor(self) -> Actor:
        """The viewer as signed in, for a page to ask the authority module which forms to
        offer (the service acting reads them again, as the database says now)."""
        p = self.principal
        return Actor(p.user_id, p.agency_id, p.roles)

    @property
    def finds_cases(self) -> bool:
        """Whether the header offers finding a case by its number (the Cases page is theirs)."""
        return any(t.href == "/cases" for t in self.tasks)

    def waiting_at(self, task: Task) -> int:
        """The count shown beside a task's link (0: none shown)."""
        return self.waiting.of(task.queue) if task.queue is not None else 0


def viewer_of(ctx: AppContext, principal: Principal, csrf: str) -> Viewer:
    """The viewer a page shows for a person whose session checked out."""
    return Viewer(principal, csrf, tasks_for(principal), lambda: work_waiting(ctx, principal))


async def posted_form(request: Request) -> AsyncIterator[FormData]:
    """The request's form fields and files (none for GET); its declared size is checked
    against the upload limit before a byte of the body is read, as the API does."""
    if request.method in _SAFE:
        yield FormData()
        return
    limit = upload_limit(app_context(request).settings.max_image_bytes)
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise InvalidRequestError("a form must declare its length", subject="form")
    if int(declared) > limit:
        raise ImageTooLargeError(f"the form is over {limit} bytes", subject="form")
    form = await request.form(
        max_files=MAX_PROBES, max_fields=_MAX_FIELDS, max_part_size=_MAX_TEXT_BYTES
    )
    try:
        yield form
    finally:
        await form.close()


Form = Annotated[FormData, Depends(posted_form)]


def text(form: FormData, name: str, *, max_length: int = 5000, default: str | None = None) -> str:
    """One text field; missing (and no ``default``), a file or too long is refused."""
    value = form.get(name)
    if value is None:
        if default is not None:
            return default
        raise InvalidRequestError(f"the field '{name}' is missing", subject=name)
    if not isinstance(value, str):
        raise InvalidRequestError(f"the field '{name}' must be text", subject=name)
    if len(value) > max_length:
        raise InvalidRequestError(f"at most {max_length} characters", subject=name)
    return value


def texts(form: FormData, name: str, *, max_length: int = 200) -> list[str]:
    """Every value of a repeated text field (checkboxes), in the order sent."""
    values = form.getlist(name)
    if any(not isinstance(v, str) or len(v) > max_length for v in values):
        raise InvalidRequestError(f"the field '{name}' must be short text", subject=name)
    return [str(v) for v in values]


def files(form: FormData, name: str) -> list[UploadFile]:
    """The files chosen in a file field; an empty choice (no file picked) is none."""
    chosen = [v for v in form.getlist(name) if isinstance(v, UploadFile)]
    return [f for f in chosen if f.filename or (f.size or 0) > 0]


def _same(sent: str, expected: str) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII text, and a sent value is anything.
    return hmac.compare_digest(sent.encode(), expected.encode())


def viewer(request: Request, ctx: Context, form: Form) -> Viewer:
    """The signed-in person behind the session cookie; a state-changing request must carry
    the cookie's CSRF value (form field or header), checked before the token is used. Kept
    in ``request.state.viewer`` too, so that a refusal's page has the navigation."""
    token, expected = _session(request, form)
    principal = authenticate(ctx, token)
    seen = request.state.viewer = viewer_of(ctx, principal, expected)
    return seen


Signed = Annotated[Viewer, Depends(viewer)]


@dataclass(frozen=True)
class Look:
    """The viewer of a page whose one audited look names the session's token in its own
    entry (``TokenUse.in_entry``): pass ``use`` to the service."""

    viewer: Viewer
    use: TokenUse


def looking(request: Request, ctx: Context, form: Form) -> Iterator[Look]:
    """``viewer`` for a page whose service records the token's use in its own entry: the
    token is pre-checked (``check_token``), and a use the service did not record (a refusal
    before its action) is recorded on its own once the page is made."""
    token, expected = _session(request, form)
    principal, use = check_token(ctx, token)
    use.in_entry = True
    seen = request.state.viewer = viewer_of(ctx, principal, expected)
    try:
        yield Look(seen, use)
    finally:
        finish_use(ctx, use)


#: The viewer of a page that is one audited look (``looking``).
Looking = Annotated[Look, Depends(looking, scope="function")]


def _session(request: Request, form: Form) -> tuple[str, str]:
    """The session cookie's token and its CSRF value, a state-changing request's proof
    checked before the token is used."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotLoggedInError("sign in to continue", subject="session")
    expected = csrf_token(token)
    if request.method not in _SAFE:
        sent = request.headers.get(CSRF_HEADER) or text(form, CSRF_FIELD, default="")
        if not _same(sent, expected):
            raise TokenInvalidError(
                "this form did not come from your current session: reload the page and try again",
                subject="csrf",
            )
    return token, expected


def signin_form_token(request: Request) -> str:
    """The value the sign-in and enrolment forms carry: the browser's form cookie, or a new
    one (``keep_signin_cookie`` sets it with the page)."""
    value = request.cookies.get(SIGNIN_COOKIE)
    if not value or len(value) > 100:
        value = secrets.token_urlsafe(24)
    return value


def keep_signin_cookie(request: Request, response: Response, value: str) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        SIGNIN_COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/"
    )


def check_signin_form(request: Request, form: FormData) -> None:
    """A sign-in or enrolment form must come from a page facetrail served to this browser."""
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    sent = text(form, CSRF_FIELD, default="")
    if not cookie or not _same(sent, cookie):
        raise TokenInvalidError(
            "the sign-in form has expired: reload the page and try again", subject="csrf"
        )
