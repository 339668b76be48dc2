"""A served worker killed mid-request (issue 26): ``facetrail serve --workers 2`` on loopback,
clients searching back to back, one worker killed with SIGKILL. The server answers again at
once (the other worker) and uvicorn starts a new worker; every search answered 201 has its
``search.request`` and ``search.run`` entries (a search is stored in one transaction with them,
so a kill can only leave it unstored, never half-written); no request entry is left without
its outcome; and the log verifies."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from facetrail.config import Settings
from facetrail.governance.policy import ApprovalMode
from facetrail.governance.verify import verify_log
from facetrail.services.audit.log import public_key
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.store.schema import AuditEntryRow
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import CASE, JUSTIFICATION, OFFENSE, make_gallery, make_org, sign_in
from tests.served import served

pytestmark = needs_lfw

CLIENTS = 3
#: Bounds of the test: searches before the kill, and how long the service has to recover.
BEFORE_KILL = 4
RECOVERY_S = 60


def _body(probe: bytes) -> tuple[bytes, str]:
    boundary = "facetrail-kill-test"
    fields = {
        "case_number": CASE,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": "bookings",
    }
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="probes"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + probe
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _workers(port: int) -> list[int]:
    """The serving processes: children of the ``serve --port PORT`` process that spawned them."""
    server, children = None, []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if b"serve" in cmdline and str(port).encode() in cmdline:
            server = int(stat.parent.name)
        elif any(b"spawn_main" in part for part in cmdline):
            children.append((parent, int(stat.parent.name)))
    return sorted(pid for parent, pid in children if parent == server)


class Clients:
    """Threads searching back to back; each answer (sent at, status, search id) recorded."""

    def __init__(self, base: str, token: str, body: tuple[bytes, str]) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token, self.body = token, body
        self.answers: list[tuple[float, int, int | None]] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": self.body[1]}
        while not self.stopped.is_set():
            connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            sent = time.monotonic()
            try:
                connection.request("POST", "/api/v1/searches", self.body[0], headers)
                answer = connection.getresponse()
                data = answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                status, data = 0, b""  # the worker died with this request
            finally:
                connection.close()
            search_id = json.loads(data)["search_id"] if status == 201 else None
            with self.lock:
                self.answers.append((sent, status, search_id))

    def answered_201_since(self, moment: float) -> int:
        with self.lock:
            return sum(1 for sent, status, _ in self.answers if sent > moment and status == 201)


def test_a_worker_killed_mid_request_loses_nothing_and_is_replaced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = AppContext.open(Settings(home=home, threads=1))
    try:
        org = make_org(ctx)
        people = lfw_people(4)
        copy_first_images(tmp_path / "photos", people)
        make_gallery(org)
        ingest(ctx, org.people["gus"], IngestRequest(tmp_path / "photos", "bookings", "county"))
        # Searches back to back: the daily limit of the policy must not refuse them.
        org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER, daily_limit=10_000)
        token = sign_in(ctx, org.enrolments["ivy"]).token
        probe = sorted(people[0].glob("*.jpg"))[1].read_bytes()
        env = {"FACETRAIL_SEARCH_RATE_LIMIT": "100000/minute", "FACETRAIL_THREADS": "1"}
        with served(home, "--workers", "2", env=env) as base:
            port = urlsplit(base).port or 0
            clients = Clients(base, token, _body(probe))
            for thread in clients.threads:
                thread.start()
            try:
                deadline = time.monotonic() + RECOVERY_S
                while clients.answered_201_since(0) < BEFORE_KILL and time.monotonic() < deadline:
                    time.sleep(0.1)
                workers = _workers(port)
                assert len(workers) == 2, workers
                os.kill(workers[0], signal.SIGKILL)
                killed_at = time.monotonic()
                replaced = None
                while time.monotonic() < killed_at + RECOVERY_S:
                    now = _workers(port)
                    if replaced is None and workers[0] not in now and len(now) == 2:
                        replaced = time.monotonic() - killed_at
                    if replaced is not None and clients.answered_201_since(killed_at + 1) >= 3:
                        break
                    time.sleep(0.1)
            finally:
                clients.stopped.set()
                for thread in clients.threads:
                    thread.join(70)
        assert replaced is not None, "uvicorn did not start a new worker"
        assert clients.answered_201_since(killed_at + 1) >= 3, "the server did not answer again"
        statuses = {status for _, status, _ in clients.answers}
        assert statuses <= {0, 201}, statuses  # no answer at all (the killed one), or done

        with ctx.sessions() as s:
            entries = s.execute(
                select(AuditEntryRow.subject, AuditEntryRow.kind).where(
                    AuditEntryRow.kind.in_(("search.request", "search.run", "search.failed"))
                )
            ).all()
            report = verify_log(s, public_key(ctx))
        kinds: dict[str, set[str]] = {}
        for subject, kind in entries:
            kinds.setdefault(subject, set()).add(kind)
        done = [f"search:{i}" for _, status, i in clients.answers if status == 201]
        assert all(kinds.get(s) == {"search.request", "search.run"} for s in done)
        # No request entry without its outcome: a killed search left nothing, not half.
        assert all(k == {"search.request", "search.run"} for k in kinds.values()), kinds
        assert report.ok, report.problem
    finally:
        ctx.close()
