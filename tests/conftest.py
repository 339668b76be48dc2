"""Shared fixtures: a real face photo from the shared LFW data, or a synthetic stand-in."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

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
    """A fresh facetrail home (SQLite WAL + blobs + index) in a temp folder."""
    from facetrail.config import Settings
    from facetrail.services.context import AppContext

    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    yield ctx
    ctx.close()


@pytest.fixture()
def org(app_ctx):  # type: ignore[no-untyped-def]
    """A signed-in organisation on ``app_ctx`` (see tests/org.py)."""
    from tests.org import make_org

    return make_org(app_ctx)


#: ``FACETRAIL_TEST_POSTGRES=1``: every test gets a database of its own on this machine's
#: PostgreSQL (127.0.0.1:5432, trust auth), made before it and dropped after; settings made
#: without an explicit database URL use it (processes a test spawns inherit it).
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _postgres_per_test(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    if not os.environ.get("FACETRAIL_TEST_POSTGRES"):
        yield None
        return
    import secrets

    import psycopg

    from facetrail.config import get_settings

    name = f"facetrail_t_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv(
        "FACETRAIL_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    )
    get_settings.cache_clear()
    try:
        yield name
    finally:
        get_settings.cache_clear()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
