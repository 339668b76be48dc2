"""Files on the server, tried as insiders would: a gallery admin who asks the service to
ingest facetrail's own folders (every agency's probe photos, its keys) or any folder of the
machine, a queued job that runs after its submitter was suspended or lost the role, and an
output file planted in advance by another user of the machine to receive a disclosure."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from facetrail.cli.main import app as cli_app
from facetrail.config import get_settings
from facetrail.governance.credentials import Role
from facetrail.services import accounts as acc
from facetrail.services.context import AppContext
from facetrail.services.galleries import jobs
from facetrail.services.searching import review as review_service
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, Image, JobRow, SearchCandidate
from tests.api.conftest import World, made_world
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import CASE, Org, sign_in

pytestmark = needs_lfw

Cli = Callable[..., str]


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[World]:
    """The API's world: gus administers the galleries; the run's temporary folder is the
    import root, so the home (and its blobs) lie under the root."""
    with made_world(tmp_path) as made:
        yield made


def _entries_after(ctx: AppContext, seq: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(actor, kind, subject, details) of the entries after ``seq``, row seals left out."""
    with ctx.sessions() as s:
        rows = s.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.seq > seq, AuditEntryRow.kind != "row.seal")
            .order_by(AuditEntryRow.seq)
        ).all()
        return [(r.actor, r.kind, r.subject, json.loads(r.details)) for r in rows]


def _last_seq(ctx: AppContext) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.max(AuditEntryRow.seq))) or 0)


