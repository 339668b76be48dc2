"""Help as people read it in ``gh`` and ``kubectl``: an option's value is named by a plain word
(``PATH``, ``TEXT``, ``N``), never by a Python type (``<list[Path]>``, ``<bool>``); an
argument by its name alone.

Typer writes the type of every parameter into its help (``display_type``); each parameter is
given a plain one here, once the command tree is built (``plain_metavars``)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

__all__ = ["plain_metavars"]

_WORDS: dict[Any, str] = {
    Path: "PATH",
    str: "TEXT",
    int: "N",
    float: "NUMBER",
    datetime: "TIME",
    date: "DATE",
}


def plain_metavars(command: Any) -> None:
    """Give every parameter of ``command`` and its subcommands a plain word (in place)."""
    for param in command.params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "is_flag", False):
            continue
        word = "" if param.param_type_name == "argument" else _word(descriptor.annotation)
        param.display_type = param.display_type_rich = lambda ctx=None, shown=word: shown
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)


def _word(annotation: Any) -> str:
    if get_origin(annotation) in (list, tuple):
        return ",".join(dict.fromkeys(_word(a) for a in get_args(annotation) if a is not ...))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if len(annotation) > 4:  # a long list is told in the option's own help
            return annotation.__name__.upper()
        return "[" + "|".join(str(m.value) for m in annotation) + "]"
    for kind, word in _WORDS.items():
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return word
    return "VALUE"
