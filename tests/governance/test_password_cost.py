"""facetrail hashes passwords with argon2id at the RFC 9106 defaults argon2-cffi ships (the
test suite runs with cheaper parameters, tests/conftest.py; this checks the real ones)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from tests.conftest import PRODUCTION_HASHER

pytestmark = pytest.mark.database_free


def test_passwords_are_hashed_with_argon2id_at_full_cost() -> None:
    defaults = PasswordHasher()
    assert PRODUCTION_HASHER.type is Type.ID
    assert PRODUCTION_HASHER.time_cost >= max(defaults.time_cost, 3)
    assert PRODUCTION_HASHER.memory_cost >= max(defaults.memory_cost, 65536)  # KiB: 64 MiB
    assert PRODUCTION_HASHER.parallelism >= 1
    stored = PRODUCTION_HASHER.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$") and "m=65536,t=3" in stored
