"""What each action is sent, parsed one way for both edges: the API reads a JSON body into one
of these models, and the web app reads a posted form into the same model
(``Body.from_form``), so a field's limits, defaults and choices are written once and an action
takes the same input from a browser as from a program.

A form differs from JSON only in what a browser can send: every value is text (pydantic reads
numbers and yes/no from it as it reads them from JSON strings), a repeated field (checkboxes)
is a list, and a field left blank is not given, so its default applies. A value the model
refuses is an ``InvalidRequestError`` naming the field and saying what it needs, in words."""

from __future__ import annotations

import types
import typing
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData

from facetrail.errors import InvalidRequestError

__all__ = ["Body", "in_words"]


class Body(BaseModel):
    """An action's input: fields not in the model are refused (a typo is not silently
    ignored); a form's own fields (its CSRF value, a confirmation) are not read into it."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_form(cls, form: FormData, **given: Any) -> Self:
        """The model read from a posted form; ``given`` are values the page knows itself
        (taken from its address, say), which the form cannot override."""
        data: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            if name in given:
                continue
            if _is_list(field.annotation):
                values = form.getlist(name)
                if values:
                    data[name] = [_text(name, v) for v in values]
                continue
            value = form.get(name)
            if value is None:
                continue
            sent = _text(name, value)
            if sent.strip() == "" and not field.is_required():
                continue
            data[name] = sent
        try:
            return cls.model_validate({**data, **given})
        except ValidationError as exc:
            first = exc.errors()[0]
            subject = ".".join(str(p) for p in first["loc"][:1]) or "form"
            raise InvalidRequestError(in_words(first), subject=subject) from None


def in_words(error: ErrorDetails) -> str:
    """What a field needs, as a person would say it (not pydantic's wording where it is
    technical)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    field = str(error["loc"][0]).replace("_", " ") if error["loc"] else "a field"
    if kind == "missing":
        return f"{field} is needed"
    if kind == "string_too_short":
        return (
            f"{field} is needed"
            if ctx.get("min_length") == 1
            else (f"{field} needs at least {ctx.get('min_length')} characters")
        )
    if kind == "string_too_long":
        return f"{field} takes at most {ctx.get('max_length')} characters"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{field} is a whole number"
    if kind == "greater_than_equal":
        return f"{field} is at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"{field} is at most {ctx.get('le')}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{field} is yes or no"
    if kind in ("literal_error", "enum"):
        return f"{field} is one of {ctx.get('expected', 'the choices shown')}"
    if kind == "too_long":
        return f"{field} takes at most {ctx.get('max_length')} values"
    return f"{field}: {error['msg']}"


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return typing.get_origin(annotation) is list


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name.replace('_', ' ')} must be text", subject=name)
    return value
