"""``facetrail serve`` started for real on loopback, answered over HTTP, stopped by PID."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from facetrail.config import Settings
from facetrail.services.context import AppContext
from tests.served import facetrail, free_port, get_json, served


def test_serve_answers_on_loopback_and_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    AppContext.open(Settings(home=home)).close()
    with served(home, "--workers", "2") as base:
        status, body = get_json(f"{base}/ready")
        assert status == 200 and body["status"] == "ready"
        status, body = get_json(f"{base}/api/v1/me")
        assert status == 401 and body["code"] == "not_logged_in"


def test_a_worker_that_cannot_load_its_models_is_not_ready(tmp_path: Path) -> None:
    """A served worker loads its model packs before it takes requests; one it cannot load
    keeps /ready at 503, naming the pack, while /health still answers."""
    home = tmp_path / "home"
    AppContext.open(Settings(home=home)).close()
    with served(home, env={"FACETRAIL_DEFAULT_PACK": "no-such-pack"}, until_ready=False) as base:
        status, body = get_json(f"{base}/ready")
        assert status == 503 and body["code"] == "models_unavailable", body
        assert "no-such-pack" in str(body["detail"])
        assert get_json(f"{base}/health")[0] == 200


def _sign_in_status(base: str, username: str, forwarded_for: str) -> int:
    body = json.dumps({"username": username, "password": "x" * 12, "code": "000000"}).encode()
    headers = {"Content-Type": "application/json", "X-Forwarded-For": forwarded_for}
    request = urllib.request.Request(f"{base}/api/v1/session", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_behind_a_trusted_proxy_the_forwarded_address_is_rate_limited(tmp_path: Path) -> None:
    """Sign-ins are limited per client address: behind a proxy named with
    --forwarded-allow-ips that is the X-Forwarded-For address; otherwise the header is not
    trusted (anyone could send it) and the peer's address counts."""
    home = tmp_path / "home"
    AppContext.open(Settings(home=home)).close()
    env = {"FACETRAIL_LOGIN_RATE_LIMIT": "2/minute"}
    with served(home, "--forwarded-allow-ips", "127.0.0.1", env=env) as base:
        first = [_sign_in_status(base, f"u{i}", "203.0.113.7") for i in range(3)]
        assert first == [401, 401, 429]
        assert _sign_in_status(base, "u9", "203.0.113.8") == 401  # another client
    with served(home, env=env) as base:
        first = [_sign_in_status(base, f"v{i}", "203.0.113.9") for i in range(3)]
        assert first == [401, 401, 429]
        assert _sign_in_status(base, "v9", "203.0.113.10") == 429  # the header is ignored


def test_serve_outside_a_home_says_so(tmp_path: Path) -> None:
    server = facetrail(tmp_path / "nothing", "serve", "--port", str(free_port()))
    try:
        out, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:  # serving after all: never left running
            server.kill()
            server.communicate()
    assert server.returncode == 2
    assert b"[no_home]" in out and b"Traceback" not in out
