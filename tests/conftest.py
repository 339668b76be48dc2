"""Shared fixtures: a real face photo from the shared LFW data, or a synthetic stand-in; a
fresh home; and in PostgreSQL mode a database of its own for each test and each home."""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from argon2 import PasswordHasher
from PIL import Image, ImageDraw
from sqlalchemy import event
from sqlalchemy.pool import Pool

from facetrail.config import Settings, get_settings
from facetrail.governance import credentials
from facetrail.store.db import make_engine

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Shared photos live outside the repository; FACETRAIL_TEST_DATA points elsewhere if needed.
TEST_DATA = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))
PREFERRED_FACE = TEST_DATA / "lfw-dev" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


@pytest.fixture(scope="session")
def face_jpeg() -> bytes:
    """JPEG bytes of a real face (LFW) when the shared data is present, else a drawn one."""
    if PREFERRED_FACE.is_file():
        return PREFERRED_FACE.read_bytes()
    lfw = TEST_DATA / "lfw-dev"
    if lfw.is_dir():
        for photo in sorted(lfw.glob("*/*.jpg")):
            return photo.read_bytes()
    return _synthetic_face_jpeg()


def _synthetic_face_jpeg() -> bytes:
    """250x250 like LFW, with texture and no symmetry so orientation mistakes show."""
    rng = np.random.default_rng(0)
    background = rng.integers(40, 90, (250, 250, 3), dtype=np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((70, 50, 180, 200), fill=(224, 172, 140))
    draw.ellipse((95, 100, 115, 115), fill=(40, 30, 30))
    draw.ellipse((140, 100, 160, 115), fill=(40, 30, 30))
    draw.polygon([(125, 120), (118, 150), (132, 150)], fill=(190, 140, 110))
    draw.rectangle((105, 165, 150, 172), fill=(150, 60, 60))
    draw.rectangle((0, 0, 30, 30), fill=(255, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


LFW = TEST_DATA / "lfw-dev"
needs_lfw = pytest.mark.skipif(not LFW.is_dir(), reason="shared lfw-dev photos not present")


def lfw_people(count: int, *, min_images: int = 2) -> list[Path]:
    """The first ``count`` identity folders of lfw-dev with at least ``min_images`` photos."""
    folders = []
    for folder in sorted(LFW.iterdir()):
        if folder.is_dir() and len(list(folder.glob("*.jpg"))) >= min_images:
            folders.append(folder)
            if len(folders) == count:
                break
    return folders


def copy_first_images(folder: Path, people: list[Path]) -> dict[str, Path]:
    """A gallery folder holding the first photo of each person; person -> copied file."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for person in people:
        first = sorted(person.glob("*.jpg"))[0]
        out[person.name] = Path(shutil.copy(first, folder / first.name))
    return out


@pytest.fixture()
def app_ctx(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh facetrail home (the configured database + blobs + index) in a temp folder."""
    from facetrail.services.context import AppContext

    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    yield ctx
    ctx.close()


@pytest.fixture()
def org(app_ctx):  # type: ignore[no-untyped-def]
    """A signed-in organisation on ``app_ctx`` (see tests/org.py)."""
    from tests.org import make_org

    return make_org(app_ctx)


# --- What the PostgreSQL pass leaves out --------------------------------------------------
#: Tests of pure code over images, arrays, models and metrics: they open no database, so
#: ``make test`` runs them once, in its SQLite pass (marked ``database_free``, as is any module
#: elsewhere that says so). One that opens a database anyway fails, saying why.
DATABASE_FREE_FOLDERS = frozenset({"pipeline", "imaging", "models", "eval", "index"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.relative_to(REPO_ROOT / "tests").parts[0]
        if folder in DATABASE_FREE_FOLDERS:
            item.add_marker(pytest.mark.database_free)


@pytest.fixture(autouse=True)
def _database_free_opens_none(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("database_free") is None:
        yield
        return

    def refuse(*_: object) -> None:
        raise AssertionError(
            "a database_free test opened a database: it would go untested on PostgreSQL "
            "(take it out of DATABASE_FREE_FOLDERS or drop its database_free mark)"
        )

    event.listen(Pool, "connect", refuse)
    try:
        yield
    finally:
        event.remove(Pool, "connect", refuse)


# --- PostgreSQL mode --------------------------------------------------------------------
#: ``FACETRAIL_TEST_POSTGRES=1``: every test gets a database of its own on this machine's
#: PostgreSQL (127.0.0.1:5432, trust auth), made before it and dropped after, even when it
#: fails; settings made without an explicit database URL use it (processes a test spawns
#: inherit it). So does every module and the run, for homes their fixtures share between
#: tests. A test that makes several homes gives each one of its own (``new_database``).
ON_POSTGRES = bool(os.environ.get("FACETRAIL_TEST_POSTGRES"))
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
#: A test database is named after the pytest process that made it, so that a later run can
#: drop what a killed run left (its process is gone) without touching a running one's.
PG_NAME = re.compile(r"facetrail_t_(\d+)_[0-9a-f]+")


class PostgresDatabases:
    """The PostgreSQL databases made for one test (or module, or run); ``drop_all`` drops
    each of them."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def create(self, *, empty: bool = False) -> str:
        """A new database at the current schema (a copy of the run's template, which costs
        a fifth of making the schema in each: 0.04 s against 0.21 s), or ``empty``; its
        SQLAlchemy URL."""
        name = _new_database_name()
        template = "" if empty else f' TEMPLATE "{_schema_template()}"'
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{template}')
        self.names.append(name)
        return f"{PG_SERVER_URL}/{name}"

    def drop_all(self) -> None:
        _drop_databases(self.names)
        self.names.clear()


def _new_database_name() -> str:
    return f"facetrail_t_{os.getpid()}_{secrets.token_hex(4)}"


@cache
def _schema_template() -> str:
    """The run's template database: empty but for the schema a new home makes (what
    ``store.schema_version.prepare`` makes, and nothing else: no table holds a row but the
    schema's revision). pytest_sessionfinish drops it with the run's other databases."""
    name = _new_database_name()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    make_engine(f"{PG_SERVER_URL}/{name}").dispose()  # no connection may stay on a template
    return name


def _drop_databases(names: Iterable[str]) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for name in names:
            # FORCE: a connection the test left open must not keep its database alive.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _test_database_names() -> list[str]:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'facetrail_t_%'")
        return [name for (name,) in rows if PG_NAME.fullmatch(name)]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# --- Password hashing cost ------------------------------------------------------------------
#: What facetrail hashes passwords with (argon2id, RFC 9106 defaults: about 0.2 s of CPU and
#: 64 MiB each); tests/governance/test_password_cost.py checks it is still that.
PRODUCTION_HASHER = credentials._HASHER
# Every other test hashes and verifies with the cheapest argon2id parameters: an organisation
# of a dozen people costs dozens of hashes, and the suite builds hundreds of them (a test's org
# took 9.4 s of a busy CPU, 0.5 s this way). The hash format carries its parameters, so a
# server process a test starts (with the real cost) verifies these hashes all the same.
credentials._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def pytest_sessionstart(session: pytest.Session) -> None:
    """In PostgreSQL mode: stop at once, saying why, when the server cannot be reached (the
    run must not pass by testing less); drop the databases of runs that were killed."""
    if not ON_POSTGRES:
        return
    try:
        names = _test_database_names()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"FACETRAIL_TEST_POSTGRES=1 but PostgreSQL at {PG_ADMIN_URL} cannot be reached "
            f"({exc}); start it (.ci/run does) or run without FACETRAIL_TEST_POSTGRES",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    match = (PG_NAME.fullmatch(name) for name in names)
    _drop_databases(m[0] for m in match if m and not _process_alive(int(m[1])))


@pytest.hookimpl(trylast=True)  # after the run's fixtures are torn down
def pytest_sessionfinish(session: pytest.Session) -> None:
    """In PostgreSQL mode: nothing this process made outlives the run (a test's own teardown
    drops its databases; this catches a run stopped in the middle of one)."""
    if ON_POSTGRES:
        mine = [n for n in _test_database_names() if n.startswith(f"facetrail_t_{os.getpid()}_")]
        _drop_databases(mine)


@contextmanager
def _configured_database() -> Iterator[PostgresDatabases | None]:
    """PostgreSQL mode: a new database, named by FACETRAIL_DATABASE_URL while the block runs,
    dropped after it (with any other the block made). Otherwise nothing."""
    if not ON_POSTGRES:
        yield None
        return
    databases = PostgresDatabases()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("FACETRAIL_DATABASE_URL", databases.create())
            get_settings.cache_clear()
            yield databases
    finally:
        get_settings.cache_clear()
        databases.drop_all()


# A home is made by a test, or once for several tests by a fixture of a wider scope (a module's
# world); each scope has a database of its own, or two homes would share one.
@pytest.fixture(scope="session", autouse=True)
def _postgres_per_run() -> Iterator[PostgresDatabases | None]:
    with _configured_database() as databases:
        yield databases


@pytest.fixture(scope="module", autouse=True)
def _postgres_per_module() -> Iterator[PostgresDatabases | None]:
    with _configured_database() as databases:
        yield databases


@pytest.fixture(autouse=True)
def _postgres_per_test(request: pytest.FixtureRequest) -> Iterator[PostgresDatabases | None]:
    # A module whose every test works on its module's home (marked module_database) needs no
    # database of each test's own: making and dropping one took about 0.25 s a test.
    if request.node.get_closest_marker("module_database") is not None:
        yield None
        return
    with _configured_database() as databases:
        yield databases


@dataclass(frozen=True)
class Home:
    """A facetrail home and its database (None: the SQLite file in the home, whatever
    FACETRAIL_DATABASE_URL says)."""

    path: Path
    database_url: str | None

    def settings(self, **values: Any) -> Settings:
        return Settings(home=self.path, database_url=self.database_url, **values)

    def env(self, **values: str) -> dict[str, str]:
        """The environment of a facetrail process on this home (``values``: more variables)."""
        env = {**os.environ, "FACETRAIL_HOME": str(self.path), **values}
        env.pop("FACETRAIL_DATABASE_URL", None)
        if self.database_url is not None:
            env["FACETRAIL_DATABASE_URL"] = self.database_url
        return env


@pytest.fixture()
def new_database(
    request: pytest.FixtureRequest, _postgres_per_test: PostgresDatabases | None
) -> Callable[[], str | None]:
    """For a test that makes several homes, which would otherwise share the test's database:
    a database of its own for each. In PostgreSQL mode a new one (dropped with the test's),
    else None: the SQLite file in the home."""
    assert request.node.get_closest_marker("module_database") is None, (
        "a module_database test makes no home of its own"
    )
    databases = _postgres_per_test
    return lambda: None if databases is None else databases.create()


def crash_in_child(code: str, *args: str) -> None:
    """Run ``code`` in a Python of its own that must end killed by SIGKILL (the crash it
    makes itself, at the moment a test wants one), in the repository root."""
    child = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
