"""An agency's case-number rule (``Policy.case_pattern``, a regular expression) said in words,
for the people who type case numbers: "4 to 40 characters: capital letters, digits or dashes,
the first a capital letter or a digit". A rule too intricate to say is named as the agency's
rule, never shown as a regular expression to someone searching."""

from __future__ import annotations

import re

__all__ = ["case_rule_in_words"]

#: one part of a simple pattern: a class ([...] or \d) or a literal, and its repetition
_PART = re.compile(r"(\[[^\]]+\]|\\d|[A-Za-z0-9/._ -])(\{\d+(?:,\d+)?\}|[+*?])?")
_RANGES = {
    "A-Z": "capital letters",
    "a-z": "small letters",
    "0-9": "digits",
}


def case_rule_in_words(pattern: str) -> str:
    """``pattern`` in words, or a plain "the form your agency's policy sets"."""
    parts: list[tuple[str, tuple[int, int | None]]] = []
    at = 0
    while at < len(pattern):
        found = _PART.match(pattern, at)
        if found is None:
            return "in the form your agency's policy sets (its policy page shows the rule)"
        piece, counts = found.group(1), _counts(found.group(2) or "")
        literal = not piece.startswith("[") and piece != r"\d"
        if literal and counts == (1, 1) and parts and parts[-1][0].startswith("'"):
            parts[-1] = (parts[-1][0][:-1] + piece + "'", (1, 1))  # 'OT' + '-' -> 'OT-'
        else:
            parts.append((f"'{piece}'" if literal else piece, counts))
        at = found.end()
    low = 0
    high: int | None = 0
    said = []
    for piece, (least, most) in parts:
        literal = piece.startswith("'")
        size = len(piece) - 2 if literal else 1
        low += least * size
        high = None if most is None or high is None else high + most * size
        said.append(piece if literal else _amount(_chars(piece), least, most))
    length = (
        f"{low} characters"
        if low == high
        else f"{low} to {high} characters"
        if high is not None
        else f"at least {low} characters"
    )
    return ", then ".join(said) + f" ({length})"


def _amount(what: str, least: int, most: int | None) -> str:
    if (least, most) == (1, 1):
        return _one(what)
    if most is None:
        return f"{'one or more' if least == 1 else 'any number of'} {what}"
    if least == most:
        return f"{least} {what}"
    if (least, most) == (0, 1):
        return f"optionally {_one(what)}"
    return f"{least} to {most} {what}"


def _counts(repeat: str) -> tuple[int, int | None]:
    if not repeat:
        return 1, 1
    if repeat == "+":
        return 1, None
    if repeat == "*":
        return 0, None
    if repeat == "?":
        return 0, 1
    numbers = repeat.strip("{}").split(",")
    least = int(numbers[0])
    return least, int(numbers[1]) if len(numbers) > 1 else least


def _chars(piece: str) -> str:
    if piece == r"\d":
        return "digits"
    inside = piece[1:-1]
    kinds = [name for span, name in _RANGES.items() if span in inside]
    for span in _RANGES:
        inside = inside.replace(span, "")
    if "-" in inside:
        kinds.append("dashes")
        inside = inside.replace("-", "")
    kinds += [f"'{c}'" for c in inside]
    return " or ".join(kinds) if len(kinds) < 3 else ", ".join(kinds[:-1]) + " or " + kinds[-1]


def _one(what: str) -> str:
    """'capital letters or digits' -> 'a capital letter or a digit'."""
    singular = {"capital letters": "a capital letter", "small letters": "a small letter"}
    singular |= {"digits": "a digit", "dashes": "a dash"}
    for many, one in singular.items():
        what = what.replace(many, one)
    return what
