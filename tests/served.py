"""``facetrail serve`` started for real for a test: on a free loopback port, waited for until
/ready answers, and always stopped by its PID (SIGINT, then SIGKILL if it does not stop)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["facetrail", "free_port", "get_json", "served"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    """(status, JSON body) of a GET, error statuses included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def facetrail(
    home: Path, *args: str, env: dict[str, str] | None = None, output: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """``python -m facetrail *args`` on ``home``; its output to ``output``, else a pipe."""
    environment = os.environ | {"FACETRAIL_HOME": str(home)} | (env or {})
    command = [sys.executable, "-m", "facetrail", *args]
    return subprocess.Popen(
        command,
        env=environment,
        stdout=output if output is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@contextmanager
def served(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    ready_within: float = 90,
    until_ready: bool = True,
) -> Iterator[str]:
    """``facetrail serve --port P *args`` on ``home``; yields its base URL once /ready says
    200 (``until_ready=False``: once /ready answers at all, 503 included). Fails, with the
    server's output, if it exits or is not ready in time. Its output goes to a file (a pipe
    nobody reads would stall a busy server once full)."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = facetrail(home, "serve", "--port", str(port), *args, env=env, output=log)
        try:
            _wait_ready(server, f"http://127.0.0.1:{port}", ready_within, log, until_ready)
            yield f"http://127.0.0.1:{port}"
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def _wait_ready(
    server: subprocess.Popen[bytes], base: str, within: float, log: IO[bytes], ready: bool
) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if get_json(f"{base}/ready")[0] == 200 or not ready:
                return
        except (ConnectionError, urllib.error.URLError):
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            server.wait()
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise AssertionError(f"facetrail serve did not become ready:\n{output}")
        time.sleep(0.3)
