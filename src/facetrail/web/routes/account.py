"""Signing in and out, a first sign-in's enrolment of the second factor, and changing one's
password (a one-time one from a reset too): the same services the API's ``/session``,
``/enrolment`` and ``/password`` and the CLI's ``login``, ``enrol`` and ``account password``
call."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge import limits
from facetrail.edge.bodies.accounts import EnrolBegin, EnrolConfirm, PasswordChange, SignIn
from facetrail.edge.deps import (
    SESSION_COOKIE,
    Context,
    drop_session_cookies,
    set_session_cookies,
)
from facetrail.errors import (
    EnrolmentRequiredError,
    FacetrailError,
    InvalidRequestError,
    PasswordChangeRequiredError,
)
from facetrail.governance.credentials import MIN_PASSWORD_LENGTH
from facetrail.services.accounts import Enrolment
from facetrail.services.signin import authentication, enrolment
from facetrail.web.deps import (
    Form,
    Signed,
    check_signin_form,
    keep_signin_cookie,
    signin_form_token,
    text,
)
from facetrail.web.qr import qr_svg
from facetrail.web.render import page
from facetrail.web.routing import WebRoute, local_path

router = APIRouter(route_class=WebRoute)

_SIGNED_OUT = "You are signed out."
_PASSWORD_CHANGED = (
    "Your password is changed and every session of yours has ended: sign in with the new one."
)
_ONE_TIME = (
    "Your password is a one-time one from a reset: choose your own before you sign in. "
    "The code you gave is used up: type the next one your authenticator shows."
)


def _signin_page(
    request: Request,
    *,
    username: str = "",
    next_path: str = "/",
    message: str | None = None,
    error: FacetrailError | None = None,
) -> Response:
    return _signin_form_page(
        request, "signin.html", username=username, next=next_path, message=message, error=error
    )


def _signin_form_page(request: Request, template: str, **context: Any) -> Response:
    """``template`` with a form that needs no session: it carries the value paired with the
    sign-in form's cookie (``keep_signin_cookie``) instead of a session's CSRF value."""
    token = signin_form_token(request)
    answer = page(template, form_token=token, **context)
    keep_signin_cookie(request, answer, token)
    return answer


def _start_session(request: Request, token: str, to: str) -> Response:
    """To ``to`` with the session cookie and its CSRF value, as the API's sign-in sets them."""
    answer = RedirectResponse(to, status_code=303)
    set_session_cookies(request, answer, token)
    return answer


@router.get("/signin")
def signin_form(request: Request) -> Response:
    query = request.query_params
    message = None
    if query.get("password_changed"):
        message = _PASSWORD_CHANGED
    elif query.get("signed_out"):
        message = _SIGNED_OUT
    return _signin_page(
        request,
        username=query.get("username", "")[:200],
        next_path=local_path(request, query.get("next")) or "/",
        message=message,
    )


@router.post("/signin")
def sign_in(request: Request, ctx: Context, form: Form) -> Response:
    """Password and second factor -> the session cookie (``authentication.login``: audited
    as ``auth.login`` or ``auth.login.failed``; wrong attempts count towards the lockout)."""
    check_signin_form(request, form)
    typed = text(form, "username", default="")
    next_path = local_path(request, text(form, "next", default="/")) or "/"
    try:
        body = SignIn.from_form(form, session="cookie")
        limits.check(request, ctx, "login", body.username, "auth.login")
        result = authentication.login(ctx, body.username, body.password, body.code)
    except EnrolmentRequiredError:
        # Only said once the password was right (login checks it first).
        query = urlencode({"username": body.username, "first": 1})
        return RedirectResponse(f"/enrol?{query}", status_code=303)
    except PasswordChangeRequiredError:
        # Only said once the password and the code were right.
        query = urlencode({"username": body.username, "one_time": 1})
        return RedirectResponse(f"/account/password?{query}", status_code=303)
    except FacetrailError as error:
        return _signin_page(request, username=typed, next_path=next_path, error=error)
    return _start_session(request, result.token, next_path)


@router.post("/signout")
def sign_out(request: Request, ctx: Context, me: Signed) -> Response:
    """Revokes the session token (``auth.token.revoke``) and drops the cookies."""
    authentication.revoke_token(ctx, me.principal, request.cookies.get(SESSION_COOKIE, ""))
    answer = RedirectResponse("/signin?signed_out=1", status_code=303)
    drop_session_cookies(answer)
    return answer


