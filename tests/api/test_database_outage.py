"""The database going away and coming back (issue 26), on this machine's real PostgreSQL,
reached through a relay on a loopback port that the test cuts (every open connection dropped,
new ones refused) and brings back: while it is down, the API answers every request with a 503
``database_unavailable`` problem with ``Retry-After``, a browser gets a page saying so, no
traceback reaches either, and the log gets one line per failure, not a traceback; once it is
back the service answers again by itself (pooled connections are tried before use), and the
log still verifies."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from facetrail.api import background
from facetrail.config import Settings
from facetrail.server import create_app
from facetrail.services.audit.log import audit_status
from facetrail.services.context import AppContext
from tests.api.conftest import World
from tests.conftest import PostgresDatabases
from tests.org import make_org
from tests.tcp_proxy import Relay
from tests.web.conftest import signed_in_client

#: What it checks is the same on either pass: run once, in the SQLite pass (it makes its own
#: PostgreSQL database).
pytestmark = pytest.mark.one_backend


@pytest.fixture()
def relayed(tmp_path: Path) -> Iterator[tuple[World, Relay]]:
    """An organisation whose home's database is a new PostgreSQL database reached through
    ``Relay``; everything it started is stopped after."""
    databases = PostgresDatabases()
    relay = Relay(("127.0.0.1", 5432))
    relay.start()
    ctx: AppContext | None = None
    try:
        url = make_url(databases.create()).set(port=relay.port)
        settings = Settings(
            home=tmp_path / "home",
            database_url=url.render_as_string(hide_password=False),
            threads=1,
            login_rate_limit="1000/minute",
            search_rate_limit="1000/minute",
        )
        ctx = AppContext.open(settings)
        org = make_org(ctx)
        with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
            yield World(ctx, org, client, {}), relay
    finally:
        relay.stop()
        if ctx is not None:
            ctx.close()
        databases.drop_all()


def test_an_outage_is_a_503_with_one_log_line_and_the_service_comes_back(
    relayed: tuple[World, Relay], caplog: pytest.LogCaptureFixture
) -> None:
    world, relay = relayed
    bearer = world.as_("ivy")
    browser = signed_in_client(world, "ivy")
    assert world.client.get("/api/v1/searches", headers=bearer).status_code == 200
    assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200

    relay.stop()  # the database goes away
    caplog.clear()
    with caplog.at_level(logging.INFO):
        answers = [world.client.get("/api/v1/searches", headers=bearer) for _ in range(3)]
        answers.append(world.client.get("/api/v1/inbox", headers=bearer))
        pages = [browser.get(p, headers={"Accept": "text/html"}) for p in ("/", "/searches")]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["code"] == "database_unavailable"
        assert "Traceback" not in answer.text and "psycopg" not in answer.text
    for page in pages:
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert "database cannot be reached" in page.text and "Traceback" not in page.text
    logged = [r for r in caplog.records if r.name.startswith("facetrail")]
    assert all(r.exc_info is None for r in logged), "a traceback was logged"
    outages = [r for r in logged if "database unavailable" in r.getMessage()]
    assert len(outages) == len(answers) + len(pages)
    assert all("\n" not in r.getMessage() for r in outages)

    relay.start()  # it is back, on the same address: no restart of facetrail needed
    assert world.client.get("/api/v1/searches", headers=bearer).status_code == 200
    assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200
    assert audit_status(world.ctx, world.org.people["head"]).ok


def test_a_command_said_the_database_is_down_in_one_line(relayed: tuple[World, Relay]) -> None:
    """The command line, on the same home: its typed error and exit status 2, not an
    internal error."""
    world, relay = relayed
    env = {
        **os.environ,
        "FACETRAIL_HOME": str(world.ctx.settings.home),
        "FACETRAIL_DATABASE_URL": str(world.ctx.settings.database_url),
    }
    facetrail = [sys.executable, "-m", "facetrail"]
    up = subprocess.run([*facetrail, "db", "status"], env=env, capture_output=True, timeout=120)
    assert up.returncode == 0, up.stderr
    relay.stop()
    down = subprocess.run(
        [*facetrail, "db", "status"], env=env, capture_output=True, text=True, timeout=120
    )
    said = down.stdout + down.stderr
    assert down.returncode == 2 and "database_unavailable" in said, said
    assert "Traceback" not in said and "internal_error" not in said
    # A command that opens the home while it is down says so too (not "unreadable").
    listed = subprocess.run(
        [*facetrail, "audit", "public-key"], env=env, capture_output=True, text=True, timeout=120
    )
    said = listed.stdout + listed.stderr
    assert listed.returncode == 2 and "database_unavailable" in said, said


def test_background_work_says_the_outage_once_and_resumes(
    relayed: tuple[World, Relay], caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduled work (job polling every 2 s, housekeeping): one line when the database
    goes, none while it stays away, one when it is back, and no traceback."""
    world, relay = relayed
    background._housekeeping(world.ctx)
    relay.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="facetrail.background"):
        for _ in range(3):
            background._jobs(world.ctx, "test-worker")
            background._housekeeping(world.ctx)
        relay.start()
        background._jobs(world.ctx, "test-worker")
        background._housekeeping(world.ctx)
    said = [r.getMessage() for r in caplog.records if r.name == "facetrail.background"]
    assert all(r.exc_info is None for r in caplog.records)
    assert [m.split(":")[0] for m in said if "database unavailable" in m] == [
        "jobs",
        "housekeeping",
    ]
    assert [m.split(":")[0] for m in said if "the database is back" in m] == [
        "jobs",
        "housekeeping",
    ]


def test_a_server_back_within_a_second_is_reconnected_without_a_503(
    relayed: tuple[World, Relay],
) -> None:
    """New connections are tried again for a bounded time (``CONNECT_RETRIES``): a server that
    comes back within it (a quick restart) answers the request that was waiting."""
    world, relay = relayed
    bearer = world.as_("ivy")
    assert world.client.get("/api/v1/searches", headers=bearer).status_code == 200
    relay.stop()
    back = threading.Timer(0.25, relay.start)
    back.start()
    try:
        answer = world.client.get("/api/v1/searches", headers=bearer)
    finally:
        back.join()
    assert answer.status_code == 200, answer.text
