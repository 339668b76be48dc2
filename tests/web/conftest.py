"""The web app over a real home (the API tests' world: county and 'other' agencies, a gallery
of LFW faces, and an auditor in each agency), clients signed in through the sign-in page,
served by uvicorn on loopback for a real browser (Debian's chromium, driven by Playwright),
and a folder for what the browser saw (screenshots, accessibility reports)."""

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from facetrail.governance.credentials import Role
from facetrail.server import create_app
from facetrail.services.searching.search_model import ProbeImage
from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World, made_world
from tests.conftest import LFW, REPO_ROOT, copy_first_images, lfw_people
from tests.org import AGENCY, PASSWORD, next_code

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
        # Auditors of both agencies: each reads its own agency's people's entries only.
        made.org.add("aude", AGENCY, Role.AUDITOR)
        made.org.add("oona", "other", Role.AUDITOR)
        yield made


def code_for(world: World, name: str) -> str:
    """A TOTP code of ``name``'s not presented before. The server keeps real time and takes
    a code of the next 30 s step at most: a person signed in several times in quick succession
    waits until their next unused code is no further ahead than that."""
    secret = world.org.enrolments[name].totp_secret
    assert secret is not None
    code, at = next_code(secret)
    ahead = (at - datetime.now(UTC)).total_seconds()
    if ahead > 20:
        time.sleep(ahead - 20)
    return code


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


def is_error_page(html: str, code: str) -> bool:
    """A page that names the stable ``code`` (the one the CLI and the API give), never a
    traceback."""
    return f"<code>{code}</code>" in html and "Traceback" not in html


def last_kinds(world: World, count: int = 1) -> list[str]:
    """The kinds of the newest ``count`` audit entries, oldest first."""
    with world.ctx.sessions() as s:
        newest = (  # the actions' entries (their rows' row.seal entries left out)
            select(AuditEntryRow.kind)
            .where(AuditEntryRow.kind != "row.seal")
            .order_by(AuditEntryRow.seq.desc())
            .limit(count)
        )
        return list(s.scalars(newest))[::-1]


def last_seq(world: World) -> int:
    """The position of the newest action's entry (``row.seal`` entries left out)."""
    with world.ctx.sessions() as s:
        newest = (
            select(AuditEntryRow.seq)
            .where(AuditEntryRow.kind != "row.seal")
            .order_by(AuditEntryRow.seq.desc())
            .limit(1)
        )
        found = s.scalar(newest)
    assert found is not None
    return int(found)


def lfw_folder(folder: Path, first: int, count: int) -> Path:
    """A folder of the first photos of ``count`` LFW people not in the world's gallery
    (``first`` >= 4 picks which)."""
    people = lfw_people(first + count)[first:]
    copy_first_images(folder, people)
    return folder


def search_by(world: World, who: str, case: str) -> int:
    """A search asked by ``who`` (through the service) with a photo of a gallery person."""
    person = next(iter(world.photos))
    photo = sorted((LFW / person).glob("*.jpg"))[1]
    probe = ProbeImage(photo.name, photo.read_bytes())
    return world.org.search(("bookings",), (probe,), who=who, case_number=case).search_id


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


@pytest.fixture(scope="package")
def client_of(web_world: World) -> Callable[[str], TestClient]:
    """``client_of(name)``: a client signed in as ``name`` once for all the page tests that
    take it (each sign-in spends one of the person's ten recovery codes)."""
    clients: dict[str, TestClient] = {}

    def signed(name: str) -> TestClient:
        if name not in clients:
            clients[name] = signed_in_client(web_world, name)
        return clients[name]

    return signed


# --- a real server and a real browser ----------------------------------------------------


def sign_in(page: Any, world: World, name: str) -> None:
    """Signs ``name`` in through the sign-in page, with password and a TOTP code."""
    from playwright.sync_api import expect

    page.goto("/signin")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(code_for(world, name))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()


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


DESKTOP = {"width": 1366, "height": 900}
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


#: A phone's viewport, the narrowest the pages are held to.
PHONE = {"width": 390, "height": 844}


def look(visits: Visits, page: Any, name: str) -> None:
    """Holds ``page`` to no sideways scroll, then screenshots and axe-checks it."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"
    visits.check(page, name)


__all__ = [
    "ARTEFACTS",
    "AXE",
    "CHROMIUM",
    "DESKTOP",
    "PHONE",
    "TABLET",
    "LiveServer",
    "Visits",
    "browser",
    "client_of",
    "code_for",
    "csrf_in",
    "is_error_page",
    "last_kinds",
    "lfw_folder",
    "live_server",
    "look",
    "open_page",
    "recovery_code_for",
    "search_by",
    "sign_in",
    "signed_in_client",
    "visits",
    "web_world",
]
