"""The reference pages of the documentation, made from the code itself: every CLI command with
its arguments, options and help (from the command tree the console script runs), every REST
API route with its summary (from the app's OpenAPI document), and every web page with what it
does (from the web routes and their docstrings). ``scripts/docs-reference.py`` writes them
into ``docs/reference/``; tests/docs checks that every command and route appears there.
Imports nothing of a home: building the app here opens no database."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer
from fastapi.routing import APIRoute

__all__ = [
    "ApiRoute",
    "CliCommand",
    "WebPage",
    "api_markdown",
    "api_routes",
    "cli_commands",
    "cli_markdown",
    "web_markdown",
    "web_pages",
]


@dataclass(frozen=True)
class CliCommand:
    #: e.g. "facetrail searches approve"
    path: str
    usage: str
    help: str
    #: (how it is written, what it takes, its help)
    params: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    summary: str
    tag: str


@dataclass(frozen=True)
class WebPage:
    method: str
    path: str
    what: str


def _cli_root() -> Any:
    from facetrail.cli.help_text import plain_metavars
    from facetrail.cli.main import app

    command = typer.main.get_command(app)
    plain_metavars(command)
    return command


def cli_commands() -> list[CliCommand]:
    """Every command the console script runs (groups left out: their commands are listed)."""
    root = _cli_root()
    return sorted(_walk(root, "facetrail"), key=lambda c: c.path)


def _walk(command: Any, path: str) -> Iterator[CliCommand]:
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            if not sub.hidden:
                yield from _walk(sub, f"{path} {name}")
        return
    context = command.context_class(command, info_name=path)
    params = []
    for param in command.get_params(context):
        if param.name == "help":
            continue
        if param.param_type_name == "argument":
            written = param.name.upper() + ("..." if param.nargs != 1 else "")
            params.append((written, "", getattr(param, "help", None) or ""))
            continue
        record = param.get_help_record(context)
        if record is not None:
            written, said = record
            params.append((written, "", said))
    usage = " ".join(command.collect_usage_pieces(context))
    yield CliCommand(
        path, f"{path} {usage}".strip(), inspect.cleandoc(command.help or ""), tuple(params)
    )


def _api() -> Any:
    from facetrail.server import create_app

    return create_app()


def api_routes() -> list[ApiRoute]:
    """Every route of the REST API's OpenAPI document."""
    document = _api().openapi()
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            tags = operation.get("tags") or ["service"]
            found.append(ApiRoute(method.upper(), path, operation.get("summary", ""), tags[0]))
    return sorted(found, key=lambda r: (r.tag, r.path, r.method))


def web_pages() -> list[WebPage]:
    """Every page and form target of the web app, with the first sentence of its docstring."""
    from facetrail.web.routes import router

    found = []
    for prefix, route in _routes(router.routes, ""):
        doc = inspect.cleandoc(route.endpoint.__doc__ or "")
        what = doc.split("\n\n", 1)[0].replace("\n", " ")
        for method in sorted(route.methods or ()):
            found.append(WebPage(method, prefix + route.path, what))
    return sorted(found, key=lambda p: (p.path, p.method != "GET", p.method))


def _routes(routes: list[Any], prefix: str) -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint under ``routes``, through the routers included in them (FastAPI keeps
    an included router as one entry that holds it)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        elif (included := getattr(route, "original_router", None)) is not None:
            context = getattr(route, "include_context", None)
            yield from _routes(included.routes, prefix + getattr(context, "prefix", ""))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cli_markdown() -> str:
    lines = [
        "# CLI reference",
        "",
        "Every `facetrail` command, generated from the command tree the console script runs",
        "(`make docs` writes this page; `facetrail COMMAND --help` says the same). Every command",
        "takes `--json` where it prints something; errors carry a stable code.",
        "",
    ]
    for command in cli_commands():
        lines += [f"## `{command.path}`", "", f"```\n{command.usage}\n```", ""]
        if command.help:
            lines += [command.help, ""]
        if command.params:
            lines += ["| Argument or option | What it is |", "| --- | --- |"]
            for written, _takes, said in command.params:
                lines.append(f"| `{_cell(written)}` | {_cell(said)} |")
            lines.append("")
    return "\n".join(lines)


def api_markdown() -> str:
    lines = [
        "# REST API reference",
        "",
        "Every route of the API under `/api/v1`, generated from its OpenAPI document (which a",
        "running service also serves at `/api/v1/openapi.json`, with every request and answer",
        "schema). Errors are `application/problem+json` with a stable `code`.",
        "",
    ]
    tag = None
    for route in api_routes():
        if route.tag != tag:
            tag = route.tag
            lines += ["", f"## {tag.capitalize()}", "", "| Method | Path | What it does |"]
            lines.append("| --- | --- | --- |")
        lines.append(f"| {route.method} | `{route.path}` | {_cell(route.summary)} |")
    return "\n".join(lines) + "\n"


def web_markdown() -> str:
    lines = [
        "# Web app pages",
        "",
        "Every page (GET) and form target (POST) of the web app, generated from its routes. Each",
        "calls the same service as the CLI and API, which decides and audits.",
        "",
        "| Method | Path | What it does |",
        "| --- | --- | --- |",
    ]
    for page in web_pages():
        lines.append(f"| {page.method} | `{page.path}` | {_cell(page.what)} |")
    return "\n".join(lines) + "\n"
