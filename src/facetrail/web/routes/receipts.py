"""The public page where anyone checks an erasure receipt: pasted or uploaded, verified with
the log's published public key (or another key given), and what it says shown in words.

Public, like the transparency reports: no sign-in, nothing stored and nothing recorded (the
receipt tells only what its holder already holds). Verification is offline arithmetic over
the text given (``governance.receipts.open_receipt``), the same check as the CLI's ``erasure
verify-receipt``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from facetrail.edge.deps import Context
from facetrail.errors import AuditInputError, FacetrailError, InvalidRequestError, NoteError
from facetrail.governance.note import VerifierKey, parse_vkey
from facetrail.governance.receipts import open_receipt
from facetrail.services.audit import log as audit
from facetrail.web.deps import Form, text
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

__all__ = ["router"]

router = APIRouter(route_class=WebRoute)

#: The longest receipt taken (one of many thousand images removed still fits).
MAX_RECEIPT_CHARS = 60_000


@router.get("/receipts")
def receipt_form(ctx: Context) -> Response:
    """The form, with the published key to check receipts against."""
    return _page(ctx)


@router.post("/receipts")
def check_receipt(ctx: Context, form: Form) -> Response:
    """Verify the receipt given with the key given (default: this log's published key)."""
    given = text(form, "receipt", max_length=MAX_RECEIPT_CHARS, default="").replace("\r\n", "\n")
    key = text(form, "key", max_length=500, default="").strip()
    try:
        if not given.strip():
            raise InvalidRequestError("paste the receipt's text", subject="receipt")
        verifier = _key(key) if key else audit.public_key(ctx)
        try:
            rid, body = open_receipt(given if given.endswith("\n") else given + "\n", verifier)
        except AuditInputError as bad:  # what was pasted: the person's to fix
            raise InvalidRequestError(bad.message, subject="receipt") from bad
    except FacetrailError as error:
        return _page(ctx, error=error, typed={"receipt": given, "key": key})
    return _page(ctx, verified={"id": rid, "key": verifier.name, "body": body, "said": _said(body)})


def _key(given: str) -> VerifierKey:
    """A key pasted as its vkey text (never a path on the server)."""
    try:
        return parse_vkey(given)
    except (NoteError, AuditInputError, ValueError) as bad:
        raise InvalidRequestError(
            "not a public key: a key is one line like name+1a2b3c4d+AQID…", subject="key"
        ) from bad


def _page(ctx: Context, **shown: Any) -> Response:
    try:
        published = audit.public_key_file(ctx).read_text(encoding="utf-8").strip()
    except OSError:
        published = ""
    shown.setdefault("typed", {})
    shown.setdefault("verified", None)
    return page("receipts.html", current="/receipts", published=published, **shown)


def _said(body: dict[str, Any]) -> list[tuple[str, str]]:
    """What a receipt says, in words."""
    found = body.get("removed")
    removed: dict[str, Any] = found if isinstance(found, dict) else {}
    images = removed.get("images") or []
    templates = removed.get("templates") or []
    said = [
        ("Erasure request", f"{body.get('erasure')} ({body.get('reference')})"),
        ("Completed", str(body.get("completed_at", ""))),
        ("Log", str(body.get("log", ""))),
        ("Galleries", ", ".join(str(g) for g in body.get("galleries") or []) or "none"),
        ("Images removed", str(len(images))),
        ("Faces removed", str(removed.get("faces", 0))),
        ("Templates removed", str(len(templates))),
        ("Index entries removed", str(removed.get("index_entries", 0))),
        ("Search results kept as tombstones", str(body.get("tombstones", 0))),
        ("Opt-out template kept", "yes, with consent" if body.get("opt_out_kept") else "no"),
    ]
    if body.get("held_for_open_cases"):
        said.append(("Held for open cases", str(body["held_for_open_cases"])))
    return said
