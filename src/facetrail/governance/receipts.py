"""Erasure receipts: what an erasure removed, by hash and count (never a face or a template),
as a signed note (c2sp.org/signed-note) of the audit log's key, so that anyone holding the
log's public key can check one offline: ``facetrail erasure verify-receipt``.

The note's text is a fixed first line and one line of canonical JSON; the receipt's id is the
SHA-256 of that text."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from facetrail.errors import AuditInputError, NoteError
from facetrail.governance.audit import canonical_json
from facetrail.governance.note import SignerKey, VerifierKey, open_note, sign_note

__all__ = ["RECEIPT_HEADER", "open_receipt", "receipt_id", "sign_receipt"]

RECEIPT_HEADER = "facetrail erasure receipt v1"


def _text(body: dict[str, Any]) -> str:
    return f"{RECEIPT_HEADER}\n{canonical_json(body)}\n"


def receipt_id(body: dict[str, Any]) -> str:
    """The id a receipt of ``body`` has: the SHA-256 of its signed text."""
    return hashlib.sha256(_text(body).encode()).hexdigest()


def sign_receipt(body: dict[str, Any], signer: SignerKey) -> str:
    """``body`` as a receipt signed by the log's key."""
    return sign_note(_text(body), signer)


def open_receipt(receipt: str, verifier: VerifierKey) -> tuple[str, dict[str, Any]]:
    """(its id, what it says) of a receipt that ``verifier`` signed; a receipt altered in any
    byte, or signed by another key, is refused (``AuditInputError``)."""
    try:
        text = open_note(receipt, verifier)
    except NoteError as exc:
        raise AuditInputError(f"the receipt does not verify: {exc}", subject="receipt") from exc
    header, _, rest = text.partition("\n")
    if header != RECEIPT_HEADER:
        raise AuditInputError("not a facetrail erasure receipt", subject="receipt")
    try:
        body = json.loads(rest)
    except ValueError as exc:
        raise AuditInputError("the receipt's content is not JSON", subject="receipt") from exc
    if not isinstance(body, dict) or _text(body) != text:
        raise AuditInputError("the receipt's content is not canonical", subject="receipt")
    return hashlib.sha256(text.encode()).hexdigest(), body
