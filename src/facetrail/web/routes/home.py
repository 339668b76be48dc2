"""The home page (what the signed-in person's roles can do), their inbox, and the web app's
own stylesheet and script (nothing is loaded from anywhere else)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Path, Response
from starlette.exceptions import HTTPException

from facetrail.edge.deps import Context
from facetrail.services.notifications import inbox
from facetrail.web.deps import Signed
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

#: Every file the web app serves, with its type; nothing else under static/ is reachable.
_STATIC = {
    "facetrail.css": "text/css; charset=utf-8",
    "facetrail.js": "text/javascript; charset=utf-8",
}
#: "search 12 awaits your approval", "search 12 approved", "search 12 denied"
_ABOUT_SEARCH = re.compile(r"search (\d+) (awaits your approval|approved|denied)\b")
#: A page of this web app named in a message's text ("on the page /erasures/3."): a known
#: first segment, never a sentence's closing punctuation.
_PAGE = re.compile(
    r"(?<![\w/])/(?:searches|approvals|reviews|alerts|erasures|agency|agencies|holds|policy"
    r"|jobs|galleries|audit|inbox|transparency|cases|account|receipts)"
    r"(?:[/#?][\w/#?=&%.-]*[\w/])?"
)


@dataclass(frozen=True)
class Part:
    """A piece of a message's text, and the page it names when it is a page's address."""

    text: str
    href: str | None = None


@dataclass(frozen=True)
class Message:
    at: str
    subject: str
    #: the text in pieces, the pages it names made links
    body: tuple[Part, ...]
    #: the page the notice is about, when it is about a search
    href: str | None
    link_text: str | None


@router.get("/")
def home(me: Signed) -> Response:
    roles = ", ".join(sorted(r.replace("_", " ") for r in me.principal.roles)) or "none"
    return page("home.html", viewer=me, current="/", roles=roles)


@router.get("/inbox")
def my_inbox(ctx: Context, me: Signed) -> Response:
    """The person's own notifications, newest first (``notifications.inbox``)."""
    messages = [_message(m.at, m.subject, m.body) for m in inbox(ctx, me.principal.user_id)]
    return page("inbox.html", viewer=me, current="/inbox", messages=messages[::-1])


def _message(at: str, subject: str, body: str) -> Message:
    parts = _linked(body)
    about = _ABOUT_SEARCH.match(subject)
    if about is None:
        return Message(at, subject, parts, None, None)
    search_id, what = about.groups()
    if what == "awaits your approval":
        return Message(at, subject, parts, f"/approvals#search-{search_id}", "Decide it")
    return Message(at, subject, parts, f"/searches/{search_id}", f"Open search {search_id}")


def _linked(text: str) -> tuple[Part, ...]:
    """``text`` with each page address in it made a link."""
    parts: list[Part] = []
    at = 0
    for found in _PAGE.finditer(text):
        if found.start() > at:
            parts.append(Part(text[at : found.start()]))
        parts.append(Part(found.group(), found.group()))
        at = found.end()
    if at < len(text):
        parts.append(Part(text[at:]))
    return tuple(parts)


@router.get("/static/{name}")
def static(name: Annotated[str, Path(max_length=40)]) -> Response:
    kind = _STATIC.get(name)
    if kind is None:
        raise HTTPException(404, "no such file")
    body = files("facetrail.web").joinpath("static", name).read_bytes()
    return Response(body, media_type=kind, headers={"Cache-Control": "public, max-age=300"})


__all__ = ["router"]
