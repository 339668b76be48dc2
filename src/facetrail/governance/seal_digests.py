"""The arithmetic of row seals (``governance.seals``): a row's digest, its columns' digests
and what the log holds for it, computed alike from SQLite's and PostgreSQL's values.

    row digest    = SHA-256(table NUL key NUL (name NUL length ":" typed value) in name order)[:16]
    column digest = SHA-256(name NUL typed value)[:16], kept in the seal index to name columns
    logged value  = row digest (hex) + SHA-256(its column digests, in name order)[:8] (hex)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from facetrail.store.sealing import sealed_columns

__all__ = [
    "HEX_DIGEST",
    "Sealed",
    "changed_columns",
    "columns_hash",
    "logged_columns",
    "logged_digest",
    "logged_value",
    "seal_of",
]

_DIGEST = 16


def _encoded(value: object) -> bytes:
    """A column's value as typed bytes: the same value reads alike from SQLite and PostgreSQL."""
    exact = _ENCODERS.get(type(value))
    if exact is not None:
        return exact(value)
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"x" + bytes(value)
    if isinstance(value, datetime):
        return _encoded_time(value)
    raise TypeError(f"cannot seal a {type(value).__name__}")


def _encoded_time(value: datetime) -> bytes:
    """The instant in UTC as ISO 8601 with microseconds (``+00:00``); a naive value is UTC."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return b"t%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00" % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


#: ``_encoded`` by exact type, the common cases first (a subclass takes the long way).
_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda _v: b"n",
    bool: lambda v: b"b1" if v else b"b0",
    int: lambda v: b"i" + str(v).encode(),
    float: lambda v: b"f" + repr(v).encode(),
    str: lambda v: b"s" + v.encode("utf-8", "surrogatepass"),
    bytes: lambda v: b"x" + v,
    memoryview: lambda v: b"x" + bytes(v),
    datetime: _encoded_time,
}


def _column_digest(name: str, value: object) -> bytes:
    return hashlib.sha256(name.encode() + b"\0" + _encoded(value)).digest()[:_DIGEST]


def columns_hash(columns: bytes) -> str:
    """The hex digest of a row's column digests, as the logged value ends with it."""
    return hashlib.sha256(columns).digest()[:8].hex()


def logged_value(seal: Sealed) -> str:
    """What a ``row.seal`` entry holds for a row it seals (null for a deleted row)."""
    return seal.digest + columns_hash(seal.columns)


#: how many hex characters of a logged value are the row digest
HEX_DIGEST = 2 * _DIGEST


def logged_digest(value: str | None) -> str | None:
    """The row digest of a logged value."""
    return None if value is None else value[:HEX_DIGEST]


def logged_columns(value: str | None) -> str | None:
    """The column digests' hash of a logged value (None: a seal logged without it)."""
    return None if value is None or len(value) <= HEX_DIGEST else value[HEX_DIGEST:]


_LAYOUTS: dict[tuple[str, ...], tuple[bytes, list[bytes]]] = {}


def _layout(names: Sequence[str]) -> tuple[bytes, list[bytes]]:
    """A row digest's input laid out as one format (``name NUL %d:%s`` per column, so that
    one formatting builds it) and each column name as it opens its column digest (name NUL)."""
    key = tuple(names)
    found = _LAYOUTS.get(key)
    if found is None:
        found = _LAYOUTS[key] = (
            b"".join(n.replace("%", "%%").encode() + b"\0%d:%s" for n in names),
            [n.encode() + b"\0" for n in names],
        )
    return found


class Sealed:
    """A row's digest as computed from the row now, and (computed when asked, to name what
    changed and for the seal index) its columns' digests, from the same encoding of each
    value.

        row digest    = SHA-256(table NUL key NUL (name NUL length ":" value) per column)[:16]
        column digest = SHA-256(name NUL typed value)[:16]
    """

    __slots__ = ("_columns", "_encoded", "_prefixes", "digest")

    def __init__(self, table: str, key: str, names: Sequence[str], values: Sequence[object]):
        encoders = _ENCODERS
        encoded = [
            exact(v) if (exact := encoders.get(type(v))) is not None else _encoded(v)
            for v in values
        ]
        layout, prefixes = _layout(names)
        if len(encoded) != len(prefixes):
            raise ValueError(f"{len(values)} values for {len(prefixes)} columns")
        parts: list[object] = []
        for value in encoded:
            parts.append(len(value))
            parts.append(value)
        row = layout % tuple(parts)
        self.digest = hashlib.sha256(f"{table}\0{key}\0".encode() + row).digest()[:_DIGEST].hex()
        self._encoded = encoded
        self._prefixes = prefixes
        self._columns: bytes | None = None

    @property
    def columns(self) -> bytes:
        if self._columns is None:
            sha256, known = hashlib.sha256, _COLUMN_DIGESTS
            digests = []
            for prefix, value in zip(self._prefixes, self._encoded, strict=True):
                named = prefix + value
                digest = known.get(named)
                if digest is None:
                    digest = sha256(named).digest()[:_DIGEST]
                    if len(named) <= _REMEMBERED_SIZE:
                        if len(known) >= _REMEMBERED:
                            known.clear()
                        known[named] = digest
                digests.append(digest)
            self._columns = b"".join(digests)
        return self._columns


#: Column digests by their input (name NUL typed value), for the short values that recur from
#: row to row (a search's id and gallery in each of its candidates, a source, a status): a
#: pure function of the input, so remembering it changes nothing but the time. Emptied when
#: full.
_COLUMN_DIGESTS: dict[bytes, bytes] = {}
_REMEMBERED = 65536
_REMEMBERED_SIZE = 160


def seal_of(table: Table, names: Sequence[str], key: str, values: Sequence[object]) -> Sealed:
    return Sealed(table.name, key, names, values)


def changed_columns(table: Table, now: bytes, sealed: bytes) -> list[str]:
    names = [c.name for c in sealed_columns(table)]
    if len(now) != len(sealed):
        return []
    return [
        name
        for i, name in enumerate(names)
        if now[i * _DIGEST : (i + 1) * _DIGEST] != sealed[i * _DIGEST : (i + 1) * _DIGEST]
    ]
