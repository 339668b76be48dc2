"""The service of ``load_search.py``: its database (a SQLite file in the home, a given URL, or a
fresh PostgreSQL database made and dropped here), ``facetrail serve`` started as a subprocess
on loopback and stopped by its PID, and the search request a client sends it."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

SEARCHES = "/api/v1/searches"
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30


@contextmanager
def database(url: str | None, postgres_admin: str | None) -> Iterator[str | None]:
    """``url`` when given; else with ``postgres_admin`` (a libpq URL of an admin database) a
    new database on that server, dropped afterwards whatever happens; else None (the SQLite
    file in the home)."""
    if url is not None or postgres_admin is None:
        yield url
        return
    import psycopg

    name = f"facetrail_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_admin, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        server = make_url(postgres_admin).set(drivername="postgresql+psycopg", database=name)
        yield server.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(postgres_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Service:
    host: str
    port: int
    pid: int

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def served(env: dict[str, str], workers: int, log: Path) -> Iterator[Service]:
    """``facetrail serve --workers N`` on 127.0.0.1 and a free port, with ``env`` (its
    ``FACETRAIL_*`` settings); stopped by its PID (SIGINT, then SIGKILL to its process group)
    when the block ends, however it ends. Its output goes to ``log``."""
    port = _free_port()
    command = [sys.executable, "-m", "facetrail", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        # A session of its own: if it does not stop, its workers can be ended with it.
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        service = Service("127.0.0.1", port, server.pid)
        _wait_ready(service, server, log)
        yield service
    finally:
        _stop(server)


def _wait_ready(service: Service, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"facetrail serve exited {server.returncode}:\n{_tail(log)}")
        connection = http.client.HTTPConnection(service.host, service.port, timeout=5)
        try:
            connection.request("GET", "/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.3)
    raise SystemExit(f"facetrail serve not ready after {READY_TIMEOUT_S} s:\n{_tail(log)}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _tail(log: Path, size: int = 4000) -> str:
    return log.read_bytes()[-size:].decode(errors="replace")


def search_form(probe: Path, fields: dict[str, str]) -> tuple[bytes, str]:
    """The multipart body of a search request with one probe photo -> (body, content type)."""
    boundary = secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="probes"; '
        f'filename="{probe.name}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        + probe.read_bytes()
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class SearchClient:
    """One client on one keep-alive connection, sending search requests one at a time."""

    def __init__(self, service: Service, token: str) -> None:
        self.connection = http.client.HTTPConnection(service.host, service.port, timeout=300)
        self.token = token

    def search(self, body: bytes, content_type: str) -> tuple[int, float, bytes]:
        """-> (status, milliseconds until the whole answer was read, the answer)."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type}
        started = time.perf_counter()
        self.connection.request("POST", SEARCHES, body, headers)
        answer = self.connection.getresponse()
        data = answer.read()
        return answer.status, 1000 * (time.perf_counter() - started), data

    def close(self) -> None:
        self.connection.close()
