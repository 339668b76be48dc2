"""The CLI's one naming scheme and one way to pass lists, as a new user meets them: groups of
many things are plural (their singular works too, unlisted), lists are repeatable options."""

from __future__ import annotations

import re
from typing import Any

from tests.cli.terminal import Terminal

PLURAL = ("accounts", "agencies", "cases", "galleries", "jobs", "models", "networks", "tokens")
SINGULAR = ("account", "agency", "case", "gallery", "job", "model", "network", "token")


def test_groups_are_plural_and_their_singular_works_unlisted(term: Terminal) -> None:
    commands = set(re.findall(r"^  ([a-z-]+) ", term("--help").split("Commands:", 1)[1], re.M))
    for plural, singular in zip(PLURAL, SINGULAR, strict=True):
        assert plural in commands and singular not in commands, (plural, singular)
        same = term(singular, "--help").replace(f" {singular} ", f" {plural} ", 1)
        assert " ".join(term(plural, "--help").split()) == " ".join(same.split())


def test_policy_lists_are_repeatable_options_and_an_empty_one_empties(term: Terminal) -> None:
    term.init()
    term("agencies", "create", "town")
    term.account("hana", "town", "agency_head")
    term.login("hana")
    term(
        "policy", "set", "town", "--offense", "burglary", "--offense", "robbery, armed",
        "--approval-offense", "robbery, armed", "--reason", "two offenses",
    )  # fmt: skip
    shown: Any = term.json("policy", "show")
    assert shown["policy"]["offenses"] == ["burglary", "robbery, armed"]  # a comma is a comma
    assert shown["policy"]["approval_offenses"] == ["robbery, armed"]
    term("policy", "set", "town", "--approval-offense", "", "--reason", "no prior approval")
    shown = term.json("policy", "show")
    assert shown["policy"]["approval_offenses"] == []
    assert shown["policy"]["offenses"] == ["burglary", "robbery, armed"]  # not given: kept
