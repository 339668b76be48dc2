"""Input safety at intake, tried as a hostile insider with a shell would: ingest never reads
outside the folder it was given, special files are refused without hanging (in a folder and
as a probe), typed text follows documented rules, and an output that cannot be written is
refused before anything is read or audited."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.errors import (
    AuthError,
    InvalidFieldError,
    NotARegularFileError,
    OutputExistsError,
    OutputPathError,
    PathOutsideFolderError,
)
from facetrail.governance import fields
from facetrail.imaging import read_image_file
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries.ingest import IngestRequest, IngestSummary, ingest
from facetrail.store.schema import AuditEntryRow, Gallery, Image
from tests.cli.terminal import Terminal
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery

T = TypeVar("T")
#: Every operation here takes well under a second; a hang is what is being tested for.
GUARD_S = 20.0


@pytest.fixture()
def term(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    from facetrail.config import get_settings

    yield Terminal(tmp_path / "home", monkeypatch)
    get_settings.cache_clear()


def finishes(fn: Callable[[], T], *fifos: Path) -> T:
    """Run ``fn`` in a thread and fail if it does not finish within GUARD_S. A reader stuck on
    one of ``fifos`` is released afterwards (a writer opens it), so the test run never hangs."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread below
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(GUARD_S)
    hung = worker.is_alive()
    if hung:
        for fifo in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    assert not hung, f"still running after {GUARD_S} s: blocked on a special file"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def audit_kinds(ctx: AppContext) -> list[str]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow.kind)
                .where(AuditEntryRow.kind != "row.seal")
                .order_by(AuditEntryRow.seq)
            )
        )


def image_names(ctx: AppContext) -> set[str]:
    with ctx.sessions() as s:
        return set(s.scalars(select(Image.original_name)))


def run_ingest(org: Org, folder: Path, manifest: Path | None = None) -> IngestSummary:
    request = IngestRequest(folder, "bookings", "county", manifest=manifest)
    return ingest(org.ctx, org.people["gus"], request)


@pytest.fixture()
def world(org: Org, tmp_path: Path) -> tuple[Org, Path, Path]:
    """A gallery, a folder to ingest with two photos, and a photo outside the folder."""
    people = lfw_people(3)
    folder = tmp_path / "in"
    copy_first_images(folder, people[:2])
    outside = tmp_path / "outside"
    copy_first_images(outside, people[2:])
    make_gallery(org)
    return org, folder, next(outside.iterdir())


# --- ingest stays inside its folder ---------------------------------------------------------


@needs_lfw
def test_symlink_to_a_file_outside_is_refused_and_audited(world: tuple[Org, Path, Path]) -> None:
    org, folder, secret = world
    (folder / "innocent.jpg").symlink_to(secret)
    summary = run_ingest(org, folder)
    assert summary.images_ingested == 2
    failures = {f.file: f.code for f in summary.failures}
    assert failures == {"innocent.jpg": "path_outside_folder"}
    assert "innocent.jpg" not in image_names(org.ctx)
    assert "gallery.ingest.files.refused" in audit_kinds(org.ctx)


@needs_lfw
def test_symlink_to_a_folder_outside_is_refused(world: tuple[Org, Path, Path]) -> None:
    org, folder, secret = world
    (folder / "more").symlink_to(secret.parent, target_is_directory=True)
    summary = run_ingest(org, folder)
    assert {f.file: f.code for f in summary.failures} == {"more": "path_outside_folder"}
    assert image_names(org.ctx) == {p.name for p in folder.glob("*.jpg")}


@needs_lfw
def test_symlink_loop_is_refused_not_followed(world: tuple[Org, Path, Path]) -> None:
    org, folder, _ = world
    (folder / "a.jpg").symlink_to(folder / "b.jpg")
    (folder / "b.jpg").symlink_to(folder / "a.jpg")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder, target_is_directory=True)
    summary = finishes(lambda: run_ingest(org, folder))
    assert {f.file: f.code for f in summary.failures} == {
        "a.jpg": "path_link_broken",
        "b.jpg": "path_link_broken",
    }
    assert summary.images_ingested == 2


