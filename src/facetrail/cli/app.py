"""The ``facetrail`` Typer app, its command groups and the helpers every command uses."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from facetrail.cli.render import err_console
from facetrail.config import get_settings
from facetrail.errors import FacetrailError
from facetrail.services.context import AppContext

app = typer.Typer(
    help="facetrail: accountable face search.", no_args_is_help=True, pretty_exceptions_enable=False
)
gallery_app = typer.Typer(help="Galleries, their sources and ingestion.", no_args_is_help=True)
index_app = typer.Typer(
    help="The vector index derived from a gallery's templates.", no_args_is_help=True
)
eval_app = typer.Typer(
    help="Measure accuracy with the product's own pipeline.", no_args_is_help=True
)
models_app = typer.Typer(help="Model packs: list, check, register.", invoke_without_command=True)
app.add_typer(gallery_app, name="gallery")
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
audit_app = typer.Typer(
    help="The tamper-evident audit log: verify, prove, checkpoint, export.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")


class MaskMode(enum.StrEnum):
    none = "none"
    synthetic = "synthetic"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def open_context() -> Iterator[AppContext]:
    ctx = AppContext.open(get_settings())
    try:
        yield ctx
    finally:
        ctx.close()


def run_service(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except FacetrailError as exc:
        err_console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc}')}")
        raise typer.Exit(2) from exc


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    if not enabled:
        yield lambda _a, _t: None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(n: int, total: int) -> None:
            bar.update(task, advance=n, total=total)

        yield advance
