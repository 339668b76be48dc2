"""Issue 23: proofs cost O(log n) reads. Each append that completes a tile of the log writes
the tile's hash (``audit_tile_hashes``), and inclusion and consistency proofs are made from
those and a few leaf hashes, checked against the signed root before they are given: the same
proofs as from every leaf, a few dozen reads for any entry, and a tile hash edited is caught."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from facetrail.config import Settings
from facetrail.errors import InvalidRequestError
from facetrail.governance import merkle
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.stored_tree import StoredTree
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.store.migrations import HEAD
from facetrail.store.schema import AuditEntryRow, AuditTileHashRow
from facetrail.store.schema_version import downgrade, upgrade

#: Past 256**2 entries: tile hashes at levels 1 and 2.
SIZE = 256**2 + 700

#: The proofs over a log of 66,000 entries run once, in the SQLite pass (making it takes
#: minutes on PostgreSQL); appends write tile hashes there too, which the migration's test,
#: run on both, compares with the ones it computes.
big = pytest.mark.one_backend


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("proofs") / "home"
    ctx = AppContext.open(Settings(home=home))
    audit.ensure_keys(ctx)
    with ctx.transaction() as s:
        for i in range(SIZE - 2):
            append(s, AuditEvent("user", "test.event", f"e-{i}", {"n": i}))
    audit.make_checkpoint(ctx)  # entry SIZE - 1
    with ctx.transaction() as s:
        append(s, AuditEvent("user", "test.event", "after", {}))
    yield ctx
    ctx.close()


def _leaves(ctx: AppContext) -> list[bytes]:
    with ctx.sessions() as s:
        return [
            bytes(h) for h in s.scalars(select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq))
        ]


def _tiles(ctx: AppContext) -> dict[tuple[int, int], bytes]:
    with ctx.sessions() as s:
        rows = s.execute(
            select(AuditTileHashRow.level, AuditTileHashRow.idx, AuditTileHashRow.hash)
        )
        return {(level, idx): bytes(h) for level, idx, h in rows}


@big
def test_each_full_tile_s_hash_is_kept_as_it_is_completed(big_log: AppContext) -> None:
    leaves = _leaves(big_log)
    tiles = _tiles(big_log)
    assert len(tiles) == len(leaves) // 256 + len(leaves) // 256**2
    for (level, idx), value in random.Random(1).sample(sorted(tiles.items()), 50):
        width = 256**level
        assert value == merkle.root(leaves[idx * width : (idx + 1) * width])
    assert tiles[(2, 0)] == merkle.root(leaves[: 256**2])


@big
def test_proofs_are_the_naive_ones_from_a_few_reads(big_log: AppContext) -> None:
    leaves = _leaves(big_log)
    signed = SIZE - 1
    rng = random.Random(7)
    for entry in [1, 256, 257, 65_536, 65_537, signed, *rng.sample(range(1, signed + 1), 30)]:
        proof = audit.prove_entry(big_log, entry)
        assert proof.tree_size == signed
        assert [bytes.fromhex(p) for p in proof.path] == merkle.inclusion_proof(
            leaves[:signed], entry - 1
        )
    with big_log.sessions() as s:
        tree = StoredTree(s)
        merkle.inclusion_path(signed, rng.randrange(signed), tree.range_hash)
        assert tree.reads <= 40  # against 65,000 leaves read before
        tree = StoredTree(s)
        assert merkle.consistency_path(1000, signed, tree.range_hash) == (
            merkle.consistency_proof(leaves[:signed], 1000)
        )
        assert tree.reads <= 40


@big
def test_a_proof_costs_far_less_than_reading_every_leaf(big_log: AppContext) -> None:
    started = time.perf_counter()
    audit.prove_entry(big_log, 12_345)
    stored = time.perf_counter() - started
    started = time.perf_counter()
    merkle.inclusion_proof(_leaves(big_log)[: SIZE - 1], 12_344)
    naive = time.perf_counter() - started
    assert stored < naive  # the ratio is measured in bench/audit_proofs.py


@big
def test_an_edited_tile_hash_gives_no_proof_and_a_missing_one_is_made_again(
    big_log: AppContext,
) -> None:
    key = (AuditTileHashRow.level == 1) & (AuditTileHashRow.idx == 3)
    with big_log.sessions() as s, s.begin():
        kept = bytes(s.scalar(select(AuditTileHashRow.hash).where(key)) or b"")
        s.execute(update(AuditTileHashRow).where(key).values(hash=bytes(32)))
    with pytest.raises(InvalidRequestError, match="does not verify"):
        audit.prove_entry(big_log, 2)  # its path goes through tile 3 of level 1
    with big_log.sessions() as s, s.begin():
        s.execute(delete(AuditTileHashRow).where(key))
    assert audit.prove_entry(big_log, 2).tree_size == SIZE - 1  # from the level below
    with big_log.sessions() as s, s.begin():
        s.add(AuditTileHashRow(level=1, idx=3, hash=kept))


def test_the_migration_fills_the_hashes_of_an_older_log(tmp_path: Path) -> None:
    ctx = AppContext.open(Settings(home=tmp_path / "home"))
    try:
        with ctx.transaction() as s:
            for i in range(3 * 256 + 5):
                append(s, AuditEvent("user", "test.event", f"e-{i}", {}))
        before = _tiles(ctx)
        assert len(before) == 3
        assert downgrade(ctx.engine, "0010_protected_activity") == "0010_protected_activity"
        assert upgrade(ctx.engine).after == HEAD
        assert _tiles(ctx) == before
    finally:
        ctx.close()


def test_audit_verify_names_a_tile_hash_edited_removed_or_added(tmp_path: Path) -> None:
    ctx = AppContext.open(Settings(home=tmp_path / "home"))
    try:
        audit.ensure_keys(ctx)
        with ctx.transaction() as s:
            for i in range(3 * 256 + 5):
                append(s, AuditEvent("user", "test.event", f"e-{i}", {}))
        assert _verified(ctx) is None
        key = (AuditTileHashRow.level == 1) & (AuditTileHashRow.idx == 1)
        with ctx.sessions() as s, s.begin():
            kept = bytes(s.scalar(select(AuditTileHashRow.hash).where(key)) or b"")
            s.execute(update(AuditTileHashRow).where(key).values(hash=bytes(32)))
        assert "tile 1 of level 1 is not the entries'" in (_verified(ctx) or "")
        with ctx.sessions() as s, s.begin():
            s.execute(delete(AuditTileHashRow).where(key))
        assert "tile 1 of level 1 is missing" in (_verified(ctx) or "")
        with ctx.sessions() as s, s.begin():
            s.add(AuditTileHashRow(level=1, idx=1, hash=kept))
            s.add(AuditTileHashRow(level=1, idx=9, hash=kept))
        assert "tile 9 of level 1 is not a full tile" in (_verified(ctx) or "")
        with ctx.sessions() as s, s.begin():
            s.execute(delete(AuditTileHashRow).where(AuditTileHashRow.idx == 9))
        assert _verified(ctx) is None
    finally:
        ctx.close()


def _verified(ctx: AppContext) -> str | None:
    """What ``audit verify`` finds wrong, or None."""
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    return None if report.ok else report.problem