@needs_lfw
@pytest.mark.parametrize("row", ["../outside/{name}", "{absolute}", "sub/../../outside/{name}"])
def test_manifest_row_outside_the_folder_refuses_the_ingest(
    world: tuple[Org, Path, Path], row: str
) -> None:
    org, folder, secret = world
    manifest = folder.parent / "manifest.csv"
    first = sorted(folder.glob("*.jpg"))[0].name
    bad = row.format(name=secret.name, absolute=secret)
    manifest.write_text(f"file,subject_ref\n{first},P-1\n{bad},P-2\n")
    with pytest.raises(PathOutsideFolderError) as refused:
        run_ingest(org, folder, manifest)
    assert refused.value.subject == str(manifest) and "line 3" in refused.value.message
    assert image_names(org.ctx) == set()
    assert audit_kinds(org.ctx)[-1] == "gallery.ingest.refused"


@needs_lfw
def test_fifo_in_the_folder_is_refused_without_hanging(world: tuple[Org, Path, Path]) -> None:
    org, folder, _ = world
    fifo = folder / "photo.jpg.fifo"
    os.mkfifo(fifo)
    summary = finishes(lambda: run_ingest(org, folder), fifo)
    assert {f.file: f.code for f in summary.failures} == {fifo.name: "not_a_regular_file"}
    assert summary.images_ingested == 2


def test_fifo_as_an_image_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "probe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFileError) as refused:
        finishes(lambda: read_image_file(fifo), fifo)
    assert refused.value.subject == str(fifo)


def test_fifo_as_a_probe_is_refused_without_hanging(term: Terminal, tmp_path: Path) -> None:
    fifo = tmp_path / "probe.jpg"
    os.mkfifo(fifo)
    out = finishes(lambda: term.search(fifo, code=2), fifo)
    said = "".join(out.split())  # the error names the file, wrapped at whatever width
    assert "not_a_regular_file" in said and "probe.jpg" in said


# --- text people type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (fields.check_username, "ro ot"),
        (fields.check_username, "root\x00"),
        (fields.check_username, "rооt"),  # Cyrillic o: looks like "root"
        (fields.check_username, "x" * 65),
        (fields.check_email, "a@b\r\nBcc: everyone@example.org"),
        (fields.check_email, "no-at-sign"),
        (fields.check_email, "a@" + "b" * 200),
        (fields.check_case_number, "2026-1\x00"),
        (fields.check_case_number, "2026-1; DROP"),
        (fields.check_case_number, "1" * 65),
        (fields.check_gallery_name, "book\u202eings"),
        (fields.check_gallery_name, "a/b"),
        (fields.check_gallery_name, ""),
        (fields.check_gallery_name, "g" * 201),
        (fields.check_token_name, "t\u200b"),
        (lambda v: fields.check_free_text("justification", v), "why\x1b[2J"),
        (lambda v: fields.check_free_text("note", v), "n" * 2001),
        (lambda v: fields.check_free_text("note", v), "bad \ud800 surrogate"),
    ],
)
def test_field_rules_refuse_and_name_the_field(check: Callable[[str], str], value: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        check(value)
    assert refused.value.code == "invalid_field" and refused.value.subject


def test_field_rules_normalise_what_they_accept() -> None:
    assert fields.check_username(" ivy.k-9 ") == "ivy.k-9"
    assert fields.check_email("r@ops") == "r@ops"
    assert fields.check_case_number("2026-000123") == "2026-000123"
    assert fields.check_gallery_name("Cafe\u0301 bookings") == "Café bookings"  # NFC
    assert fields.check_free_text("note", "seen twice\r\nat 3 Main St\t") == (
        "seen twice\nat 3 Main St"
    )
    assert len(fields.check_gallery_name("é" * fields.NAME_MAX)) == fields.NAME_MAX


@needs_lfw
def test_a_gallery_name_with_a_nul_or_bidi_control_is_refused_and_audited(org: Org) -> None:
    for bad in ("book\x00ings", "evil\u202egpj.exe"):
        with pytest.raises(InvalidFieldError):
            galleries.create_gallery(
                org.ctx, org.people["gus"], galleries.CreateGalleryRequest(bad)
            )
        assert audit_kinds(org.ctx)[-1] == "gallery.create.refused"
    with org.ctx.sessions() as s:
        assert s.scalar(select(func.count(Gallery.id))) == 0


HOSTILE = "evil\u202e\x00" + "x" * 5000


def _last_entry(ctx: AppContext) -> AuditEntryRow:
    with ctx.sessions() as s:
        last = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).first()
    assert last is not None
    return last


def _last_refusal(ctx: AppContext) -> AuditEntryRow:
    last = _last_entry(ctx)
    assert last.kind.endswith(".refused"), last
    return last


