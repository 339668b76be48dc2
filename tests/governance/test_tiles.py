"""The audit log as C2SP tlog-tiles: tile paths as the spec writes them, the tiles of a tree
against a naive Merkle computation, resuming from a published size, and bundles."""

from __future__ import annotations

import pytest

from facetrail.errors import AuditInputError
from facetrail.governance.merkle import leaf_hash, root
from facetrail.governance.tiles import (
    MAX_ENTRY,
    WIDTH,
    TileBuilder,
    bundle,
    frontier_root,
    hashes_of,
    partial_widths,
    tile_path,
    unbundle,
)


def test_tile_paths_are_written_as_the_spec_writes_them() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(1, 999, 17) == "tile/1/999.p/17"
    assert tile_path(2, 1000) == "tile/2/x001/000"
    assert tile_path("entries", 5, 1) == "tile/entries/005.p/1"


def test_the_spec_s_example_tree_of_70000() -> None:
    # 273 full level 0 tiles, a partial of 112; one full level 1 tile, a partial of 17; a
    # partial level 2 tile of 1.
    assert partial_widths(70_000) == [112, 17, 1]
    assert partial_widths(256) == [0, 1]


def _entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


@pytest.mark.parametrize("size", [1, 255, 256, 257, 511, 512, 700, 65_536 + 300])
def test_tiles_hold_the_tree_and_fold_to_its_root(size: int) -> None:
    entries = _entries(size)
    builder = TileBuilder()
    full = [tile for e in entries for tile in builder.push(e)]
    leaves = [leaf_hash(e) for e in entries]
    assert builder.root() == root(leaves)
    by_path = {t.path: t.data for t in full + builder.partial()}
    # Level 0 tiles are the leaf hashes; bundles the entries.
    for n in range(-(-size // WIDTH)):
        width = min(WIDTH, size - n * WIDTH)
        assert by_path[tile_path(0, n, width)] == b"".join(leaves[n * WIDTH : n * WIDTH + width])
        assert (
            unbundle(by_path[tile_path("entries", n, width)])
            == entries[n * WIDTH : n * WIDTH + width]
        )
    # Level 1: the root of each full level-0 tile.
    for n in range(size // WIDTH**2 + 1):
        width = min(WIDTH, size // WIDTH - n * WIDTH)
        if width <= 0:
            continue
        expected = b"".join(
            root(leaves[(n * WIDTH + i) * WIDTH : (n * WIDTH + i + 1) * WIDTH])
            for i in range(width)
        )
        assert by_path[tile_path(1, n, width)] == expected
    assert sum(1 for t in full if t.full) == len(full)
    partials = [hashes_of(by_path[t.path]) for t in builder.partial() if "entries" not in t.path]
    if size % WIDTH and size < WIDTH:
        assert frontier_root(partials) == root(leaves)


@pytest.mark.parametrize(("first", "then"), [(1, 10), (255, 2), (256, 256), (300, 65_300)])
def test_resuming_from_a_published_size_gives_the_same_tiles(first: int, then: int) -> None:
    entries = _entries(first + then)
    whole = TileBuilder()
    whole_tiles = [t for e in entries for t in whole.push(e)]
    start = TileBuilder()
    for e in entries[:first]:
        list(start.push(e))
    widths = partial_widths(first)
    partials = [list(start.levels[level]) for level in range(len(widths))]
    bundle_data = bundle(start.entries)
    resumed = TileBuilder.resumed(first, partials, bundle_data)
    assert resumed.root() == root([leaf_hash(e) for e in entries[:first]])
    later = [t for e in entries[first:] for t in resumed.push(e)]
    assert {t.path for t in later} <= {t.path for t in whole_tiles}
    assert resumed.root() == whole.root()
    assert [t.path for t in resumed.partial()] == [t.path for t in whole.partial()]


def test_partial_tiles_that_do_not_fit_the_size_are_refused() -> None:
    start = TileBuilder()
    for e in _entries(5):
        list(start.push(e))
    with pytest.raises(AuditInputError):
        TileBuilder.resumed(6, [start.levels[0]], bundle(start.entries))
    with pytest.raises(AuditInputError):  # a bundle that does not hash to the tile
        TileBuilder.resumed(5, [start.levels[0]], bundle([*_entries(4), b"edited"]))


def test_bundles_refuse_what_they_cannot_hold() -> None:
    with pytest.raises(AuditInputError):
        bundle([b"x" * (MAX_ENTRY + 1)])
    with pytest.raises(AuditInputError):
        unbundle(b"\x00\x05abc")
    with pytest.raises(AuditInputError):
        hashes_of(b"\x00" * 33)
