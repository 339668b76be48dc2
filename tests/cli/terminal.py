"""The CLI as a person types it, in-process (typer's CliRunner), with sign-in helpers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facetrail.cli.main import app
from facetrail.config import get_settings
from facetrail.governance.credentials import totp_now
from tests.conftest import copy_first_images, lfw_people
from tests.mail import dropped_bodies, invite_in, invite_subject

PASSWORD = "a long enough secret"
CASE = "2026-000123"
OFFENSE = "armed-robbery"
JUSTIFICATION = "Bank robbery on 3 Main St; suspect photographed by the lobby camera."
OPERATORS = "facetrail operators"


class Terminal:
    """One facetrail home; every account's TOTP secret (each enrolled by its owner at first
    sign-in) and session token, so anyone can sign in, or switch back to their session."""

    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FACETRAIL_HOME", str(home))
        monkeypatch.setenv("FACETRAIL_THREADS", "1")
        monkeypatch.setenv("FACETRAIL_ADMIN_PASSWORD", PASSWORD)
        monkeypatch.setenv("FACETRAIL_NEW_PASSWORD", PASSWORD)
        monkeypatch.setenv("FACETRAIL_PASSWORD", PASSWORD)
        # No SMTP here: mail goes to a pickup folder, where each person reads their own.
        self.mail_dir = home.parent / f"{home.name}.mail"
        monkeypatch.setenv("FACETRAIL_MAIL_DIR", str(self.mail_dir))
        get_settings.cache_clear()
        self.home = home
        self.runner = CliRunner()
        self.secrets: dict[str, str] = {}
        self.sessions: dict[str, str] = {}
        self._last_step: dict[str, int] = {}

    @property
    def token_file(self) -> Path:
        return self.home / "session.token"

    def __call__(self, *args: str, code: int = 0, stdin: str | None = None) -> str:
        if args[:1] == ("logout",) and self.token_file.exists():  # that session ends
            ended = self.token_file.read_text()
            self.sessions = {u: t for u, t in self.sessions.items() if t != ended}
        result = self.runner.invoke(app, list(args), input=stdin)
        assert result.exit_code == code, result.output
        return result.output

    def code(self, username: str) -> str:
        """A TOTP code of ``username`` not used before (each is accepted once; the current
        step or the next one, waiting for the step after when both are used)."""
        now = time.time()
        step = max(int(now // 30), self._last_step.get(username, -1) + 1)
        if step > int(now // 30) + 1:
            time.sleep((step - 1) * 30 - now + 0.1)
        self._last_step[username] = step
        return totp_now(self.secrets[username], at=step * 30)

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))

    def init(self, admin: str = "root") -> None:
        enrolment = self("init", "--admin", admin, "--email", f"{admin}@ops", "--json")
        self.secrets[admin] = json.loads(enrolment)["totp_secret"]
        self.login(admin)

    def login(self, username: str) -> None:
        """Back to ``username``'s session, else a real sign-in (the first one: enrolment)."""
        if username in self.sessions:
            self.token_file.write_text(self.sessions[username])
            self.token_file.chmod(0o600)
            return
        if username not in self.secrets:
            invite = self.invite(username)
            given = ["--invite", invite] if invite else []
            shown = json.loads(self("enrol", username, *given, "--json"))
            self.secrets[username] = shown["totp_secret"]
            self("enrol", username, "--code", self.code(username))
        else:
            self("login", username, "--code", self.code(username))
        self.sessions[username] = self.token_file.read_text()

    def invite(self, username: str) -> str | None:
        """The latest enrolment code mailed to ``username`` (None if none was)."""
        return invite_in(dropped_bodies(self.mail_dir, invite_subject(username)))

    def account(self, username: str, agency: str, *roles: str) -> None:
        """Granted by whoever is signed in."""
        role_args = [a for r in roles for a in ("--role", r)]
        email = f"{username}@example.org"
        args = ["account", "create", username, "--email", email, "--agency", agency, *role_args]
        granted = json.loads(self(*args, "--json"))
        assert granted["totp_secret"] is None  # its owner enrols it at first sign-in

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
        """``facetrail search`` for the test case, attested (unless ``flags`` holds
        ``--no-attest``); ``options`` are --name value pairs."""
        given = {"case": CASE, "offense": OFFENSE, "justification": JUSTIFICATION} | options
        args = [a for k, v in given.items() for a in (f"--{k.replace('_', '-')}", v)]
        attest = () if "--no-attest" in flags else ("--attest",)
        flags = tuple(f for f in flags if f != "--no-attest")
        return self("search", *map(str, probes), "-g", gallery, *args, *attest, *flags, code=code)


def first_photos(folder: Path, people: list[Path]) -> Path:
    """A gallery folder holding the first photo of each person."""
    copy_first_images(folder, people)
    return folder


def second_photo(person: Path) -> Path:
    return sorted(person.glob("*.jpg"))[1]


__all__ = ["Terminal", "first_photos", "lfw_people", "second_photo"]