def _rows(ctx: AppContext, table: type) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_every_action_that_takes_text_applies_the_field_rules(org: Org) -> None:
    """Usernames, e-mails, agency and network names, case numbers, justifications, notes,
    reasons and token names are checked inside the action: the refusal is typed (naming the
    field), audited with the hostile text escaped and cut (never replayed), and nothing is
    stored."""
    from facetrail.services import accounts as acc
    from facetrail.services.accounts import NewAccount
    from facetrail.services.oversight import policy as policy_service
    from facetrail.services.searching import review
    from facetrail.services.searching import search as svc
    from facetrail.services.signin import authentication as auth
    from facetrail.store.schema import Agency, Network, SearchRecord, User
    from tests.org import CASE, JUSTIFICATION, OFFENSE, PASSWORD

    ctx, root = org.ctx, org.admin
    users, agencies, networks = _rows(ctx, User), _rows(ctx, Agency), _rows(ctx, Network)
    attempts: list[tuple[str, Callable[[], object]]] = [
        (
            "username",
            lambda: acc.create_user(ctx, root, NewAccount(HOSTILE, "a@b", PASSWORD, "county")),
        ),
        (
            "email",
            lambda: acc.create_user(
                ctx, root, NewAccount("mallory", "m@x\r\nBcc: all@x", PASSWORD, "county")
            ),
        ),
        (
            "username",
            lambda: acc.request_account(
                ctx, NewAccount("mal\nlory", "m@x", PASSWORD, "county", supervisor="sam")
            ),
        ),
        (
            "email",
            lambda: acc.request_account(
                ctx, NewAccount("mallory", HOSTILE, PASSWORD, "county", supervisor="sam")
            ),
        ),
        ("agency", lambda: acc.create_agency(ctx, root, "city\u202e")),
        ("network", lambda: acc.create_network(ctx, root, "metro\x00")),
        ("reason", lambda: acc.suspend_account(ctx, root, "ian", "bad\x1b[2J")),
        (
            "reason",
            lambda: policy_service.set_policy(
                ctx,
                org.people["head"],
                "county",
                policy_service.show_policy(ctx, org.people["head"], "county").policy,
                "r" * 3000,
            ),
        ),
        (
            "case number",
            lambda: svc.search(
                ctx,
                svc.SearchRequest(
                    org.people["ivy"],
                    "2026-1\x00",
                    OFFENSE,
                    JUSTIFICATION,
                    ("bookings",),
                    (),
                    attested=True,
                ),
            ),
        ),
        (
            "justification",
            lambda: svc.search(
                ctx,
                svc.SearchRequest(
                    org.people["ivy"],
                    CASE,
                    OFFENSE,
                    JUSTIFICATION + "\x1b[31m",
                    ("bookings",),
                    (),
                    attested=True,
                ),
            ),
        ),
        ("note", lambda: svc.decide_search(ctx, org.people["sam"], 1, True, "ok\x00")),
        (
            "note",
            lambda: review.review_candidate(
                ctx, org.people["ivy"], 1, "possible_match", "looks\x07 right"
            ),
        ),
        ("note", lambda: review.record_outcome(ctx, org.people["ivy"], 1, "no_lead", "n" * 2001)),
        (
            "token name",
            lambda: auth.issue_token(
                ctx, org.people["ivy"], "ci\u200b", password=PASSWORD, code="000000"
            ),
        ),
    ]
    for field, attempt in attempts:
        with pytest.raises(InvalidFieldError) as refused:
            attempt()
        assert refused.value.subject == field, (field, refused.value)
        entry = _last_refusal(ctx)
        assert "invalid_field" in entry.details
        assert len(entry.subject) <= 200 and entry.subject.isprintable()
        assert "\u202e" not in entry.subject and "\x00" not in entry.subject
    assert (_rows(ctx, User), _rows(ctx, Agency), _rows(ctx, Network)) == (
        users,
        agencies,
        networks,
    )
    assert _rows(ctx, SearchRecord) == 0
    with ctx.sessions() as s:
        assert acc.user_by_name(s, "ian").status == "active"


