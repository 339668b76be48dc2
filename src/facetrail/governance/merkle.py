"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.

leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right); the tree over n leaves
splits at the largest power of two below n. Roots are computed iteratively (a stack of
perfect subtrees), so a log of 10^5 entries is hashed in one pass. The verification
functions need nothing but hashes: they run offline, from an exported log and public key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """Perfect subtrees of the leaves pushed so far, merged like a binary counter.

    This is the log head's frontier: with it, appending a leaf and computing the root cost
    O(log n) hashes, without reading the log. Stored as the subtrees' roots, left to right
    (their heights follow from the set bits of ``size``).
    """

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []
        self.size = 0

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> CompactRange:
        heights = [h for h in range(size.bit_length() - 1, -1, -1) if size >> h & 1]
        if size < 0 or len(blob) != 32 * len(heights):
            raise ValueError(f"a frontier of {size} leaves holds {len(heights)} hashes")
        compact = cls()
        compact.stack = [(h, blob[32 * i : 32 * i + 32]) for i, h in enumerate(heights)]
        compact.size = size
        return compact

    def to_bytes(self) -> bytes:
        return b"".join(value for _, value in self.stack)

    def push(self, leaf: bytes, tiles: list[tuple[int, bytes]] | None = None) -> None:
        """Add a leaf hash; ``tiles``: where to add (level, hash) for each subtree of 256**level
        leaves it completes (level >= 1: the hash of a full tile of level - 1, as tlog-tiles
        and the stored tree keep them)."""
        height, value = 0, leaf
        while self.stack and self.stack[-1][0] == height:
            _, left = self.stack.pop()
            value = node_hash(left, value)
            height += 1
            if tiles is not None and height % 8 == 0:
                tiles.append((height // 8, value))
        self.stack.append((height, value))
        self.size += 1

    def root(self) -> bytes:
        """Fold the ragged right edge from the right: the MTH of everything pushed."""
        if not self.stack:
            return EMPTY_ROOT
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = node_hash(left, value)
        return value


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of leaf hashes ``leaves`` (MTH of RFC 6962 section 2.1)."""
    compact = CompactRange()
    for leaf in leaves:
        compact.push(leaf)
    return compact.root()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree over ``leaves`` (RFC 6962 section 2.1.1)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} outside a tree of {len(leaves)}")
    return inclusion_path(len(leaves), index, lambda lo, hi: root(leaves[lo:hi]))


#: The Merkle tree hash of leaves ``lo`` to ``hi`` (exclusive), however the caller finds it.
RangeHash = Callable[[int, int], bytes]


def inclusion_path(size: int, index: int, hash_of: RangeHash) -> list[bytes]:
    """``inclusion_proof`` of leaf ``index`` in a tree of ``size``, asking ``hash_of`` for the
    O(log n) subtree hashes it needs (each range starts at a multiple of a power of two at
    least its length: a stored tree answers it from O(1) reads)."""
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} outside a tree of {size}")
    lo, hi = 0, size
    path: list[bytes] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(hash_of(lo + k, hi))
            hi = lo + k
        else:
            path.append(hash_of(lo, lo + k))
            lo = lo + k
    return list(reversed(path))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    value = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            value = node_hash(value, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == expected_root


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of ``leaves`` (RFC 6962 2.1.2)."""
    return consistency_path(old_size, len(leaves), lambda lo, hi: root(leaves[lo:hi]))


def consistency_path(old_size: int, size: int, hash_of: RangeHash) -> list[bytes]:
    """``consistency_proof`` from ``old_size`` to ``size``, asking ``hash_of`` for the
    subtree hashes it needs (as ``inclusion_path``)."""
    if not 0 < old_size <= size:
        raise IndexError(f"old size {old_size} outside 1..{size}")
    return _subproof(old_size, 0, size, True, hash_of)


def _subproof(m: int, lo: int, hi: int, complete: bool, hash_of: RangeHash) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [hash_of(lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, lo, lo + k, complete, hash_of), hash_of(lo + k, hi)]
    return [*_subproof(m - k, lo + k, hi, False, hash_of), hash_of(lo, lo + k)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a subtree root
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def prefix_roots(leaves: Sequence[bytes], sizes: Sequence[int]) -> dict[int, bytes]:
    """Roots of several prefixes of ``leaves`` in one pass (for checking many checkpoints)."""
    wanted = set(sizes)
    out = {0: EMPTY_ROOT} if 0 in wanted else {}
    last = max(wanted, default=0)
    compact = CompactRange()
    for count, leaf in enumerate(leaves[:last], start=1):
        compact.push(leaf)
        if count in wanted:
            out[count] = compact.root()
    return out
