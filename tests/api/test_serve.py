"""``facetrail serve`` started for real on loopback, answered over HTTP, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from facetrail.config import Settings
from facetrail.services.context import AppContext
from tests.conftest import ON_POSTGRES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _facetrail(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"FACETRAIL_HOME": str(home)}
    command = [sys.executable, "-m", "facetrail", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_serve_answers_on_loopback_and_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    AppContext.open(Settings(home=home)).close()
    port = _free_port()
    server = _facetrail(home, "serve", "--port", str(port), "--workers", "2")
    try:
        deadline = time.monotonic() + 60
        status, body = 0, {}
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/ready")
                break
            except (ConnectionError, urllib.error.URLError):
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.3)
        assert status == 200 and body["status"] == "ready"
        status, body = _get(f"http://127.0.0.1:{port}/api/v1/me")
        assert status == 401 and body["code"] == "not_logged_in"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


@pytest.mark.skipif(
    ON_POSTGRES,
    reason="the no-home check looks for the home's SQLite file; with a database URL the "
    "database is not in the home",
)
def test_serve_outside_a_home_says_so(tmp_path: Path) -> None:
    server = _facetrail(tmp_path / "nothing", "serve", "--port", str(_free_port()))
    try:
        out, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:  # serving after all: never left running
            server.kill()
            server.communicate()
    assert server.returncode == 2
    assert b"[no_home]" in out and b"Traceback" not in out