def test_text_with_a_nul_is_refused_by_every_lookup_on_every_database(org: Org) -> None:
    """PostgreSQL cannot compare text holding NUL (psycopg raises DataError; schemathesis
    found a sign-in with the username "\\x00" answered 500). A sign-in with a name the rules
    refuse is an unknown user, logged escaped. Other lookups by name, case number or
    filter get the same typed refusal, naming the field, on SQLite and PostgreSQL, audited when
    it refuses an action; nothing is stored."""
    from facetrail.services import accounts as acc
    from facetrail.services.searching import review
    from facetrail.services.signin import authentication as auth
    from facetrail.store.schema import User
    from tests.org import PASSWORD

    ctx = org.ctx
    users = _rows(ctx, User)
    for name in ("\x00", "ivy\x00", "iv\u202ey"):  # names no account: the usual vague refusal
        with pytest.raises(AuthError, match="wrong username, password or code"):
            auth.login(ctx, name, PASSWORD, "000000")
        entry = _last_entry(ctx)
        assert entry.kind == "auth.login.failed" and entry.subject.isprintable(), entry
        assert entry.actor == entry.subject and "unknown_user" in entry.details
    attempts: list[tuple[str, str, Callable[[], object]]] = [
        (
            "username",
            "account.suspend.refused",
            lambda: acc.suspend_account(ctx, org.admin, "ian\x00", "a reason"),
        ),
        (
            "case number",
            "case.disclose.refused",
            lambda: review.case_disclosure(ctx, org.people["ivy"], "2026\x00"),
        ),
    ]
    for field, kind, attempt in attempts:
        before = _rows(ctx, AuditEntryRow)
        with pytest.raises(InvalidFieldError) as refused:
            attempt()
        assert field in (refused.value.subject or ""), (field, refused.value)
        assert "U+0000" in str(refused.value)
        assert _rows(ctx, AuditEntryRow) == before + 1
        entry = _last_refusal(ctx)
        assert entry.kind == kind and "\x00" not in entry.subject, entry
    assert _rows(ctx, User) == users


# --- outputs that cannot be written -------------------------------------------------------


def test_output_checks_refuse_what_cannot_be_written(tmp_path: Path) -> None:
    from facetrail.cli.outputs import check_output_file, check_output_folder

    a_file = tmp_path / "a.json"
    a_file.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    for bad in (tmp_path, tmp_path / "missing" / "x.json", a_file / "x.json", link, fifo):
        with pytest.raises(OutputPathError) as refused:
            check_output_file(bad)
        assert refused.value.subject == str(bad)
    with pytest.raises(OutputPathError):
        check_output_folder(a_file)
    with pytest.raises(OutputPathError):
        check_output_folder(a_file / "crops")
    for there in (a_file, link):  # never written over or through (see test_server_files.py)
        with pytest.raises(OutputExistsError):
            check_output_file(there)
    check_output_file(tmp_path / "new.json")
    check_output_folder(tmp_path / "new" / "crops")


@needs_lfw
def test_unwritable_output_is_refused_before_anything_is_read_or_audited(
    term: Terminal, tmp_path: Path
) -> None:
    term.init()
    home = Settings(home=term.home, threads=1)
    ctx = AppContext.open(home)
    try:
        before = len(audit_kinds(ctx))
        existing = tmp_path / "taken"
        existing.write_text("a file, not a folder")
        for args in (
            ("searches", "export", "1", "--out", str(tmp_path / "missing" / "search.json")),
            ("searches", "image", "1", "--out", str(tmp_path)),
            ("case", "disclose", "2026-000123", "--out", str(existing / "case.json")),
            ("searches", "show", "1", "--crops", str(existing)),
        ):
            out = term(*args, code=2)
            assert "output_path_unwritable" in out, out
        assert len(audit_kinds(ctx)) == before
    finally:
        ctx.close()


def test_every_file_writing_command_checks_its_output_first() -> None:
    """A new command that writes a file without checking it first, or over a file that is
    there already, would slip past the tests above: the CLI writes files only through
    ``write_output`` (new 0600 files), and every module that does checks its outputs."""
    cli = Path(__file__).resolve().parents[2] / "src" / "facetrail" / "cli"
    for module in cli.glob("*.py"):
        text = module.read_text()
        for unchecked in (".write_bytes(", ".write_text(", ".savefig("):
            assert unchecked not in text, f"{module.name} writes a file with {unchecked}"
        # open() to write by name (os.fdopen wraps a file made with O_EXCL, as write_output does)
        assert not re.search(r'(?<!os\.fd)open\([^)]*"[wax]b?"', text), module.name
        if "write_output(" in text and module.name not in {"render.py", "outputs.py"}:
            assert "outputs_writable" in text, f"{module.name} writes files unchecked"
