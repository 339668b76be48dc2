"""The ``facetrail`` Typer app, its command groups and the helpers every command uses."""

from __future__ import annotations

import enum
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from facetrail.cli.render import OUTPUT, err_console, print_error
from facetrail.config import Settings, get_settings
from facetrail.errors import (
    FacetrailError,
    NoHomeError,
    NotLoggedInError,
    SessionTokenFileError,
)
from facetrail.governance.credentials import Principal
from facetrail.services.context import AppContext

_T = TypeVar("_T")

#: Help as ``gh`` and ``kubectl`` print it: plain text, paragraphs rewrapped to the terminal,
#: one-line summaries, plain metavars (``cli.help_text``); ``-h`` as well as ``--help``.
HELP = {"rich_markup_mode": None, "context_settings": {"help_option_names": ["-h", "--help"]}}

app = typer.Typer(
    help="facetrail: accountable face search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    **HELP,  # type: ignore[arg-type]
)


def _group(help_text: str) -> typer.Typer:
    """A command group: its help when called without a command."""
    return typer.Typer(help=help_text, no_args_is_help=True, **HELP)  # type: ignore[arg-type]


gallery_app = _group("Galleries, their sources and ingestion.")
index_app = _group("The vector index derived from a gallery's templates.")
eval_app = _group("Measure accuracy with the product's own pipeline.")
bench_app = _group("Measure speed and memory at scale (the figures in docs/measurements.md).")
models_app = typer.Typer(
    help="Model packs: list, check, register.",
    invoke_without_command=True,
    **HELP,  # type: ignore[arg-type]
)
audit_app = _group("The tamper-evident audit log: entries, verify, prove, checkpoint, export.")
searches_app = _group(
    "Stored searches: list, pending, approve, show, review, close as a lead, export."
)
case_app = _group("Cases: list them, show or disclose everything their searches did.")
policy_app = _group("Agency policy: who may search what, why and under whose eyes.")
agency_app = _group("Agencies (each with its own policy): create, list.")
network_app = _group("Networks of agencies: create, list.")
account_app = _group("People's accounts: list, show, create, request, approve, suspend.")
db_app = _group("The database's schema: status, upgrade (migrations).")
token_app = _group("Named API tokens: create, list, revoke.")
alerts_app = _group("Misuse alerts: list, run the rules, acknowledge, close, import open cases.")
oversight_app = _group(
    "What an agency's head sees: its people and searches, digests, the schedule."
)
report_app = _group("Transparency reports (public, no personal data) and the agencies with access.")
erasure_app = _group(
    "Erasure on request: open, show, decide, complete (a signed receipt), cancel, verify-receipt."
)
retention_app = _group(
    "Retention: purge what sources' and agencies' retention periods say has expired."
)
jobs_app = _group("Background jobs (ingestions asked for over the API): list, show, cancel.")

# One naming scheme: a group that holds many things of a kind is named in the plural
# (kubectl's "get pods"), its singular works too, unlisted; a group about one thing (the audit
# log, the database, the evaluation, a gallery's index, an agency's policy) is singular.
_COLLECTIONS = (
    (account_app, "accounts", "account"),
    (agency_app, "agencies", "agency"),
    (alerts_app, "alerts", "alert"),
    (case_app, "cases", "case"),
    (gallery_app, "galleries", "gallery"),
    (jobs_app, "jobs", "job"),
    (models_app, "models", "model"),
    (network_app, "networks", "network"),
    (searches_app, "searches", None),  # "search" is the command that searches
    (token_app, "tokens", "token"),
)
_TOPICS = (
    (audit_app, "audit"),
    (bench_app, "bench"),
    (db_app, "db"),
    (erasure_app, "erasure"),
    (eval_app, "eval"),
    (index_app, "index"),
    (oversight_app, "oversight"),
    (report_app, "report"),
    (retention_app, "retention"),
    (policy_app, "policy"),
)
for group, plural, singular in _COLLECTIONS:
    app.add_typer(group, name=plural)
    if singular is not None:
        app.add_typer(group, name=singular, hidden=True)
for group, name in _TOPICS:
    app.add_typer(group, name=name)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"facetrail {package_version('facetrail')}")
        raise typer.Exit()


