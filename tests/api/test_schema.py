"""schemathesis against the OpenAPI schema, signed in: every operation with generated inputs,
no 5xx and no response that breaks the schema (status, content type, body, headers).

Not checked: that every schema-valid input is accepted (``positive_data_acceptance``): the
services' own rules (case-number patterns, note lengths, field rules, policy) refuse inputs a
schema cannot describe, with a documented 4xx problem."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from facetrail.server import create_app
from facetrail.services.authorization import utc_now
from facetrail.services.signin.authentication import add_token
from tests.api.conftest import World, module_world
from tests.conftest import needs_lfw

__all__ = ["module_world"]
#: The same on either database: checked once, in the SQLite pass.
pytestmark = [needs_lfw, pytest.mark.one_backend]

#: The app under test; each test points it at the module's world (a real home, signed in).
APP = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture()
def served(module_world: World) -> Iterator[World]:
    APP.state.ctx = module_world.ctx
    yield module_world
    APP.state.ctx = None


def _throwaway_session(world: World, name: str) -> str:
    """A session of its own for a case that signs out (the others keep theirs)."""
    with world.ctx.transaction() as session:
        user_id = world.org.people[name].user_id
        token, _ = add_token(session, user_id, "session", utc_now() + timedelta(hours=1))
    return token


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case, served: World) -> None:
    signs_out = case.method == "DELETE" and case.path == "/api/v1/session"
    token = _throwaway_session(served, "head") if signs_out else served.token("head")
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[positive_data_acceptance],
    )
