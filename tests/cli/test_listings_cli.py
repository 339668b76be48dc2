"""Every resource has a ``list`` (and ``show``) as people expect from git, gh or kubectl: each
role sees what it may and another agency's things not at all; piped output is a header line
and tab-separated rows; ``--json`` is the services' own shape, and an error under ``--json``
is a JSON object with its stable code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from facetrail.cli.main import app
from facetrail.cli.render import print_rows
from facetrail.config import get_settings
from facetrail.governance.credentials import Principal, secret_hash
from facetrail.services.accounts import directory
from facetrail.services.context import AppContext
from facetrail.services.searching import listings
from facetrail.services.signin.authentication import authenticate
from facetrail.services.views import plain
from tests.cli.terminal import CASE, JUSTIFICATION, Terminal

OTHER_CASE = "2026-000777"
TOWN_CASE = "2026-000999"


@contextmanager
def service_view(term: Terminal, username: str) -> Iterator[tuple[AppContext, Principal]]:
    """The home's services, as ``username`` (signed in with their CLI session)."""
    ctx = AppContext.open(get_settings())
    try:
        yield ctx, authenticate(ctx, term.sessions[username])
    finally:
        ctx.close()


def stdout(term: Terminal, *args: str, code: int = 0) -> str:
    """What the command wrote to stdout alone (the Terminal's output mixes in stderr)."""
    result = term.runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.stdout


def table(text: str) -> list[dict[str, str]]:
    """Piped output read back: a header line, then one tab-separated line per row."""
    header, *lines = text.splitlines()
    names = header.split("\t")
    return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]


def test_the_organisation_as_each_role_sees_it(term: Terminal) -> None:
    term.init()
    term("network", "create", "region")
    term("agency", "create", "county", "--network", "region")
    term("agency", "create", "town")
    term.account("hana", "county", "agency_head", "supervisor")
    term.account("ivy", "county", "investigator")
    term.account("tom", "town", "supervisor")

    everyone = table(stdout(term, "account", "list"))
    assert [(a["username"], a["agency"]) for a in everyone] == [  # by agency, then name
        ("hana", "county"),
        ("ivy", "county"),
        ("root", "facetrail operators"),
        ("tom", "town"),
    ]
    assert {a["username"]: a["roles"] for a in everyone}["hana"] == "agency_head,supervisor"
    assert table(stdout(term, "jobs", "list")) == []  # the header line alone
    assert "not_found" in term("jobs", "show", "99", code=2)

    term.login("hana")
    mine = table(stdout(term, "account", "list"))
    assert [(a["username"], a["status"], a["approved_by"]) for a in mine] == [
        ("hana", "active", "root"),
        ("ivy", "active", "root"),
    ]
    with service_view(term, "hana") as (ctx, hana):
        assert term.json("account", "list") == plain(directory.list_accounts(ctx, hana))
        assert term.json("agency", "list") == plain(directory.list_agencies(ctx, hana))
    assert "[not_found]" in term("account", "list", "--agency", "town", code=2)
    assert "[not_found]" in term("account", "show", "tom", code=2)  # not "not yours"
    shown: Any = term.json("account", "show", "ivy")
    assert shown["roles"] == ["investigator"] and shown["second_factor"] is False  # not yet

    term.login("ivy")
    assert "[permission_denied]" in term("account", "list", code=2)
    own = dict(line.split("\t") for line in stdout(term, "account", "show").splitlines())
    assert own["username"] == "ivy" and own["second_factor"] == "true"  # enrolled at sign-in
    assert [a["agency"] for a in table(stdout(term, "agency", "list"))] == ["county"]
    assert table(stdout(term, "network", "list")) == [{"network": "region", "agencies": "county"}]
    assert "[permission_denied]" in term("jobs", "list", code=2)

    session = term.sessions["ivy"]
    listed = stdout(term, "token", "list")
    (token,) = table(listed)
    digest = secret_hash(session)
    assert token["id"] == digest[:12] and token["name"] == "session" and token["active"] == "true"
    assert session not in listed and digest not in listed  # never the token, nor its hash
    with service_view(term, "ivy") as (ctx, ivy):
        tokens = plain(directory.list_tokens(ctx, ivy))
    assert term.json("token", "list") == tokens and "token_hash" not in tokens[0]


def test_json_errors_are_objects_on_stdout_with_the_code(term: Terminal) -> None:
    term.init()
    result = term.runner.invoke(app, ["account", "show", "nobody", "--json"])
    assert result.exit_code == 2 and result.stderr == ""
    assert json.loads(result.stdout) == {
        "error": {"code": "not_found", "message": "no such user", "subject": "nobody"}
    }
    plain_run = term.runner.invoke(app, ["account", "show", "nobody"])
    assert plain_run.exit_code == 2 and plain_run.stdout == ""
    assert "[not_found] nobody: no such user" in plain_run.stderr
    term("logout")
    signed_out = json.loads(stdout(term, "searches", "list", "--json", code=2))
    assert signed_out["error"]["code"] == "not_logged_in"
    # The next command without --json prints its error as before: nothing is remembered.
    assert "[not_logged_in]" in term.runner.invoke(app, ["agency", "list"]).stderr


