"""An API over a real home: an organisation signed in for real, a gallery of LFW faces, and
an HTTP client that signs people in through the API itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facetrail.config import Settings
from facetrail.governance.credentials import Role
from facetrail.server import create_app
from facetrail.services import accounts as acc
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from tests.conftest import copy_first_images, lfw_people
from tests.org import AGENCY, PASSWORD, Org, make_gallery, make_org, next_code, open_searching


@dataclass
class World:
    ctx: AppContext
    org: Org
    client: TestClient
    photos: dict[str, Path]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str) -> str:
        """A bearer session for ``name``, signed in through the API (once per test: each
        TOTP code is accepted once, and the server keeps real time)."""
        if name in self.tokens:
            return self.tokens[name]
        secret = self.org.enrolments[name].totp_secret
        assert secret is not None
        code, _ = next_code(secret)
        answer = self.client.post(
            "/api/v1/session",
            json={"username": name, "password": PASSWORD, "code": code, "session": "bearer"},
        )
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        self.tokens[name] = token
        return token

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}"}


@contextmanager
def made_world(folder: Path) -> Iterator[World]:
    """county (head, sam, ivy, ian, gus) searching 'bookings' (four LFW people) without prior
    approval; the 'other' agency (olga investigates, otto heads and supervises) searching it
    only with approval."""
    # Everyone here signs in from one address: limits high enough for the tests' own traffic
    # (tests/api/test_limits.py sets low ones). Server-side ingestion reads under the run's
    # temporary folder, where every test's tmp_path lies (the home too, which stays refused).
    settings = Settings(
        home=folder / "home",
        threads=1,
        login_rate_limit="1000/minute",
        search_rate_limit="1000/minute",
        import_roots=[folder.parent],
    )
    ctx = AppContext.open(settings)
    org = make_org(ctx)
    acc.create_agency(ctx, org.admin, "other")
    org.add("olga", "other", Role.INVESTIGATOR)
    org.add("otto", "other", Role.AGENCY_HEAD, Role.SUPERVISOR)
    photos = copy_first_images(folder / "photos", lfw_people(4))
    make_gallery(org, "bookings")
    ingest(ctx, org.people["gus"], IngestRequest(folder / "photos", "bookings", "county"))
    open_searching(org, "bookings")
    org.set_policy("other", by="otto", galleries=("bookings",))
    app = create_app(ctx=ctx)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield World(ctx, org, client, photos)
    finally:
        ctx.close()


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    with made_world(tmp_path) as made:
        yield made


@pytest.fixture(scope="module")
def module_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for a whole module (generated-input tests call it hundreds of times)."""
    with made_world(tmp_path_factory.mktemp("world")) as made:
        yield made


__all__ = ["AGENCY", "World", "made_world", "module_world", "world"]
