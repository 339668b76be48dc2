"""The web app over a real home (the API tests' world: county and 'other' agencies, a gallery
of LFW faces), served by uvicorn on loopback for a real browser (Debian's chromium, driven by
Playwright), and a folder for what the browser saw (screenshots, accessibility reports)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from facetrail.api import create_app
from tests.api.conftest import World, made_world
from tests.conftest import REPO_ROOT
from tests.org import PASSWORD, next_code

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
#: Where screenshots and accessibility reports go (a CI job keeps the folder).
ARTEFACTS = Path(os.environ.get("FACETRAIL_TEST_ARTEFACTS", REPO_ROOT / "test-artefacts"))
_HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="package")
def web_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for these tests: building it (models, ingest) takes most of their time.
    Each test acts as people the others leave alone, or signs in afresh."""
    with made_world(tmp_path_factory.mktemp("web")) as made:
        yield made


def code_for(world: World, name: str) -> str:
    """A TOTP code of ``name``'s not presented before (the server keeps real time)."""
    secret = world.org.enrolments[name].totp_secret
    assert secret is not None
    return next_code(secret)[0]


#: (world, person) -> how many of their recovery codes tests have used
_RECOVERY_USED: dict[tuple[int, str], int] = {}


def recovery_code_for(world: World, name: str) -> str:
    """One of ``name``'s recovery codes not used before: each signs in once, at any time, so a
    test may sign the same person in again without waiting for the next TOTP step."""
    codes = world.org.enrolments[name].recovery_codes
    used = _RECOVERY_USED.get((id(world), name), 0)
    assert used < len(codes), f"{name} has no recovery code left"
    _RECOVERY_USED[(id(world), name)] = used + 1
    return codes[used]


def csrf_in(html: str) -> str:
    found = _HIDDEN_CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF value"
    return found.group(1)


def signed_in_client(world: World, name: str) -> TestClient:
    """A cookie-keeping client signed in as ``name`` through the sign-in page (with a
    recovery code, so that a person may sign in in several tests)."""
    client = TestClient(world.client.app, raise_server_exceptions=False, follow_redirects=False)
    form = client.get("/signin")
    answer = client.post(
        "/signin",
        data={
            "csrf_token": csrf_in(form.text),
            "username": name,
            "password": PASSWORD,
            "code": recovery_code_for(world, name),
            "next": "/",
        },
    )
    assert answer.status_code == 303, answer.text
    return client


# --- a real server and a real browser ----------------------------------------------------


@dataclass
class LiveServer:
    """uvicorn serving an app from a thread of this process, on a loopback port of its own."""

    app: Any
    url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _socket: socket.socket = field(default_factory=socket.socket)

    def start(self) -> None:
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, ws="none", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._socket.close()


@pytest.fixture(scope="package")
def live_server(web_world: World) -> Iterator[str]:
    """The base URL of the web app over ``web_world``, served for real."""
    server = LiveServer(create_app(ctx=web_world.ctx))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Debian chromium (Playwright's own browser download is not used). Missing, it
    fails the run saying how to install it: the browser tests never pass by not running."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "('apt-get install chromium', which 'make test' does)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}


@pytest.fixture()
def open_page(browser: Any, live_server: str) -> Iterator[Callable[..., Any]]:
    """``open_page(viewport=DESKTOP)``: a page in a browser context of its own (its own
    cookies: one person), on the live server; every context is closed after the test."""
    contexts: list[Any] = []

    def opened(viewport: dict[str, int] = DESKTOP) -> Any:
        # bypass_csp: axe-core is injected as an inline script, which the pages' CSP forbids.
        context = browser.new_context(base_url=live_server, bypass_csp=True, viewport=viewport)
        contexts.append(context)
        return context.new_page()

    yield opened
    for context in contexts:
        context.close()


class Visits:
    """Every page a test looked at: a full-page screenshot and an axe-core report of each, in
    the artefact folder; a serious or critical accessibility violation fails the test."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.count = 0

    def check(self, page: Any, name: str) -> list[dict[str, Any]]:
        """Screenshot ``page`` and run axe-core on it; returns every violation found."""
        self.count += 1
        stem = f"{self.count:02d}-{name}"
        page.screenshot(path=str(self.folder / f"{stem}.png"), full_page=True)
        page.add_script_tag(path=str(AXE))
        violations: list[dict[str, Any]] = page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
                }));
            }"""
        )
        report = {"url": page.url, "violations": violations}
        (self.folder / f"{stem}.axe.json").write_text(json.dumps(report, indent=2))
        grave = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not grave, f"accessibility violations on {name} ({page.url}): {grave}"
        return violations


@pytest.fixture()
def visits(request: pytest.FixtureRequest) -> Visits:
    return Visits(ARTEFACTS / "web" / request.node.name)


__all__ = [
    "ARTEFACTS",
    "AXE",
    "CHROMIUM",
    "DESKTOP",
    "TABLET",
    "LiveServer",
    "Visits",
    "browser",
    "code_for",
    "csrf_in",
    "live_server",
    "open_page",
    "recovery_code_for",
    "signed_in_client",
    "visits",
    "web_world",
]
