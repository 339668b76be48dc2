"""The clients of ``faults.py``: searches sent back to back by a few threads (``http.client``,
one keep-alive connection each, made again after a dropped one), every answer recorded with
its time, status and search id; a flood of requests from one token; and the service's worker
processes, found as the server's children (``uvicorn --workers`` spawns them)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from _load_service import SEARCHES, Service

#: A search request body on disk and its content type.
Form = tuple[Path, str]
TIMEOUT_S = 120


@dataclass(frozen=True)
class Answer:
    """One request: when it was sent and answered (``time.monotonic``), its status (0: no
    answer, the connection dropped), the search it made (201), whether its body held a
    traceback."""

    sent: float
    answered: float
    status: int
    search_id: int | None
    traceback: bool


def send(
    connection: http.client.HTTPConnection, token: str, body: bytes, content_type: str
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    connection.request("POST", SEARCHES, body, headers)
    answer = connection.getresponse()
    return answer.status, answer.read()


def answered(sent: float, status: int, data: bytes) -> Answer:
    search_id = None
    if status == 201:
        try:
            search_id = int(json.loads(data)["search_id"])
        except (ValueError, KeyError, TypeError):
            search_id = None
    return Answer(sent, time.monotonic(), status, search_id, b"Traceback" in data)


def search_once(service: Service, token: str, form: Form) -> Answer:
    """One search on a connection of its own."""
    connection = http.client.HTTPConnection(service.host, service.port, timeout=TIMEOUT_S)
    sent = time.monotonic()
    try:
        status, data = send(connection, token, form[0].read_bytes(), form[1])
    except (OSError, http.client.HTTPException):
        return Answer(sent, time.monotonic(), 0, None, False)
    finally:
        connection.close()
    return answered(sent, status, data)


@dataclass
class Load:
    """``clients`` threads searching back to back until ``stop``; ``answers`` grows as they
    answer (read it under ``lock``)."""

    service: Service
    tokens: list[str]
    forms: list[Form]
    clients: int
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT_S + 10)

    def record(self, answer: Answer) -> None:
        """An answer to a request sent beside the load (counted with the phase's)."""
        with self.lock:
            self.answers.append(answer)

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.sent >= moment]

    def first_201_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first search answered 201 that was sent after it."""
        times = [a.answered for a in self.since(moment) if a.status == 201]
        return round(min(times) - moment, 2) if times else None

    def _client(self, number: int) -> None:
        token = self.tokens[number % len(self.tokens)]
        path, content_type = self.forms[number % len(self.forms)]
        body = path.read_bytes()
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(
                    self.service.host, self.service.port, timeout=TIMEOUT_S
                )
            sent = time.monotonic()
            try:
                status, data = send(connection, token, body, content_type)
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = None
                record = Answer(sent, time.monotonic(), 0, None, False)
                time.sleep(0.05)  # the worker went away: a new connection, shortly
            else:
                record = answered(sent, status, data)
                if status >= 500:
                    time.sleep(0.05)  # as a client honouring an outage would, briefly
            with self.lock:
                self.answers.append(record)
        if connection is not None:
            connection.close()


def flood(service: Service, token: str, form: Form, requests: int, threads: int) -> Counter[int]:
    """``requests`` searches from one token, back to back on ``threads`` connections ->
    answers by status (0: no answer)."""
    body, content_type = form[0].read_bytes(), form[1]
    share = [requests // threads + (1 if n < requests % threads else 0) for n in range(threads)]

    def one_connection(count: int) -> Counter[int]:
        statuses: Counter[int] = Counter()
        connection = http.client.HTTPConnection(service.host, service.port, timeout=TIMEOUT_S)
        try:
            for _ in range(count):
                try:
                    status, _data = send(connection, token, body, content_type)
                except (OSError, http.client.HTTPException):
                    connection.close()
                    status = 0
                statuses[status] += 1
        finally:
            connection.close()
        return statuses

    total: Counter[int] = Counter()
    with ThreadPoolExecutor(threads) as pool:
        for statuses in pool.map(one_connection, share):
            total.update(statuses)
    return total


def worker_pids(server_pid: int) -> list[int]:
    """The server's worker processes (its children spawned to serve: ``spawn_main`` in their
    command line; multiprocessing's resource tracker is left out)."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == server_pid and b"spawn_main" in cmdline:
            workers.append(int(stat.parent.name))
    return sorted(workers)