def test_searches_cases_and_the_approval_queue(term: Terminal, face_jpeg: bytes) -> None:
    term.init()
    term("agency", "create", "county")
    term("agency", "create", "town")
    term.account("hana", "county", "agency_head", "supervisor")
    term.account("sam", "county", "supervisor")
    term.account("ivy", "county", "investigator")
    term.account("ian", "county", "investigator")
    term.account("tom", "town", "investigator", "supervisor")
    term("gallery", "create", "g")
    term("policy", "set", "town", "--gallery", "g", "--reason", "town searches g")
    term.login("hana")
    term("policy", "set", "county", "--gallery", "g", "--reason", "county searches g")
    probe = term.home.parent / "lobby-camera.jpg"
    probe.write_bytes(face_jpeg)

    term.login("ivy")
    assert "pending" in term.search(probe)  # approval: always (the default)
    term.login("ian")
    assert "pending" in term.search(probe, case=OTHER_CASE)
    term.login("tom")
    assert "pending" in term.search(probe, case=TOWN_CASE)

    term.login("sam")
    (first, second) = table(stdout(term, "searches", "pending"))
    assert first["requester"] == "ivy" and first["probes"].endswith("lobby-camera.jpg")
    assert first["justification"] == JUSTIFICATION and first["yours_to_decide"] == "true"
    assert second["case"] == OTHER_CASE
    with service_view(term, "sam") as (ctx, sam):
        assert term.json("searches", "pending") == plain(listings.approval_queue(ctx, sam))
    cases = table(stdout(term, "case", "list"))
    assert [(c["case"], c["searches"], c["pending"]) for c in cases] == [
        (OTHER_CASE, "1", "1"),
        (CASE, "1", "1"),
    ]
    disclosure: Any = term.json("case", "show", CASE)
    assert [s["requested_by"] for s in disclosure["searches"]] == ["ivy"]
    assert disclosure["searches"][0]["justification"] == JUSTIFICATION

    term.login("ivy")
    assert [c["case"] for c in table(stdout(term, "case", "list"))] == [CASE]  # hers alone
    agency = table(stdout(term, "searches", "list"))
    assert [(s["requester"], s["case"]) for s in agency] == [("ian", OTHER_CASE), ("ivy", CASE)]
    mine: Any = term.json("searches", "list", "--mine")
    assert [s["case_number"] for s in mine] == [CASE]
    with service_view(term, "ivy") as (ctx, ivy):
        query = listings.SearchQuery(case_number=OTHER_CASE)
        assert term.json("searches", "list", "--case", OTHER_CASE) == plain(
            listings.find_searches(ctx, ivy, query)
        )
    assert table(stdout(term, "searches", "list", "--status", "done")) == []
    assert table(stdout(term, "searches", "list", "--until", "2000-01-01")) == []
    assert len(table(stdout(term, "searches", "list", "--since", "2000-01-01"))) == 2
    bad = json.loads(stdout(term, "searches", "list", "--status", "bogus", "--json", code=2))
    assert bad["error"]["code"] == "invalid_request" and bad["error"]["subject"] == "bogus"
    assert "[permission_denied]" in term("audit", "entries", code=2)

    term.login("tom")  # another agency: none of the county's searches or cases
    assert [s["case"] for s in table(stdout(term, "searches", "list"))] == [TOWN_CASE]
    assert [c["case"] for c in table(stdout(term, "case", "list"))] == [TOWN_CASE]
    assert "[not_found]" in term("case", "show", CASE, code=2)

    term.login("hana")
    queued = table(stdout(term, "audit", "entries", "--kind", "search.queue"))
    assert queued and {e["actor"] for e in queued} == {"sam"}
    assert {e["kind"] for e in queued} == {"search.queue"} and list(queued[0]) == [
        "seq",
        "at",
        "actor",
        "kind",
        "subject",
        "details",
    ]


def test_rows_are_a_table_on_a_terminal_and_tab_separated_when_piped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [("ivy", ["investigator", "supervisor"], None), ("odd\tname", [], True)]
    print_rows(("username", "roles", "flag"), rows)
    assert capsys.readouterr().out.splitlines() == [
        "username\troles\tflag",
        "ivy\tinvestigator,supervisor\t",
        "odd name\t\ttrue",
    ]
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    print_rows(("username", "roles", "flag"), rows)
    drawn = capsys.readouterr().out
    assert "\t" not in drawn.replace("odd\tname", "") and "username" in drawn and "ivy" in drawn
    print_rows(("username",), [], empty="no accounts")
    assert capsys.readouterr().out.strip() == "no accounts"


def test_every_list_and_show_takes_json(term: Terminal) -> None:
    """The commands this issue added each take --json (checked from their --help)."""
    commands = [
        ("account", "list"),
        ("account", "show"),
        ("agency", "list"),
        ("network", "list"),
        ("token", "list"),
        ("case", "list"),
        ("case", "show"),
        ("searches", "list"),
        ("searches", "pending"),
        ("audit", "entries"),
        ("jobs", "list"),
        ("jobs", "show"),
        ("jobs", "cancel"),
    ]
    for command in commands:
        assert "--json" in term(*command, "--help"), command
