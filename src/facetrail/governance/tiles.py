"""The audit log as C2SP tlog-tiles (c2sp.org/tlog-tiles): static files any tiles client or
witness can read and check without the database.

- ``checkpoint``: the signed note of a checkpoint;
- ``tile/<L>/<N>[.p/<W>]``: 256 consecutive Merkle tree hashes at level ``L`` (level 0: the
  leaf hashes; level ``L``: the hashes of full tiles of level ``L - 1``), ``W`` of them in a
  partial tile at the right edge;
- ``tile/entries/<N>[.p/<W>]``: the entries of level-0 tile ``N``, each the exact bytes the
  log hashed (``governance.audit.entry_bytes``) with a big-endian uint16 length before it.

``TileBuilder`` takes the log's entries in order and says which tiles are complete; it can
start from the partial tiles of a published tree size instead of from the first entry, so
publishing a new checkpoint costs the entries since the last one plus O(log n) hashes.
``frontier_root`` folds partial tiles into the root of their tree size, which is how a client
(and the publisher, before it resumes) checks tiles against a signed checkpoint.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from facetrail.errors import AuditInputError
from facetrail.governance.merkle import EMPTY_ROOT, leaf_hash, node_hash, root

__all__ = [
    "HASH",
    "MAX_ENTRY",
    "WIDTH",
    "Tile",
    "TileBuilder",
    "bundle",
    "frontier_root",
    "hashes_of",
    "partial_widths",
    "tile_path",
    "unbundle",
]

#: Hashes in a full tile, and entries in a full bundle.
WIDTH = 256
HASH = 32
#: The longest entry a bundle can hold (a uint16 length).
MAX_ENTRY = 0xFFFF


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``; ``level`` "entries" for an entry bundle. ``N`` is written in
    zero-padded groups of three digits, all but the last prefixed with ``x``."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    name = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    partial = f".p/{width}" if width < WIDTH else ""
    return f"tile/{level}/{name}{partial}"


def partial_widths(size: int) -> list[int]:
    """The width of the partial tile at each level for a tree of ``size`` entries (0: none),
    from level 0 up to the highest level that has a tile."""
    widths, level_size = [], size
    while level_size:
        widths.append(level_size % WIDTH)
        level_size //= WIDTH
    return widths


@dataclass(frozen=True)
class Tile:
    """One tile or bundle to publish: where, and its bytes."""

    path: str
    data: bytes
    #: full tiles never change once published; partial ones are replaced by wider ones
    full: bool


def bundle(entries: Sequence[bytes]) -> bytes:
    """Entries as a bundle: each with its length as a big-endian uint16 before it."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise AuditInputError(
                f"an audit entry of {len(entry):,} bytes is longer than a tile bundle holds "
                f"({MAX_ENTRY:,})"
            )
        out += struct.pack(">H", len(entry)) + entry
    return bytes(out)


def unbundle(data: bytes) -> list[bytes]:
    """A bundle's entries; a bundle cut short or padded is refused."""
    entries, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise AuditInputError("an entry bundle ends inside a length")
        (length,) = struct.unpack_from(">H", data, at)
        if at + 2 + length > len(data):
            raise AuditInputError("an entry bundle ends inside an entry")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries


def hashes_of(data: bytes) -> list[bytes]:
    """A tile's hashes; a tile that is not a whole number of hashes is refused."""
    if len(data) % HASH or not data or len(data) > WIDTH * HASH:
        raise AuditInputError(f"a tile of {len(data)} bytes is not 1 to {WIDTH} hashes")
    return [data[i : i + HASH] for i in range(0, len(data), HASH)]


def frontier_root(partials: Sequence[Sequence[bytes]]) -> bytes:
    """The root of the tree whose partial tiles are ``partials`` (level 0 first): the perfect
    subtrees they hold, from the highest level down, folded from the right (RFC 6962)."""
    subtrees: list[bytes] = []
    for hashes in reversed(partials):
        at = 0
        for bit in range(WIDTH.bit_length() - 1, -1, -1):
            if len(hashes) >> bit & 1:
                subtrees.append(root(hashes[at : at + (1 << bit)]))
                at += 1 << bit
    if not subtrees:
        return EMPTY_ROOT
    value = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        value = node_hash(left, value)
    return value


@dataclass
class TileBuilder:
    """The log's tiles, built entry by entry: ``levels[L]`` holds the hashes of the partial
    tile at level ``L``, ``entries`` the bytes of the partial bundle (None: bundles are not
    built, only hash tiles); ``size`` entries in all."""

    size: int = 0
    levels: list[list[bytes]] = field(default_factory=lambda: [[]])
    entries: list[bytes] | None = field(default_factory=list)

    @classmethod
    def resumed(
        cls,
        size: int,
        partials: Sequence[Sequence[bytes]],
        bundle_data: bytes = b"",
        *,
        entries: bool = True,
    ) -> TileBuilder:
        """A builder at ``size`` entries, from that size's partial tiles (and partial bundle,
        when ``entries``), as published; the caller checks its root against the checkpoint."""
        widths = partial_widths(size)
        if [len(p) for p in partials] != widths:
            raise AuditInputError(f"the partial tiles do not fit a tree of {size} entries")
        levels = [list(p) for p in partials] or [[]]
        if not entries:
            return cls(size, levels, None)
        bundled = unbundle(bundle_data) if widths and widths[0] else []
        if [leaf_hash(e) for e in bundled] != list(partials[0] if partials else []):
            raise AuditInputError("the partial entry bundle does not hash to its tile")
        return cls(size, levels, bundled)

    def push(self, entry: bytes) -> Iterator[Tile]:
        """Add the next entry -> the full tiles (and bundle) it completes."""
        if self.entries is not None:
            if len(entry) > MAX_ENTRY:
                bundle([entry])  # raises, naming the size
            self.entries.append(entry)
        yield from self._leaf(leaf_hash(entry))

    def push_hashes(self, hashes: Sequence[bytes]) -> Iterator[Tile]:
        """Add the next leaf hashes (a client that has the level-0 tiles, not the entries)."""
        for value in hashes:
            yield from self._leaf(value)

    def _leaf(self, value: bytes) -> Iterator[Tile]:
        level = 0
        self.size += 1
        while True:
            hashes = self.levels[level]
            hashes.append(value)
            if len(hashes) < WIDTH:
                return
            index = (self.size >> (8 * (level + 1))) - 1
            if level == 0 and self.entries is not None:
                yield Tile(tile_path("entries", index), bundle(self.entries), True)
                self.entries = []
            yield Tile(tile_path(level, index), b"".join(hashes), True)
            value = root(hashes)
            self.levels[level] = []
            level += 1
            if len(self.levels) == level:
                self.levels.append([])

    def partial(self) -> list[Tile]:
        """The partial tiles (and bundle) of the tree as it stands: what a checkpoint of
        ``size`` entries needs besides the full tiles."""
        tiles = []
        for level, hashes in enumerate(self.levels):
            if hashes:
                index = self.size >> (8 * (level + 1))
                tiles.append(Tile(tile_path(level, index, len(hashes)), b"".join(hashes), False))
        if self.entries:
            index = self.size >> 8
            tiles.append(
                Tile(tile_path("entries", index, len(self.entries)), bundle(self.entries), False)
            )
        return tiles

    def root(self) -> bytes:
        return frontier_root(self.levels)