@app.callback()
def _private_files(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="The facetrail home (default: FACETRAIL_HOME, else ./var).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """facetrail: accountable face search."""
    del version  # handled by its callback
    OUTPUT.json = False  # until this command's --json says otherwise
    # Everything a command creates in the home (database, WAL, blobs, indexes, the session
    # token) is the running user's alone: 0600 files, 0700 folders.
    os.umask(0o077)
    if home is not None:
        os.environ["FACETRAIL_HOME"] = str(home)
        get_settings.cache_clear()


class MaskMode(enum.StrEnum):
    none = "none"
    synthetic = "synthetic"


def _json_output(value: bool) -> bool:
    OUTPUT.json = value  # errors print as JSON too (``run_service``)
    return value


JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        callback=_json_output,
        help='Print machine-readable JSON (an error as {"error": {code, message, subject}}).',
    ),
]


def existing_home(settings: Settings) -> None:
    """A command outside a home says so, instead of making an empty one where it happens to
    run (where a sign-in would then fail as a wrong password). A home is its SQLite file; with
    a database URL (PostgreSQL), the home folder ``init`` made (blobs, index files, session)."""
    missing = (
        not settings.home.is_dir() if settings.db_file is None else not settings.db_file.is_file()
    )
    if missing:
        raise NoHomeError(
            "no facetrail home here: run 'facetrail init', or name the home with --home or "
            "FACETRAIL_HOME",
            subject=str(settings.home),
        )


@contextmanager
def open_context(*, create: bool = False) -> Iterator[AppContext]:
    """The home's context; ``create``: make the home if there is none (``init``, ``eval``)."""
    settings = get_settings()
    if not create:
        run_service(lambda: existing_home(settings))
    ctx = run_service(lambda: AppContext.open(settings))  # an old or damaged home: typed
    try:
        yield ctx
    finally:
        ctx.close()


def in_context(act: Callable[[AppContext], _T]) -> _T:
    """``act(ctx)`` in the home's context (``open_context``), for what needs no sign-in; a
    typed error is printed and exits with status 2 (``run_service``)."""
    with open_context() as ctx:
        done: _T = run_service(lambda: act(ctx))
    return done


@contextmanager
def signed_in() -> Iterator[tuple[AppContext, Principal]]:
    """The app context and the user signed in with ``facetrail login`` (the token's use is
    audited). Every command that acts as a user goes through here."""
    from facetrail.services.signin.authentication import authenticate

    with open_context() as ctx:
        token_file = ctx.settings.session_token_file
        token = run_service(lambda: read_session_token(token_file))
        if token is None:
            run_service(lambda: _not_logged_in())
        principal = run_service(lambda: authenticate(ctx, token))
        yield ctx, principal
        _housekeeping(ctx)


def as_signed_in(act: Callable[[AppContext, Principal], _T]) -> _T:
    """``act(ctx, me)`` as the user signed in with ``facetrail login`` (``signed_in``); a typed
    error is printed and exits with status 2 (``run_service``)."""
    with signed_in() as (ctx, me):
        done: _T = run_service(lambda: act(ctx, me))
    return done


def read_session_token(path: Path) -> str | None:
    """The saved session token, or None when signed out. Never read through a link, nor from a
    file that is not this user's alone: someone who planted one would make you act as them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a link
        problem = f"cannot open it safely ({exc.strerror})"
        raise SessionTokenFileError(problem, subject=str(path)) from exc
    with os.fdopen(fd) as token_file:
        info = os.fstat(token_file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            raise SessionTokenFileError("not a plain file of yours", subject=str(path))
        if info.st_mode & 0o077:
            raise SessionTokenFileError(
                "readable by others: delete it and sign in again", subject=str(path)
            )
        return token_file.read().strip() or None


def check_session_token_file(path: Path) -> None:
    """Refuse a session token file that is a link or not a plain file (checked before signing
    in, so that no token is issued that could not be kept)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        problem = "is a link or not a plain file; not followed"
        raise SessionTokenFileError(problem, subject=str(path))


def write_session_token(path: Path, token: str) -> None:
    """Save the session token, 0600 from its creation (a fresh file, never through a link),
    then moved over the old one at once (a rename replaces a link, never follows it)."""
    check_session_token_file(path)
    staged = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(token)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def _housekeeping(ctx: AppContext) -> None:
    """Probe retention, periodic checkpoints, mail retries: after every signed-in command."""
    from facetrail.services.housekeeping import housekeeping

    try:
        housekeeping(ctx)
    except FacetrailError as exc:  # never fails the command that already succeeded
        err_console.print(f"[yellow]warning[/yellow] housekeeping: {escape(str(exc))}")


def _not_logged_in() -> None:
    raise NotLoggedInError("run 'facetrail login USERNAME --code CODE' first", subject="session")


def run_service(fn: Callable[[], Any]) -> Any:
    """``fn()``; a typed error is printed (as JSON with ``--json``) and exits with status 2."""
    try:
        return fn()
    except FacetrailError as exc:
        report_error(exc)
        raise typer.Exit(2) from exc


def report_error(exc: FacetrailError) -> None:
    """A typed error as the command's output: its stable code, message and subject."""
    print_error(exc.code, exc.message, exc.subject)


#: Seconds between progress lines when standard error is not a terminal (a log, a CI job).
PROGRESS_EVERY_S = 10.0


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A bar on a terminal; elsewhere a plain line every ``PROGRESS_EVERY_S`` seconds and one
    at the end ("ingesting: 1,200 of 5,000 (24%), 35 a second, about 2 min left")."""
    if not enabled:
        yield lambda _a, _t: None
        return
    if not err_console.is_terminal:
        lines = _ProgressLines(label)
        yield lines.advance
        lines.say(final=True)
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


class _ProgressLines:
    """Progress as lines of text, for a log rather than a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.done = 0
        self.total = 0
        self.started = time.monotonic()
        self.last = self.started

    def advance(self, n: int, total: int) -> None:
        self.done += n
        self.total = total
        if time.monotonic() - self.last >= PROGRESS_EVERY_S:
            self.say()

    def say(self, *, final: bool = False) -> None:
        if final and self.done == 0:
            return
        self.last = time.monotonic()
        spent = max(self.last - self.started, 1e-6)
        rate = self.done / spent
        of = f" of {self.total:,} ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = ""
        if not final and self.total and rate > 0:
            left = f", about {_duration((self.total - self.done) / rate)} left"
        ending = "done, " if final else ""
        err_console.print(
            f"{self.label}: {ending}{self.done:,}{of}, {rate:.1f} a second{left}",
            highlight=False,
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