def _count(ctx: AppContext, table: type[Any]) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def _cli(ctx: AppContext, monkeypatch: pytest.MonkeyPatch, token: str | None = None) -> Cli:
    """The real CLI on ``ctx``'s home, signed in with ``token`` (else nobody is)."""
    settings = ctx.settings
    monkeypatch.setenv("FACETRAIL_HOME", str(settings.home))
    monkeypatch.setenv("FACETRAIL_THREADS", "1")
    if settings.database_url:
        monkeypatch.setenv("FACETRAIL_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    if token is not None:
        settings.session_token_file.unlink(missing_ok=True)
        settings.session_token_file.write_text(token)
        settings.session_token_file.chmod(0o600)

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(cli_app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


# --- 1. server-side ingestion reads only under the operator's import roots ----------------


def _ingest(world: World, path: str, who: str = "gus", **more: str) -> Any:
    return world.client.post(
        "/api/v1/galleries/bookings/ingestions",
        json={"source": "county", "path": path} | more,
        headers=world.as_(who),
    )


def _refused_and_audited(world: World, answer: Any, path: str, before: int) -> None:
    assert answer.status_code == 422, (path, answer.text)
    problem = answer.json()
    assert problem["code"] == "folder_not_allowed" and problem["subject"] == path, problem
    refusals = [e for e in _entries_after(world.ctx, before) if e[1] == "job.submit.refused"]
    assert len(refusals) == 1, (path, _entries_after(world.ctx, before))
    actor, _, _, details = refusals[0]
    assert actor == "gus" and details["code"] == "folder_not_allowed", details
    assert details["path"] == path


def test_a_gallery_admin_cannot_ingest_facetrail_s_own_folders(api: World, tmp_path: Path) -> None:
    """The attack: every agency's probe photos (the blobs) made searchable gallery faces,
    and the keys and secrets read, by asking the service to ingest them. All lie under the
    import root here; none may be read, whatever path leads there."""
    settings = api.ctx.settings
    assert any(settings.blob_dir.iterdir())  # probe and gallery photos are there
    to_blobs = tmp_path / "drop"
    to_blobs.symlink_to(settings.blob_dir, target_is_directory=True)
    attempts = [
        settings.blob_dir,
        settings.home,
        settings.home / "index",
        settings.audit_key_dir,
        settings.totp_key_file.parent,
        tmp_path,  # holds the home: ingestion is recursive
        to_blobs,  # a symlink under the root into the blobs
        tmp_path / "photos" / ".." / "home" / "blobs",
    ]
    for folder in attempts:
        path = str(folder)
        before = _last_seq(api.ctx)
        _refused_and_audited(api, _ingest(api, path), path, before)
    assert _count(api.ctx, JobRow) == 0


def test_a_gallery_admin_cannot_ingest_folders_outside_the_import_roots(
    api: World, tmp_path: Path
) -> None:
    (tmp_path / "etc-link").symlink_to("/etc", target_is_directory=True)
    root = api.ctx.settings.import_roots[0]
    for path in ("/etc", str(root) + "/.." * 30 + "/etc", str(tmp_path / "etc-link")):
        before = _last_seq(api.ctx)
        _refused_and_audited(api, _ingest(api, path), path, before)
    # A manifest is read too: it must lie under a root, never in facetrail's folders.
    photos = tmp_path / "more"
    copy_first_images(photos, lfw_people(5)[4:])
    for manifest in ("/etc/passwd", str(api.ctx.settings.totp_key_file)):
        before = _last_seq(api.ctx)
        answer = _ingest(api, str(photos), manifest=manifest)
        assert answer.status_code == 422 and answer.json()["subject"] == manifest, answer.text
        (refusal,) = [e for e in _entries_after(api.ctx, before) if e[1] == "job.submit.refused"]
        assert refusal[3]["code"] == "folder_not_allowed"
    assert _count(api.ctx, JobRow) == 0


def test_without_import_roots_server_side_ingestion_is_refused(
    api: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.ctx.settings, "import_roots", [])
    folder = tmp_path / "more"
    copy_first_images(folder, lfw_people(5)[4:])
    before = _last_seq(api.ctx)
    answer = _ingest(api, str(folder))
    _refused_and_audited(api, answer, str(folder), before)
    assert "FACETRAIL_IMPORT_ROOTS" in answer.json()["detail"]


def test_a_folder_swapped_for_a_link_after_it_was_queued_is_refused_when_the_job_runs(
    api: World, tmp_path: Path
) -> None:
    folder = tmp_path / "more"
    copy_first_images(folder, lfw_people(6)[4:])
    queued = _ingest(api, str(folder))
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["id"]
    folder.rename(tmp_path / "moved")
    folder.symlink_to(api.ctx.settings.blob_dir, target_is_directory=True)
    images, before = _count(api.ctx, Image), _last_seq(api.ctx)
    assert jobs.run_pending(api.ctx, "test-worker") == [(job_id, "failed")]
    assert _count(api.ctx, Image) == images
    job = jobs.get_job(api.ctx, api.org.admin, job_id)
    assert job.result is not None and job.result["code"] == "folder_not_allowed"
    kinds = [e[1] for e in _entries_after(api.ctx, before)]
    assert "job.run.refused" in kinds and "gallery.ingest.batch" not in kinds


def test_the_cli_may_name_any_folder_but_never_facetrail_s_own(
    api: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's CLI is not bound to the import roots, but the blobs, the home, its
    keys and secrets are refused there too."""
    facetrail = _cli(api.ctx, monkeypatch, sign_in(api.ctx, api.org.enrolments["gus"]).token)
    blobs = str(api.ctx.settings.blob_dir)
    images, before = _count(api.ctx, Image), _last_seq(api.ctx)
    out = facetrail("gallery", "ingest", blobs, "-g", "bookings", "-s", "county", code=2)
    assert "folder_not_allowed" in out and "blobs" in out, out
    assert _count(api.ctx, Image) == images
    refused = [e for e in _entries_after(api.ctx, before) if e[1] == "gallery.ingest.refused"]
    assert [(e[0], e[3]["code"]) for e in refused] == [("gus", "folder_not_allowed")]
    elsewhere = tmp_path / "elsewhere"  # no import root needed on the operator's machine
    copy_first_images(elsewhere, lfw_people(5)[4:])
    monkeypatch.setenv("FACETRAIL_IMPORT_ROOTS", "[]")
    get_settings.cache_clear()
    done = json.loads(
        facetrail("gallery", "ingest", str(elsewhere), "-g", "bookings", "-s", "county", "--json")
    )
    assert done["images_ingested"] == 1


# --- 2. a queued job runs only while its submitter may still run it ---------------------------


def _queued(api: World, tmp_path: Path) -> int:
    folder = tmp_path / "more"
    copy_first_images(folder, lfw_people(6)[4:])
    queued = _ingest(api, str(folder))
    assert queued.status_code == 202, queued.text
    return int(queued.json()["id"])


def _refused_run(api: World, job_id: int, before: int, images: int, code: str) -> None:
    assert _count(api.ctx, Image) == images  # nothing of the job was ingested
    job = jobs.get_job(api.ctx, api.org.admin, job_id)
    assert job.status == "failed" and job.result is not None, job
    assert job.result["code"] == code and "gus" in job.result["problem"], job.result
    entries = _entries_after(api.ctx, before)
    refused = [e for e in entries if e[1] == "job.run.refused"]
    assert len(refused) == 1, entries
    actor, _, subject, details = refused[0]
    assert (actor, subject) == ("system", f"job:{job_id}")
    assert details["submitter"] == "gus" and details["code"] == code, details
    assert not [e for e in entries if e[1] == "gallery.ingest.batch"]


def test_a_job_whose_submitter_was_suspended_is_refused(api: World, tmp_path: Path) -> None:
    job_id = _queued(api, tmp_path)
    acc.suspend_account(api.ctx, api.org.admin, "gus", "left the unit under investigation")
    images, before = _count(api.ctx, Image), _last_seq(api.ctx)
    assert jobs.run_pending(api.ctx, "test-worker") == [(job_id, "failed")]
    _refused_run(api, job_id, before, images, "account_inactive")


def test_a_job_whose_submitter_lost_the_role_is_refused(api: World, tmp_path: Path) -> None:
    job_id = _queued(api, tmp_path)
    acc.set_roles(api.ctx, api.org.admin, "gus", (Role.INVESTIGATOR,))
    images, before = _count(api.ctx, Image), _last_seq(api.ctx)
    assert jobs.run_pending(api.ctx, "test-worker") == [(job_id, "failed")]
    _refused_run(api, job_id, before, images, "permission_denied")


def test_a_running_job_stops_when_its_submitter_is_suspended(
    api: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Suspended while the job runs: it stops at its next heartbeat."""
    job_id = _queued(api, tmp_path)
    real = jobs.ingest

    def suspended_once_started(ctx: AppContext, asker: Any, request: Any, progress: Any) -> Any:
        def beat(done: int, total: int) -> None:
            if asker.username == "gus":
                acc.suspend_account(ctx, api.org.admin, "gus", "suspended while it ran")
            progress(done, total)

        return real(ctx, asker, request, beat)

    monkeypatch.setattr(jobs, "ingest", suspended_once_started)
    images, before = _count(api.ctx, Image), _last_seq(api.ctx)
    assert jobs.run_pending(api.ctx, "test-worker") == [(job_id, "failed")]
    _refused_run(api, job_id, before, images, "account_inactive")


# --- 3. output files: new, 0600, never one planted in advance --------------------------------


@pytest.fixture()
def as_ivy(
    world: tuple[Org, int, tuple[ProbeImage, ...]], monkeypatch: pytest.MonkeyPatch
) -> tuple[Org, int, Cli]:
    """The county with ivy's finished search, and the CLI signed in as ivy."""
    org, search_id, _ = world
    return org, search_id, _cli(org.ctx, monkeypatch, sign_in(org.ctx, org.enrolments["ivy"]).token)


def _commands(org: Org, search_id: int, out: Path) -> list[tuple[str, ...]]:
    with org.ctx.sessions() as s:
        candidate = s.scalars(
            select(SearchCandidate.id).where(SearchCandidate.search_id == search_id).limit(1)
        ).one()
    return [
        ("case", "disclose", CASE, "--out", str(out)),
        ("searches", "export", str(search_id), "--out", str(out)),
        ("searches", "image", str(candidate), "--out", str(out)),
        ("report", "transparency", "--agency", "county", "--out", str(out)),
        ("audit", "export", str(out)),
    ]


def _plant(path: Path, text: str = "planted by another user\n") -> None:
    path.write_text(text)
    path.chmod(0o666)  # the other user reads whatever lands in it


def test_a_file_planted_in_advance_never_receives_an_output(
    as_ivy: tuple[Org, int, Cli], tmp_path: Path
) -> None:
    org, search_id, facetrail = as_ivy
    planted = tmp_path / "shared" / "disclosure.json"
    planted.parent.mkdir()
    decoy = tmp_path / "decoy.json"
    _plant(decoy)
    link = tmp_path / "shared" / "link.json"
    link.symlink_to(decoy)
    for out in (planted, link):
        for args in _commands(org, search_id, out):
            _plant(planted)
            before = _last_seq(org.ctx)
            shown = facetrail(*args, code=2)
            assert "output_path_exists" in shown, shown
            assert str(out) in shown.replace("\n", ""), shown
            assert planted.read_text() == decoy.read_text() == "planted by another user\n"
            assert _entries_after(org.ctx, before) == [], args  # nothing was read or shown


def test_outputs_are_new_files_only_their_owner_reads(
    as_ivy: tuple[Org, int, Cli], tmp_path: Path
) -> None:
    org, search_id, facetrail = as_ivy
    for number, args in enumerate(_commands(org, search_id, tmp_path / "out")):
        out = tmp_path / f"out{number}"
        facetrail(*args[:-1], str(out))
        assert stat.S_IMODE(out.stat().st_mode) == 0o600, args
        assert out.stat().st_size > 0


def test_a_file_planted_while_the_disclosure_is_made_is_refused_and_audited(
    as_ivy: tuple[Org, int, Cli], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: the output is checked, then planted (a file, or a symlink to the other
    user's file) while the service assembles the disclosure. The write refuses it, and the
    log says the disclosure it recorded never reached a file."""
    org, _, facetrail = as_ivy
    real = review_service.case_disclosure
    decoy = tmp_path / "decoy.json"
    _plant(decoy)
    for kind in ("file", "symlink"):
        out = tmp_path / f"disclosure-{kind}.json"

        def planted_meanwhile(*args: Any, _out: Path = out, _kind: str = kind) -> Any:
            made = real(*args)
            _plant(_out) if _kind == "file" else _out.symlink_to(decoy)
            return made

        monkeypatch.setattr(review_service, "case_disclosure", planted_meanwhile)
        before = _last_seq(org.ctx)
        shown = facetrail("case", "disclose", CASE, "--out", str(out), code=2)
        assert "output_path_exists" in shown, shown
        assert decoy.read_text() == "planted by another user\n"
        if kind == "file":
            assert out.read_text() == "planted by another user\n"
        kinds = [(e[0], e[1], e[2]) for e in _entries_after(org.ctx, before)]
        assert ("ivy", "case.disclose", f"case:{CASE}") in kinds, kinds
        assert ("ivy", "case.disclose.output.refused", str(out)) in kinds, kinds


def test_candidate_crops_are_new_private_files(
    as_ivy: tuple[Org, int, Cli], tmp_path: Path
) -> None:
    org, search_id, facetrail = as_ivy
    crops = tmp_path / "crops"
    show = ("searches", "show", str(search_id), "--crops", str(crops))
    shown = json.loads(facetrail(*show, "--json"))
    paths = [Path(c["crop_path"]) for c in shown["candidates"] if c["crop_path"]]
    assert paths and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    # The same names again, planted: refused, never written through.
    for path in paths:
        path.unlink()
        _plant(path)
    out = facetrail(*show, code=2)
    assert "output_path_exists" in out
    assert all(p.read_text() == "planted by another user\n" for p in paths)
    kinds = [e[1] for e in _entries_after(org.ctx, 0)]
    assert kinds[-2:] == ["search.view", "search.view.output.refused"], kinds[-4:]
