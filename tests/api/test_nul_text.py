"""Text holding NUL in any input of any route, one input at a time: a typed 4xx problem, never a
5xx. PostgreSQL cannot compare or store NUL in text (schemathesis found a sign-in with the
username "\\x00" answered 500 there); the store refuses it on both databases alike
(``store.db._refuse_nul``), so this test fails on either if a route lets it through to the
driver. The inputs come from the OpenAPI schema: a new route is covered without a new line."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.api.conftest import World, module_world
from tests.conftest import needs_lfw

__all__ = ["module_world"]
pytestmark = needs_lfw

NUL = "ivy\x00"
#: One tiny JPEG-looking upload for multipart file parts (its contents do not matter here).
FILE = ("probe.jpg", b"\xff\xd8\xff\xe0not really a jpeg", "image/jpeg")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    if "anyOf" in node:  # Optional[...] in FastAPI's schema: the non-null branch
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        node = _resolve(schema, branches[0]) if branches else node
    return node


def _sample(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    node = _resolve(schema, node)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "array":
        return [_sample(schema, node.get("items", {"type": "string"}))]
    if kind == "object":
        return {k: _sample(schema, v) for k, v in node.get("properties", {}).items()}
    return "ivy"


def _strings(schema: dict[str, Any], node: dict[str, Any]) -> list[str]:
    node = _resolve(schema, node)
    out = []
    for name, prop in node.get("properties", {}).items():
        resolved = _resolve(schema, prop)
        if resolved.get("type") == "string" and resolved.get("format") != "binary":
            if "enum" not in resolved:
                out.append(name)
        elif resolved.get("type") == "array":
            items = _resolve(schema, resolved.get("items", {}))
            if items.get("type") == "string" and "enum" not in items:
                out.append(name)
    return out


def _cases(schema: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) for every text input of every operation."""
    cases = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                p = _resolve(schema, param.get("schema", {}))
                if p.get("type") == "string" and "enum" not in p and param["in"] != "header":
                    cases.append((method, path, param["in"], param["name"]))
            for media, body in op.get("requestBody", {}).get("content", {}).items():
                for name in _strings(schema, body["schema"]):
                    cases.append((method, path, media, name))
    return cases


def _request(world: World, schema: dict[str, Any], case: tuple[str, str, str, str]) -> Any:
    method, path, where, name = case
    op = schema["paths"][path][method]
    url_params: dict[str, Any] = {}
    query: dict[str, Any] = {}
    for param in op.get("parameters", []):
        value = NUL if (param["in"], param["name"]) == (where, name) else None
        if param["in"] == "path":
            url_params[param["name"]] = value or _sample(schema, param.get("schema", {}))
        elif param["in"] == "query" and (value or param.get("required")):
            query[param["name"]] = value or _sample(schema, param.get("schema", {}))
    url = path.format(**{k: quote(str(v), safe="") for k, v in url_params.items()})
    headers = world.as_("head")
    kwargs: dict[str, Any] = {"params": query, "headers": headers}
    for media, body in op.get("requestBody", {}).get("content", {}).items():
        sample = _sample(schema, body["schema"])
        if where == media:
            sample[name] = [NUL] if isinstance(sample.get(name), list) else NUL
        if media == "application/json":
            kwargs["json"] = sample
        else:
            props = _resolve(schema, body["schema"]).get("properties", {})
            binary = {k for k, v in props.items() if _resolve(schema, v).get("format") == "binary"}
            kwargs["data"] = {k: v for k, v in sample.items() if k not in binary}
            kwargs["files"] = {k: FILE for k in binary} or None
        break
    return world.client.request(method.upper(), url, **kwargs)


def test_nul_in_any_text_input_is_a_typed_refusal(module_world: World) -> None:
    schema = module_world.client.get("/openapi.json").json()
    cases = _cases(schema)
    assert len(cases) > 20, cases  # the schema has text inputs; the walk found them
    failures = []
    for case in cases:
        answer = _request(module_world, schema, case)
        if answer.status_code >= 500 or (
            answer.status_code >= 400
            and answer.headers.get("content-type") != "application/problem+json"
        ):
            failures.append((case, answer.status_code, answer.text[:200]))
    assert not failures, failures


@pytest.mark.parametrize("username", ["\x00", "ivy\x00", "iv\u202ey"])
def test_sign_in_with_a_name_no_account_can_have_is_the_usual_refusal(
    module_world: World, username: str
) -> None:
    answer = module_world.client.post(
        "/api/v1/session",
        json={"username": username, "password": "x" * 12, "code": "000000"},
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "auth_failed" or "wrong username" in answer.text
