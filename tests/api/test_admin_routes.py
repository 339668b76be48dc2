"""The routes that give the API what the CLI's operator commands do: a checkpoint made now,
the log's public key and its export, an index check, the model packs and the schema revision.
Each answers what the CLI prints for the same thing, only to the roles its service allows;
every refusal is a problem and an audit entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from facetrail.cli.main import app as cli
from facetrail.config import get_settings
from facetrail.governance import merkle
from facetrail.governance.checkpoints import parse_checkpoint, signature_ok
from facetrail.governance.credentials import Role
from facetrail.governance.note import parse_vkey
from facetrail.governance.verify import leaves
from facetrail.services.audit.log import load_published
from facetrail.store.schema import AuditEntryRow, CheckpointRow
from tests.api.conftest import World, module_world
from tests.conftest import needs_lfw

__all__ = ["module_world"]
pytestmark = needs_lfw
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def admin_world(module_world: World) -> World:
    """The module's world with an auditor of the county (aud)."""
    module_world.org.add("aud", "county", Role.AUDITOR)
    return module_world


@pytest.fixture()
def facetrail(admin_world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The CLI on the world's home, as its operator runs it (no sign-in)."""
    settings = admin_world.ctx.settings
    monkeypatch.setenv("FACETRAIL_HOME", str(settings.home))
    monkeypatch.setenv("FACETRAIL_THREADS", "1")
    if settings.database_url:
        monkeypatch.setenv("FACETRAIL_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    yield run
    get_settings.cache_clear()


def _last(world: World) -> tuple[str, str]:
    """The actor and kind of the log's latest entry."""
    with world.ctx.sessions() as s:
        row = s.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(1)).one()
        return row.actor, row.kind


def _checkpoints(world: World) -> int:
    with world.ctx.sessions() as s:
        return int(s.scalar(select(func.count(CheckpointRow.id))) or 0)


def _refused(world: World, answer: Any, who: str, kind: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["code"] == "permission_denied"
    assert _last(world) == (who, f"{kind}.refused")


def _refused_without_a_valid_token(world: World, method: str, path: str) -> None:
    answer = world.client.request(method, path, headers={"Authorization": "Bearer ft_forged"})
    assert answer.status_code == 401 and answer.headers["content-type"] == PROBLEM
    assert _last(world)[1] == "auth.token.refused"


# --- audit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["aud", "root"])
def test_a_checkpoint_made_through_the_api_verifies(admin_world: World, who: str) -> None:
    world = admin_world
    answer = world.client.post("/api/v1/audit/checkpoints", headers=world.as_(who))
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert set(made) == {"tree_size", "root", "at", "note"}
    # Signed by the key the API hands out, over the log as it stood with its own entry last.
    vkey = world.client.get("/api/v1/audit/public-key", headers=world.as_("ivy")).text
    checkpoint = parse_checkpoint(made["note"])
    assert signature_ok(parse_vkey(vkey.strip()), checkpoint)
    assert (checkpoint.tree_size, checkpoint.root.hex()) == (made["tree_size"], made["root"])
    with world.ctx.sessions() as s:
        hashes, failure = leaves(s)
        entry = s.scalar(select(AuditEntryRow).where(AuditEntryRow.seq == made["tree_size"]))
    assert failure is None and entry is not None
    assert merkle.root(hashes[: made["tree_size"]]).hex() == made["root"]
    assert (entry.actor, entry.kind) == (who, "audit.checkpoint")
    listed = world.client.get("/api/v1/audit/checkpoints", headers=world.as_("ivy")).json()
    assert listed[-1] == made
    report = world.client.get("/api/v1/audit/verify", headers=world.as_(who)).json()
    assert report["ok"] is True, report


@pytest.mark.parametrize("who", ["ivy", "head", "gus"])
def test_others_may_not_make_a_checkpoint(admin_world: World, who: str) -> None:
    before = _checkpoints(admin_world)
    answer = admin_world.client.post("/api/v1/audit/checkpoints", headers=admin_world.as_(who))
    _refused(admin_world, answer, who, "audit.checkpoint")
    assert _checkpoints(admin_world) == before


def test_the_public_key_is_what_the_cli_prints(admin_world: World, facetrail: Any) -> None:
    answer = admin_world.client.get("/api/v1/audit/public-key", headers=admin_world.as_("ivy"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == facetrail("audit", "public-key")
    _refused_without_a_valid_token(admin_world, "GET", "/api/v1/audit/public-key")


def test_the_export_is_the_file_the_cli_writes(
    admin_world: World, facetrail: Any, tmp_path: Any
) -> None:
    world = admin_world
    world.client.post("/api/v1/audit/checkpoints", headers=world.as_("aud"))  # one at least
    answer = world.client.get("/api/v1/audit/export", headers=world.as_("ivy"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="facetrail-checkpoints.json"'
    )
    written = tmp_path / "checkpoints.json"
    facetrail("audit", "export", str(written))
    assert answer.text == written.read_text()
    assert [c.to_json() for c in load_published(answer.text)] == json.loads(answer.text)
    _refused_without_a_valid_token(world, "GET", "/api/v1/audit/export")


# --- index ---------------------------------------------------------------------------------


def test_an_index_check_reports_what_the_cli_reports(admin_world: World, facetrail: Any) -> None:
    world = admin_world
    answer = world.client.post("/api/v1/galleries/bookings/index/check", headers=world.as_("gus"))
    assert answer.status_code == 200, answer.text
    assert _last(world) == ("gus", "index.check")
    assert answer.json() == json.loads(facetrail("index", "check", "bookings", "--json"))
    assert answer.json()["rebuilt"] is False and answer.json()["entries"] > 0


def test_an_index_check_repairs_a_lost_index(admin_world: World) -> None:
    world = admin_world
    for lost in world.ctx.settings.index_dir.glob("gallery-*"):
        lost.unlink()
    answer = world.client.post("/api/v1/galleries/bookings/index/check", headers=world.as_("root"))
    report = answer.json()
    assert answer.status_code == 200 and report["rebuilt"] is True, report
    assert report["damage"] == "missing"
    with world.ctx.sessions() as s:
        kinds = s.execute(
            select(AuditEntryRow.actor, AuditEntryRow.kind).order_by(AuditEntryRow.seq.desc())
        ).all()[:2]
    assert [tuple(k) for k in kinds] == [("root", "index.check"), ("root", "index.damaged")]


def test_others_may_not_check_an_index(admin_world: World) -> None:
    path = "/api/v1/galleries/bookings/index/check"
    answer = admin_world.client.post(path, headers=admin_world.as_("ivy"))
    _refused(admin_world, answer, "ivy", "index.check")


# --- models and database ---------------------------------------------------------------------


def test_gallery_admins_see_the_model_packs_the_cli_lists(
    admin_world: World, facetrail: Any
) -> None:
    answer = admin_world.client.get("/api/v1/models", headers=admin_world.as_("gus"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == json.loads(facetrail("models", "--json"))
    unchecked = admin_world.client.get(
        "/api/v1/models?check=false", headers=admin_world.as_("root")
    )
    assert unchecked.json() == json.loads(facetrail("models", "--json", "--no-check"))
    assert any(p["installed"] for p in answer.json())


def test_others_may_not_list_the_model_packs(admin_world: World) -> None:
    answer = admin_world.client.get("/api/v1/models", headers=admin_world.as_("ivy"))
    _refused(admin_world, answer, "ivy", "models.list")


def test_system_admins_see_the_schema_revision_the_cli_shows(
    admin_world: World, facetrail: Any
) -> None:
    answer = admin_world.client.get("/api/v1/database", headers=admin_world.as_("root"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == json.loads(facetrail("db", "status", "--json"))
    assert answer.json()["up_to_date"] is True


@pytest.mark.parametrize("who", ["head", "aud"])
def test_others_may_not_read_the_schema_revision(admin_world: World, who: str) -> None:
    answer = admin_world.client.get("/api/v1/database", headers=admin_world.as_(who))
    _refused(admin_world, answer, who, "db.status")


def test_a_gallerys_photos_are_listed_a_page_at_a_time(admin_world: World) -> None:
    world = admin_world
    path = "/api/v1/galleries/bookings/photos"
    answer = world.client.get(path, params={"order": "name", "limit": 2}, headers=world.as_("gus"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] >= 2 and len(body["photos"]) == 2 and body["order"] == "name"
    assert [p["name"] for p in body["photos"]] == sorted(p["name"] for p in body["photos"])
    assert all("thumbnail" not in p and p["legal_basis"] for p in body["photos"])
    assert _last(world) == ("gus", "gallery.browse")
    bad = world.client.get(path, params={"order": "random"}, headers=world.as_("gus"))
    assert bad.status_code == 422
    _refused(world, world.client.get(path, headers=world.as_("ivy")), "ivy", "gallery.browse")