def _enrol_page(
    request: Request,
    *,
    username: str,
    message: str | None = None,
    error: FacetrailError | None = None,
) -> Response:
    """The enrolment's first step: username, password and the mailed code."""
    return _signin_form_page(request, "enrol.html", username=username, message=message, error=error)


def _confirm_page(
    request: Request,
    *,
    username: str,
    shown: Enrolment | None = None,
    error: FacetrailError | None = None,
) -> Response:
    """The second step: the new secret as a QR code and text (``shown``; once only), and the
    form that confirms it with a code."""
    secret = shown.totp_secret if shown is not None else None
    return _signin_form_page(
        request,
        "enrol_confirm.html",
        username=username,
        shown=shown,
        qr=qr_svg(shown.totp_uri, label=f"QR code of the authenticator secret for {username}")
        if shown is not None and shown.totp_uri
        else None,
        secret_groups=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        if secret
        else "",
        min_password=MIN_PASSWORD_LENGTH,
        error=error,
    )


@router.get("/enrol")
def enrol_form(request: Request) -> Response:
    query = request.query_params
    first = (
        "Your account has no second factor yet: set up your authenticator to sign in."
        if query.get("first")
        else None
    )
    return _enrol_page(request, username=query.get("username", "")[:200], message=first)


@router.post("/enrol")
def begin(request: Request, ctx: Context, form: Form) -> Response:
    """Shows the owner their new TOTP secret as a QR code and text, with recovery codes
    (``enrolment.begin_enrolment``: password checked as a sign-in; an account set up by
    someone else also needs the code mailed to its owner; audited)."""
    check_signin_form(request, form)
    typed = text(form, "username", default="")
    try:
        body = EnrolBegin.from_form(form)
        # A code pasted from the mail may bring spaces around it.
        invite = (body.invite or "").strip() or None
        # Each step checks the password: counted with sign-ins against the same limit.
        limits.check(request, ctx, "login", body.username, "auth.enrol.begin")
        shown = enrolment.begin_enrolment(ctx, body.username, body.password, invite=invite)
    except FacetrailError as error:
        return _enrol_page(request, username=typed, error=error)
    return _confirm_page(request, username=body.username, shown=shown)


@router.post("/enrol/confirm")
def confirm(request: Request, ctx: Context, form: Form) -> Response:
    """A code from the new secret completes the enrolment and signs the person in
    (``enrolment.confirm_enrolment``, audited); a wrong code asks again without showing the
    secret a second time."""
    check_signin_form(request, form)
    typed = text(form, "username", default="")
    try:
        body = EnrolConfirm.from_form(form)
        limits.check(request, ctx, "login", body.username, "auth.enrol")
        result = enrolment.confirm_enrolment(
            ctx, body.username, body.password, body.code, new_password=body.new_password
        )
    except FacetrailError as error:
        return _confirm_page(request, username=typed, error=error)
    return _start_session(request, result.token, "/")


def _password_page(
    request: Request,
    *,
    username: str,
    message: str | None = None,
    error: FacetrailError | None = None,
) -> Response:
    """The password change form; it needs no session (a one-time password gives none), so
    like the sign-in form it carries the value paired with its cookie."""
    return _signin_form_page(
        request,
        "password.html",
        username=username,
        message=message,
        min_password=MIN_PASSWORD_LENGTH,
        error=error,
    )


@router.get("/account/password")
def password_form(request: Request) -> Response:
    query = request.query_params
    return _password_page(
        request,
        username=query.get("username", "")[:200],
        message=_ONE_TIME if query.get("one_time") else None,
    )


@router.post("/account/password")
def change_password(request: Request, ctx: Context, form: Form) -> Response:
    """A new password with the current (or one-time) one and a code from the authenticator
    (``enrolment.change_password``: checked as a sign-in, counted towards the lockout, within
    the sign-in rate limit; audited as ``account.password``, refusals too). Every session of
    the person ends, this browser's too: they sign in again with the new password."""
    check_signin_form(request, form)
    typed = text(form, "username", default="")
    try:
        body = PasswordChange.from_form(form)
        if body.new_password != text(form, "new_password_again", default=""):
            # Caught before anything is tried: a typo would lock the person out.
            raise InvalidRequestError(
                "the new password and its repetition differ", subject="new_password"
            )
        limits.check(request, ctx, "login", body.username, "account.password")
        enrolment.change_password(ctx, body.username, body.password, body.code, body.new_password)
    except FacetrailError as error:
        return _password_page(request, username=typed, error=error)
    query = urlencode({"username": body.username, "password_changed": 1})
    answer = RedirectResponse(f"/signin?{query}", status_code=303)
    drop_session_cookies(answer)
    return answer
