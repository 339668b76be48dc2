"""An agency's case-number rule in words: what a person typing a case number reads instead of
a regular expression."""

from __future__ import annotations

import pytest

from facetrail.governance.case_numbers import case_rule_in_words
from facetrail.governance.policy import DEFAULT_CASE_PATTERN


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (
            DEFAULT_CASE_PATTERN,
            "a capital letter or a digit, then 3 to 39 capital letters, digits or dashes "
            "(4 to 40 characters)",
        ),
        (r"\d{4}-\d{6}", "4 digits, then '-', then 6 digits (11 characters)"),
        (r"OT-[0-9]{4}-[0-9]{4}", "'OT-', then 4 digits, then '-', then 4 digits (12 characters)"),
        (r"[A-Z]{2}\d+", "2 capital letters, then one or more digits (at least 3 characters)"),
        (r"(a|b)+", "in the form your agency's policy sets (its policy page shows the rule)"),
    ],
)
def test_a_rule_in_words(pattern: str, words: str) -> None:
    assert case_rule_in_words(pattern) == words
