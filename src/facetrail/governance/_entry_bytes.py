"""The exact bytes of an audit entry (``governance.audit``): the canonical JSON its details
are stored in, the check that stored details are byte for byte that form, and the bytes of
an entry that are hashed into the Merkle tree as its leaf.
"""

from __future__ import annotations

import json
from typing import Any

from facetrail.store.schema import AuditEntryRow


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _DuplicateKeyError(
            f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}"
        )
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def canonical_problem(details: str) -> str | None:
    """Why stored ``details`` are not exactly their canonical bytes, or None when they are.

    Parsing with json.loads alone would let two different stored strings hash alike (a
    duplicate key keeps its last value; spacing and number forms are re-serialised), so the
    stored text must be byte for byte the canonical form of what it parses to.
    """
    return canonical_details(details)[1]


def canonical_details(details: str) -> tuple[dict[str, Any] | None, str | None]:
    """(what stored ``details`` hold, None) when they are exactly their canonical bytes, else
    (None, why not): ``canonical_problem``, keeping the parse."""
    try:
        value = json.loads(details, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKeyError as exc:
        return None, f"details hold a {exc}"
    except ValueError:
        return None, "details are not JSON"
    if not isinstance(value, dict):
        return None, "details are not a JSON object"
    if canonical_json(value) != details:
        return None, "details are not in canonical form (spacing, key order or number form differ)"
    return value, None


def entry_bytes(
    seq: int,
    at: str,
    actor: str,
    kind: str,
    subject: str,
    details: str,
    agency: str | None = None,
) -> bytes:
    """The exact bytes that are hashed into the tree for one entry. ``agency`` is hashed when
    set (entries made before it existed, and entries of no agency, hash as they always did),
    so an entry moved to another agency's figures fails verification like any other edit."""
    value: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "kind": kind,
        "subject": subject,
        "details": None,
    }
    if agency is not None:
        value["agency"] = agency
    # The details are stored in their canonical form (``canonical_problem``), so they are
    # spliced in as they are, not parsed and written again: the same bytes, at half the cost.
    # The first '"details":null' is the key's (the keys before it in order hold strings, whose
    # quotes are escaped).
    outer = canonical_json(value)
    return outer.replace('"details":null', '"details":' + details, 1).encode()


def row_bytes(row: AuditEntryRow) -> bytes:
    return entry_bytes(row.seq, row.at, row.actor, row.kind, row.subject, row.details, row.agency)
