"""Issue 23: the audit log published as C2SP tlog-tiles, which any tiles client or witness can
read and check without the database. Publishing is incremental (only what is new since the
folder's checkpoint), and a folder or database that disagrees with what was signed stops it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import Settings, get_settings
from facetrail.errors import TilesConflictError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.merkle import root
from facetrail.governance.tiles import hashes_of, tile_path, unbundle
from facetrail.services.audit import log as audit
from facetrail.services.audit.tiles import check_tiles, publish_tiles
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow


def _add(ctx: AppContext, n: int) -> None:
    with ctx.transaction() as s:
        for i in range(n):
            append(s, AuditEvent("user", "test.event", f"e-{i}", {"n": i}))


@pytest.fixture()
def ctx(tmp_path: Path):  # type: ignore[no-untyped-def]
    ctx = AppContext.open(Settings(home=tmp_path / "home"))
    audit.ensure_keys(ctx)
    yield ctx
    ctx.close()


def _leaves(ctx: AppContext) -> list[bytes]:
    with ctx.sessions() as s:
        return list(s.scalars(select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq)))


def test_the_published_tiles_give_the_signed_root_and_grow_by_what_is_new(
    ctx: AppContext, tmp_path: Path
) -> None:
    folder = tmp_path / "published"
    _add(ctx, 600)
    first = audit.make_checkpoint(ctx)
    report = publish_tiles(ctx, folder)
    assert (report.tree_size, report.from_size, report.entries) == (first.tree_size, 0, False)
    assert (folder / "checkpoint").read_text() == first.note()
    # The hash tiles are the log's leaves; no entries are published without being asked.
    leaves = _leaves(ctx)
    assert hashes_of((folder / tile_path(0, 0)).read_bytes()) == leaves[:256]
    assert not (folder / "tile" / "entries").exists()
    assert check_tiles(folder, audit.public_key(ctx)).root == root(leaves).hex()

    _add(ctx, 200)  # 802 entries: a third full tile
    second = audit.make_checkpoint(ctx)
    again = publish_tiles(ctx, folder)
    assert again.from_size == first.tree_size and again.tree_size == second.tree_size
    # Only the new full tile and the partial tiles are written.
    assert again.tiles_written == 1 + 2
    assert check_tiles(folder, audit.public_key(ctx)).tree_size == second.tree_size
    assert publish_tiles(ctx, folder).tiles_written == 2  # nothing new: the partials again


def test_entry_bundles_are_published_when_asked_and_recorded(
    ctx: AppContext, tmp_path: Path
) -> None:
    folder = tmp_path / "published"
    _add(ctx, 300)
    cp = audit.make_checkpoint(ctx)
    publish_tiles(ctx, folder)
    report = publish_tiles(ctx, folder, entries=True)
    assert report.entries
    bundled = unbundle((folder / tile_path("entries", 0)).read_bytes())
    assert json.loads(bundled[4])["subject"] == "e-4"  # the entries as the log hashed them
    with ctx.sessions() as s:
        kinds = s.scalars(select(AuditEntryRow.kind).where(AuditEntryRow.seq > cp.tree_size))
        assert "audit.tiles" in list(kinds)
    assert check_tiles(folder, audit.public_key(ctx)).entries


def test_a_changed_tile_or_entry_is_caught_never_overwritten(
    ctx: AppContext, tmp_path: Path
) -> None:
    folder = tmp_path / "published"
    _add(ctx, 300)
    audit.make_checkpoint(ctx)
    publish_tiles(ctx, folder, entries=True)
    key = audit.public_key(ctx)
    # A published bundle edited: a client finds it.
    path = folder / tile_path("entries", 0)
    good = path.read_bytes()
    path.write_bytes(good.replace(b"e-7", b"e-8", 1))
    with pytest.raises(TilesConflictError, match="entry bundle 0"):
        check_tiles(folder, key)
    path.write_bytes(good)
    # A full hash tile edited: the next publication refuses to overwrite the evidence.
    tile = folder / tile_path(0, 0)
    original = tile.read_bytes()
    tile.write_bytes(bytes(32) + original[32:])
    _add(ctx, 300)
    audit.make_checkpoint(ctx)
    with pytest.raises(TilesConflictError):
        check_tiles(folder, key)
    tile.write_bytes(original)
    # An entry edited in the database after it was signed: nothing is published from it.
    with ctx.transaction() as s:
        s.execute(update(AuditEntryRow).where(AuditEntryRow.seq == 400).values(subject="edited"))
    with pytest.raises(TilesConflictError, match="entry 400"):
        publish_tiles(ctx, folder)
    assert check_tiles(folder, key).tree_size == 301  # the folder is as it was


def test_a_folder_of_another_log_or_a_longer_one_is_refused(
    ctx: AppContext, tmp_path: Path
) -> None:
    other = AppContext.open(Settings(home=tmp_path / "other"))
    try:
        audit.ensure_keys(other)
        _add(other, 5)
        audit.make_checkpoint(other)
        publish_tiles(other, tmp_path / "theirs")
    finally:
        other.close()
    _add(ctx, 5)
    audit.make_checkpoint(ctx)
    with pytest.raises(TilesConflictError, match="not signed by this log"):
        publish_tiles(ctx, tmp_path / "theirs")


def test_the_commands_publish_and_check(ctx: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "published"
    _add(ctx, 20)
    audit.make_checkpoint(ctx)
    get_settings.cache_clear()
    try:
        env = {"FACETRAIL_HOME": str(ctx.settings.home)}
        done = CliRunner().invoke(app, ["audit", "tiles", str(folder), "--json"], env=env)
        assert done.exit_code == 0, done.output
        assert json.loads(done.output)["tree_size"] == 21
    finally:
        get_settings.cache_clear()
    key = audit.public_key(ctx).encode()
    checked = CliRunner().invoke(app, ["audit", "tiles-check", str(folder), "--log-key", key])
    assert checked.exit_code == 0 and "signed checkpoint of 21 entries" in checked.output
    partial = folder / tile_path(0, 0, 21)
    partial.write_bytes(partial.read_bytes()[:-32] + bytes(32))
    checked = CliRunner().invoke(app, ["audit", "tiles-check", str(folder), "--log-key", key])
    assert checked.exit_code == 1 and "tiles_conflict" in checked.output


def test_each_checkpoint_publishes_the_tiles_where_configured(tmp_path: Path) -> None:
    folder = tmp_path / "published"
    ctx = AppContext.open(Settings(home=tmp_path / "home", tiles_dir=folder))
    try:
        audit.ensure_keys(ctx)
        _add(ctx, 300)
        first = audit.make_checkpoint(ctx)
        assert (folder / "checkpoint").read_text() == first.note()
        assert check_tiles(folder, audit.public_key(ctx)).tree_size == first.tree_size
        # A folder that disagrees (its partial tile edited): the checkpoint stands, the
        # refusal is in the log.
        (folder / tile_path(0, 1, first.tree_size - 256)).write_bytes(
            bytes(32 * (first.tree_size - 256))
        )
        _add(ctx, 300)
        second = audit.make_checkpoint(ctx)
        assert second.tree_size > first.tree_size
        with ctx.sessions() as s:
            refused = s.scalars(
                select(AuditEntryRow.details).where(AuditEntryRow.kind == "audit.tiles.refused")
            ).all()
        assert len(refused) == 1 and '"tiles_conflict"' in refused[0]
    finally:
        ctx.close()
