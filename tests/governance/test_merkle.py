"""Merkle code against a naive recursive oracle written straight from RFC 6962."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facetrail.governance import merkle

pytestmark = pytest.mark.database_free


def naive_mth(entries: list[bytes]) -> bytes:
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < len(entries):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(entries[:k]) + naive_mth(entries[k:])).digest()


entries_st = st.lists(st.binary(max_size=24), min_size=0, max_size=70)


@settings(max_examples=200, deadline=None)
@given(entries_st)
def test_root_equals_naive_recursion(entries: list[bytes]) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert merkle.root(leaves) == naive_mth(entries)


@settings(max_examples=200, deadline=None)
@given(entries_st.filter(bool), st.data())
def test_inclusion_proofs_verify_and_bind(entries: list[bytes], data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    top = naive_mth(entries)
    proof = merkle.inclusion_proof(leaves, i)
    assert merkle.verify_inclusion(leaves[i], i, n, proof, top)
    assert not merkle.verify_inclusion(merkle.leaf_hash(entries[i] + b"x"), i, n, proof, top)
    j = (i + 1) % n
    if leaves[j] != leaves[i]:
        # The same path does not prove the entry at another position.
        assert not merkle.verify_inclusion(leaves[j], i, n, proof, top)
    if proof:
        broken = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not merkle.verify_inclusion(leaves[i], i, n, broken, top)


@settings(max_examples=200, deadline=None)
@given(entries_st.filter(bool), st.data())
def test_consistency_proofs_verify_and_bind(entries: list[bytes], data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    n = len(leaves)
    m = data.draw(st.integers(1, n))
    old, new = naive_mth(entries[:m]), naive_mth(entries)
    proof = merkle.consistency_proof(leaves, m)
    assert merkle.verify_consistency(m, n, old, new, proof)
    # A fork: the same old size with a different history is not consistent with it.
    forked = naive_mth([*entries[: m - 1], entries[m - 1] + b"!"])
    assert not merkle.verify_consistency(m, n, forked, new, proof)
    if m < n:
        assert not merkle.verify_consistency(m, n, old, naive_mth([*entries, b"z"]), proof)


@settings(max_examples=100, deadline=None)
@given(entries_st, st.lists(st.integers(0, 70), max_size=6))
def test_prefix_roots_equal_naive_roots(entries: list[bytes], sizes: list[int]) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    sizes = [s for s in sizes if s <= len(entries)]
    assert merkle.prefix_roots(leaves, sizes) == {s: naive_mth(entries[:s]) for s in sizes}
