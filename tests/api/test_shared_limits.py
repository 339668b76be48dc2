"""Rate limits shared by every worker (issue 26): two apps on one home stand for two worker
processes. Counted in memory (the default, for one worker) each lets the limit through on its
own; counted in a real Redis, started here on a loopback port and stopped by its PID, the
limit holds across both. With the store gone, a sign-in is not let through uncounted: 503
``rate_limit_store_unavailable`` with ``Retry-After``, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from redis.exceptions import RedisError

from facetrail.config import Settings
from facetrail.server import create_app
from facetrail.services.context import AppContext
from tests.org import PASSWORD, make_org

#: ``make test`` installs Debian's redis-server when it is missing.
pytestmark = pytest.mark.one_backend

LIMIT = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def redis_url(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own on 127.0.0.1 (no disk), stopped by its PID after."""
    port = _free_port()
    where = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp_path)]
    server = subprocess.Popen(
        ["redis-server", *where, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
                break
            except RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}", server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _workers(tmp_path: Path, storage: str) -> tuple[TestClient, TestClient]:
    """Two apps (two workers) on one home, sign-ins limited to ``LIMIT`` a minute."""
    settings = Settings(
        home=tmp_path / "home",
        threads=1,
        login_rate_limit=f"{LIMIT}/minute",
        rate_limit_storage=storage,
    )
    ctx = AppContext.open(settings)
    make_org(ctx)
    return (
        TestClient(create_app(ctx=ctx), raise_server_exceptions=False),
        TestClient(create_app(ctx=ctx), raise_server_exceptions=False),
    )


def _sign_ins(one: TestClient, two: TestClient, tries: int) -> list[int]:
    """``tries`` wrong sign-ins of nobody, turn about to each worker -> their statuses."""
    body = {"username": "nobody", "password": PASSWORD, "code": "000000", "session": "bearer"}
    return [
        (one if i % 2 == 0 else two).post("/api/v1/session", json=body).status_code
        for i in range(tries)
    ]


def test_in_memory_each_worker_counts_apart(tmp_path: Path) -> None:
    one, two = _workers(tmp_path, "memory://")
    statuses = _sign_ins(one, two, 2 * LIMIT + 1)
    assert statuses.count(429) == 1 and statuses[-1] == 429  # twice the limit went through


def test_in_redis_the_limit_holds_across_workers(
    tmp_path: Path, redis_url: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = redis_url
    one, two = _workers(tmp_path, url)
    statuses = _sign_ins(one, two, 2 * LIMIT)
    assert 429 not in statuses[:LIMIT] and statuses[LIMIT:] == [429] * LIMIT

    server.terminate()  # the store goes away: nothing is let through uncounted
    server.wait(timeout=10)
    refused = one.post(
        "/api/v1/session",
        json={"username": "head", "password": PASSWORD, "code": "000000", "session": "bearer"},
    )
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert refused.json()["code"] == "rate_limit_store_unavailable"
    assert "Traceback" not in refused.text
