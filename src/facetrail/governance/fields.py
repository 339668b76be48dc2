"""The rules for text people type into facetrail: names, e-mails, case numbers, free text.

Every rule is a pure function of the text, so it holds the same on SQLite (which stores any
length) and PostgreSQL (which counts characters against ``VARCHAR(n)``): lengths are counted
in Unicode characters after normalisation, and every maximum fits its column in
``store/schema.py``. Each ``check_*`` function returns the value to store, or raises
``InvalidFieldError`` whose ``subject`` names the field.

All text
    Normalised to Unicode NFC (so "é" typed two ways is one name) and stripped of leading and
    trailing whitespace. Never allowed: NUL and other control characters (C0, DEL, C1),
    lone surrogates (not encodable as UTF-8), and the bidirectional controls (U+061C,
    U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) that make text display other than it reads.

Names (``check_name``; agencies, networks, galleries, sources, kinds, API tokens)
    1 to 200 characters (``NAME_MAX``; token names 100), one line, no invisible format
    characters (Unicode category Cf). Gallery and source names also have no ``/`` or ``\\``:
    audit subjects are written ``gallery/source``.

Usernames (``check_username``)
    1 to 64 characters of ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a
    letter or digit. ASCII only, so no two usernames look alike. Never one of the names the
    service writes its own audit entries under (``SERVICE_ACTORS``) or another reserved name
    (``RESERVED_USERNAMES``), in any case or written to look like one ("System", "sys.tem",
    "facetra1l"): ``ReservedNameError``.

E-mail addresses (``check_email``)
    At most 200 characters: ``local@domain`` with one ``@``; the local part 1 to 64 printable
    ASCII characters other than whitespace and ``"(),:;<>[\\]``; the domain dot-separated
    labels of ASCII letters, digits and inner hyphens (``ops`` alone is accepted, as in an
    internal mail system). Never a line break, so no header can be injected.

Case numbers (``check_case_number``)
    1 to 64 characters: letters, digits, spaces and ``- / . _ : #``. The agency's policy may
    demand a narrower pattern; this is the floor for every agency.

Free text (``check_free_text``; justifications, review and decision notes, reasons,
descriptions, legal bases)
    At most ``TEXT_MAX`` (2,000) characters unless the caller says otherwise; line breaks and
    tabs allowed (``\\r\\n`` becomes ``\\n``), other control characters not. Emptiness and
    minimum lengths are policy's business (e.g. a justification's minimum length).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from facetrail.errors import InvalidFieldError, ReservedNameError

__all__ = [
    "CASE_NUMBER_MAX",
    "EMAIL_MAX",
    "NAME_MAX",
    "RESERVED_USERNAMES",
    "SERVICE_ACTORS",
    "TEXT_MAX",
    "TOKEN_NAME_MAX",
    "USERNAME_MAX",
    "check_case_number",
    "check_email",
    "check_email_domain",
    "check_free_text",
    "check_gallery_name",
    "check_name",
    "check_source_name",
    "check_token_name",
    "check_username",
    "email_domain",
    "is_reserved_username",
]

NAME_MAX = 200
TOKEN_NAME_MAX = 100
USERNAME_MAX = 64
EMAIL_MAX = 200
CASE_NUMBER_MAX = 64
TEXT_MAX = 2000

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EMAIL_LOCAL = re.compile(r"[!#-'*+\-./0-9=?A-Z^-~]{1,64}")
_EMAIL_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_CASE_NUMBER_EXTRA = frozenset(" -/._:#")

#: The actors facetrail writes its own audit entries under, where no person acts: its alerts
#: and digests ("facetrail"), its schedule, jobs, indexes and retention ("system"), and a
#: bearer token that belongs to no one ("unknown"). An entry of one of them is read by an
#: agency only through the agency it concerns, never because a person bears its name.
SERVICE_ACTORS = frozenset({"facetrail", "system", "unknown"})
#: Names no account may take: the service's own, and the ones a reader would take for it.
RESERVED_USERNAMES = SERVICE_ACTORS | frozenset(
    {"anonymous", "housekeeping", "retention", "scheduler", "witness", "worker"}
)
#: A digit or letter written for the letter it looks like; separators, which read as nothing.
_LOOKALIKES = str.maketrans(
    {"0": "o", "1": "l", "i": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"}
    | dict.fromkeys("._-")
)


def _refuse(field: str, reason: str) -> InvalidFieldError:
    return InvalidFieldError(reason, subject=field)


def _normalise(field: str, value: object, *, multiline: bool = False) -> str:
    """NFC, stripped, and free of characters no field may hold."""
    if not isinstance(value, str):
        raise _refuse(field, f"must be text, not {type(value).__name__}")
    if multiline:
        value = value.replace("\r\n", "\n")
    text = unicodedata.normalize("NFC", value).strip()
    for ch in text:
        category = unicodedata.category(ch)
        if multiline and ch in "\n\t":
            continue
        if category == "Cc":
            raise _refuse(field, f"must not contain the control character U+{ord(ch):04X}")
        if category == "Cs":
            raise _refuse(field, "must not contain a lone surrogate (not valid Unicode text)")
        if ch in _BIDI_CONTROLS:
            raise _refuse(field, f"must not contain the bidirectional control U+{ord(ch):04X}")
    return text


def _within(field: str, text: str, max_len: int, *, min_len: int = 1) -> str:
    if len(text) < min_len:
        raise _refuse(field, "must not be empty" if min_len == 1 else f"needs {min_len}+ chars")
    if len(text) > max_len:
        raise _refuse(field, f"is {len(text)} characters; at most {max_len} allowed")
    return text


def check_name(field: str, value: str, max_len: int = NAME_MAX, *, forbid: str = "") -> str:
    """A one-line name (agency, network, gallery, source, kind, token...): the stored form."""
    text = _within(field, _normalise(field, value), max_len)
    for ch in text:
        if unicodedata.category(ch) in ("Cf", "Zl", "Zp"):
            raise _refuse(field, f"must not contain the invisible character U+{ord(ch):04X}")
        if ch in forbid:
            raise _refuse(field, f"must not contain {ch!r}")
    return text


def check_gallery_name(value: str) -> str:
    return check_name("gallery", value, forbid="/\\")


def check_source_name(value: str) -> str:
    return check_name("source", value, forbid="/\\")


def check_token_name(value: str) -> str:
    return check_name("token name", value, TOKEN_NAME_MAX)


def check_username(value: str) -> str:
    """ASCII letters, digits, '.', '_', '-', starting with a letter or digit; 1 to 64; not
    reserved (``is_reserved_username``)."""
    text = _within("username", _normalise("username", value), USERNAME_MAX)
    if not _USERNAME.fullmatch(text):
        raise _refuse(
            "username",
            "may hold only ASCII letters, digits, '.', '_' and '-', starting with a letter or "
            "digit",
        )
    if is_reserved_username(text):
        raise ReservedNameError(
            f"{text!r} is, or looks like, a name facetrail itself acts under; choose another",
            subject="username",
        )
    return text


def _skeleton(name: str) -> str:
    """What a name looks like: case folded, separators dropped, lookalike letters and digits
    made one ("Sys.tem", "5ystem" and "system" are one)."""
    return name.casefold().translate(_LOOKALIKES).replace("rn", "m").replace("vv", "w")


@functools.cache
def _skeletons(names: frozenset[str]) -> frozenset[str]:
    return frozenset(_skeleton(name) for name in names)


def is_reserved_username(name: str) -> bool:
    """Is ``name`` one of ``RESERVED_USERNAMES``, or looks like one?"""
    return _skeleton(name) in _skeletons(RESERVED_USERNAMES)


def check_email(value: str) -> str:
    """``local@domain`` (see the module docstring); at most 200 characters."""
    text = _within("email", _normalise("email", value), EMAIL_MAX)
    local, at, domain = text.rpartition("@")
    if not at or not _EMAIL_LOCAL.fullmatch(local) or not _EMAIL_DOMAIN.fullmatch(domain):
        raise _refuse("email", "is not an address of the form name@domain")
    return text


def check_email_domain(value: str) -> str:
    """An e-mail domain as an agency registers it: the part after an address's ``@`` (see
    ``check_email``), in lower case; at most 200 characters."""
    text = _within("email domain", _normalise("email domain", value), EMAIL_MAX).lower()
    if not _EMAIL_DOMAIN.fullmatch(text):
        raise _refuse("email domain", "is not a domain such as police.example")
    return text


def email_domain(email: str) -> str:
    """The domain of an address ``check_email`` accepted, in lower case."""
    return email.rpartition("@")[2].lower()


def check_case_number(value: str) -> str:
    """Letters, digits, spaces and '- / . _ : #'; 1 to 64 characters."""
    text = _within("case number", _normalise("case number", value), CASE_NUMBER_MAX)
    for ch in text:
        if not (ch.isalnum() or ch in _CASE_NUMBER_EXTRA):
            raise _refuse("case number", f"must not contain {ch!r}")
    return text


def check_free_text(field: str, value: str, max_len: int = TEXT_MAX, *, min_len: int = 0) -> str:
    """Free text (justification, note, reason, description): line breaks allowed."""
    return _within(field, _normalise(field, value, multiline=True), max_len, min_len=min_len)
