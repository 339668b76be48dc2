"""The command line's help and pipes as people expect them from ``gh`` and ``kubectl``: plain
metavars (``--top N``, never ``<int>`` or ``<list[Path]>``), paragraphs wrapped whole, ``-h``
as well as ``--help``, and a reader who stops reading (``| head``) is no failure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from facetrail.cli.help_text import plain_metavars
from facetrail.cli.main import app


def _facetrail(*args: str, home: Path) -> subprocess.Popen[bytes]:
    env = {"FACETRAIL_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen(
        [sys.executable, "-m", "facetrail", *args], stdout=subprocess.PIPE, env=env
    )


def test_every_commands_help_names_values_in_plain_words(tmp_path: Path) -> None:
    command = typer.main.get_command(app)
    plain_metavars(command)
    seen = 0
    stack = [([], command)]
    while stack:
        path, cmd = stack.pop()
        shown = cmd.get_help(cmd.make_context("facetrail", [], resilient_parsing=True))
        seen += 1
        assert not re.search(r"<(bool|str|int|float|path|list\[[^\]]*\])>", shown), (path, shown)
        stack += [([*path, name], sub) for name, sub in getattr(cmd, "commands", {}).items()]
    assert seen > 60
    done = _facetrail("search", "-h", home=tmp_path)
    out, _ = done.communicate(timeout=60)
    text = out.decode()
    assert done.returncode == 0 and "--top N" in text and "--crops PATH" in text
    assert "-h, --help" in text


def test_a_reader_who_stops_reading_is_no_failure(tmp_path: Path) -> None:
    """Before: ``facetrail ... | head`` exited 1."""
    reading = _facetrail("audit", "--help", home=tmp_path)
    assert reading.stdout is not None
    reading.stdout.close()  # the reader is gone before a line is written
    assert reading.wait(timeout=60) == 0


def test_a_long_job_not_on_a_terminal_prints_progress_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: an ingestion whose output went to a log printed nothing until it ended."""
    from facetrail.cli import app as cli_app

    monkeypatch.setattr(cli_app, "PROGRESS_EVERY_S", 0.0)
    with cli_app.progress_bar("ingesting", True) as advance:
        advance(1200, 5000)
        advance(1300, 5000)
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("ingesting: 1,200 of 5,000 (24%), ") and "left" in said[0]
    assert said[1].startswith("ingesting: 2,500 of 5,000 (50%)")
    assert said[-1].startswith("ingesting: done, 2,500 of 5,000 (50%)")
