"""One authorisation module decides every permission: the services, the API, the web app and
the CLI ask ``governance.authority`` (through ``services.authorization``) instead of testing
roles themselves, so a permission changes in one place and the matrix test covers it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facetrail.governance.authority import ROLE_PERMISSIONS, Permission, may, needed_roles
from facetrail.governance.credentials import Principal, Role

pytestmark = pytest.mark.database_free

SRC = Path(__file__).resolve().parents[2] / "src" / "facetrail"
#: A role tested directly: ``x.has(Role.…)``, ``has_any(…)``, ``Role.… in roles``.
ROLE_TEST = re.compile(r"\.has\(Role\.|\bhas_any\(|\bRole\.[A-Z_]+ in\b")


def test_no_role_is_tested_outside_the_authority_module() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for folder in ("services", "api", "cli")
        for path in sorted((SRC / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ROLE_TEST.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_every_permission_is_held_by_some_role_and_says_which() -> None:
    assert set(ROLE_PERMISSIONS) == set(Permission)
    for permission, roles in ROLE_PERMISSIONS.items():
        assert roles, permission
        text = needed_roles(permission)
        assert all(role.value in text for role in roles), text


@pytest.mark.parametrize("permission", list(Permission))
def test_may_is_exactly_the_table(permission: Permission) -> None:
    for role in Role:
        someone = Principal(1, "someone", 1, "county", frozenset({role.value}))
        assert may(someone, permission) == (role in ROLE_PERMISSIONS[permission])
    nobody = Principal(1, "nobody", 1, "county", frozenset())
    assert not may(nobody, permission)
