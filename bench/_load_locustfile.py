"""The load of ``load_search.py`` as a locust file: each simulated user is one investigator
(own API token, own keep-alive connection) sending search requests back to back, no think
time. Any answer but 201 is a failure. Every request is also recorded exactly (start, time to
the last byte, status, error) in the ``--records`` file when locust quits, so the benchmark
computes its percentiles from the raw times rather than locust's rounded histogram.

    locust -f bench/_load_locustfile.py --headless --plan PLAN.json --records OUT.json ...

The plan (written by ``load_search.py``): {"tokens": [...], "forms": [[body file, content
type], ...]}. Nothing of facetrail is imported here: the load tool knows only HTTP.
"""

from __future__ import annotations

import itertools
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from locust import events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment

SEARCHES = "/api/v1/searches"
#: [start (epoch s), milliseconds, HTTP status (0: none), error or None] per request
RECORDS: list[list[Any]] = []
_NUMBERS = itertools.count()


def _options(parser: ArgumentParser) -> None:
    parser.add_argument("--plan", type=Path, required=True, help="tokens and request bodies")
    parser.add_argument("--records", type=Path, required=True, help="where to write each request")


def _record(
    response_time: float,
    response: Any = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    error = None if exception is None else f"{type(exception).__name__}: {exception}"[:1200]
    RECORDS.append([start_time, response_time, status, error])


def _write_records(environment: Environment, **_: Any) -> None:
    assert environment.parsed_options is not None
    Path(environment.parsed_options.records).write_text(json.dumps(RECORDS))


# locust's add_listener is untyped
events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.request.add_listener(_record)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_write_records)  # type: ignore[no-untyped-call]


class Investigator(FastHttpUser):
    # Some searches take long under load; a timeout would be an error of the load tool's own.
    network_timeout = 600.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        assert self.environment.parsed_options is not None
        plan = json.loads(Path(self.environment.parsed_options.plan).read_text())
        number = next(_NUMBERS)
        self.headers = {"Authorization": f"Bearer {plan['tokens'][number % len(plan['tokens'])]}"}
        self.forms = [(Path(body).read_bytes(), kind) for body, kind in plan["forms"]]
        self.turn = number

    @task
    def search(self) -> None:
        body, content_type = self.forms[self.turn % len(self.forms)]
        self.turn += 1
        headers = self.headers | {"Content-Type": content_type}
        payload: Any = body  # bytes go out as they are (the signature names str | dict only)
        with self.client.post(
            SEARCHES, data=payload, headers=headers, name=SEARCHES, catch_response=True
        ) as answer:
            if answer.status_code != 201:
                answer.failure(f"HTTP {answer.status_code}: {(answer.text or '')[:1000]}")
