"""The CLI as a person types it, in-process (typer's CliRunner), with sign-in helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import get_settings
from facetrail.governance.credentials import totp_now
from tests.conftest import copy_first_images, lfw_people

PASSWORD = "a long enough secret"
CASE = "2026-000123"
OFFENSE = "armed-robbery"
JUSTIFICATION = "Bank robbery on 3 Main St; suspect photographed by the lobby camera."
OPERATORS = "facetrail operators"


class Terminal:
    """One facetrail home; every account's TOTP secret, so anyone can sign in."""

    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FACETRAIL_HOME", str(home))
        monkeypatch.setenv("FACETRAIL_THREADS", "1")
        monkeypatch.setenv("FACETRAIL_ADMIN_PASSWORD", PASSWORD)
        monkeypatch.setenv("FACETRAIL_NEW_PASSWORD", PASSWORD)
        get_settings.cache_clear()
        self.home = home
        self.runner = CliRunner()
        self.secrets: dict[str, str] = {}

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))

    def init(self, admin: str = "root") -> None:
        enrolment = self("init", "--admin", admin, "--email", f"{admin}@ops", "--json")
        self.secrets[admin] = json.loads(enrolment)["totp_secret"]
        self.login(admin)

    def login(self, username: str) -> None:
        code = totp_now(self.secrets[username])
        self("login", username, "--password", PASSWORD, "--code", code)

    def account(self, username: str, agency: str, *roles: str) -> None:
        """Granted by whoever is signed in."""
        role_args = [a for r in roles for a in ("--role", r)]
        email = f"{username}@example.org"
        args = ["account", "create", username, "--email", email, "--agency", agency, *role_args]
        enrolment = json.loads(self(*args, "--json"))
        self.secrets[username] = enrolment["totp_secret"]

    def gallery(self, folder: Path, name: str = "g") -> None:
        """Created and filled by whoever is signed in (a system or gallery admin)."""
        self("gallery", "create", name)
        self(
            "gallery",
            "add-source",
            name,
            "s",
            "--kind",
            "booking photos",
            "--legal-basis",
            "statute",
            "--supplied-by",
            "sheriff",
            "--collected-at",
            "2026-02-01",
            "--retention-days",
            "365",
        )
        summary = self.json(
            "gallery", "ingest", str(folder), "-g", name, "-s", "s", "--workers", "1"
        )
        assert isinstance(summary, dict) and summary["failures"] == []

    def search(
        self,
        *probes: Path,
        gallery: str = "g",
        code: int = 0,
        flags: tuple[str, ...] = (),
        **options: str,
    ) -> str:
        """``facetrail search`` for the test case; ``options`` are --name value pairs."""
        given = {"case": CASE, "offense": OFFENSE, "justification": JUSTIFICATION} | options
        args = [a for k, v in given.items() for a in (f"--{k.replace('_', '-')}", v)]
        return self("search", *map(str, probes), "-g", gallery, *args, *flags, code=code)


def first_photos(folder: Path, people: list[Path]) -> Path:
    """A gallery folder holding the first photo of each person."""
    copy_first_images(folder, people)
    return folder


def second_photo(person: Path) -> Path:
    return sorted(person.glob("*.jpg"))[1]


__all__ = ["Terminal", "first_photos", "lfw_people", "second_photo"]
