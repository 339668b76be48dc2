"""Pages from the package's Jinja2 templates (autoescaped; a missing value is an error, never
an empty string), with the headers every page carries: a Content-Security-Policy that lets a
page load only facetrail's own styles, scripts and images."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from facetrail.edge.headers import PAGE_HEADERS
from facetrail.edge.problems import status_of
from facetrail.errors import FacetrailError, RateLimitedError

__all__ = ["PAGE_HEADERS", "FormError", "attachment", "page"]

_TEMPLATES = Environment(
    loader=PackageLoader("facetrail.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(iso: str) -> str:
    """An ISO time as people read it, in UTC (the time every record keeps)."""
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_TEMPLATES.filters["when"] = _when


@dataclass(frozen=True)
class FormError:
    """A refusal shown above the form that caused it (the fields kept as typed)."""

    status: int
    code: str
    message: str
    #: the field it concerns, when it names one
    subject: str | None
    #: seconds until a rate-limited request would be accepted
    retry_after: int | None = None

    @classmethod
    def of(cls, error: FacetrailError) -> FormError:
        wait = error.retry_after if isinstance(error, RateLimitedError) else None
        return cls(status_of(error), error.code, error.message, error.subject, wait)


def page(
    template: str,
    *,
    status: int | None = None,
    error: FormError | FacetrailError | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` rendered with ``context``; every page also gets ``viewer`` (the signed-in
    person, or None), ``current`` (the path its header marks as here) and ``error`` (the
    refusal to show above its form as a ``FormError``, or None). Its status is ``status``
    when given, else the refusal's, else 200; ``headers`` are sent besides the page's own."""
    shown = FormError.of(error) if isinstance(error, FacetrailError) else error
    context.setdefault("viewer", None)
    context.setdefault("current", "")
    html = _TEMPLATES.get_template(template).render(error=shown, **context)
    sent = dict(PAGE_HEADERS) | (headers or {})
    if shown is not None and shown.retry_after is not None:
        sent["Retry-After"] = str(shown.retry_after)
    if status is None:
        status = shown.status if shown is not None else 200
    return HTMLResponse(html, status_code=status, headers=sent)


def attachment(body: bytes | str, media_type: str, filename: str) -> Response:
    """A file to download (a disclosure, the log as CSV), never shown or sniffed as a page."""
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
