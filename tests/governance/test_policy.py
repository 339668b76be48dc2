"""Agency policy values: defaults, validation that names the field, what counts as relaxing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from facetrail.errors import InvalidRequestError
from facetrail.governance.policy import DEFAULT_OFFENSES, ApprovalMode, Policy, weakenings

pytestmark = pytest.mark.database_free


def test_defaults_are_strict_and_round_trip() -> None:
    policy = Policy()
    assert policy.second_reviewer and policy.approval is ApprovalMode.ALWAYS
    assert policy.galleries == () and policy.offenses == DEFAULT_OFFENSES
    assert Policy.from_json(policy.to_json()) == policy
    assert policy.needs_approval("homicide")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"case_pattern": "([A-Z"}, "case_pattern"),
        ({"daily_limit": 0}, "daily_limit"),
        ({"offenses": []}, "offenses"),
        ({"approval_offenses": ["jaywalking"]}, "approval_offenses"),
        ({"trial_days": 0}, "trial_days"),
        ({"probe_retention_days": 0}, "probe_retention_days"),
        ({"min_justification": -1}, "min_justification"),
    ],
)
def test_invalid_policies_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        Policy.from_dict(body)
    assert caught.value.subject == f"policy.{field}"


def test_unknown_fields_and_bad_values_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="unknown policy fields: colour"):
        Policy.from_dict({"colour": "red"})
    with pytest.raises(InvalidRequestError, match="not valid"):
        Policy.from_dict({"approval": "sometimes"})
    with pytest.raises(InvalidRequestError, match="not valid"):
        Policy.from_dict({"second_reviewer": "perhaps"})


def test_listed_approval() -> None:
    policy = Policy(approval=ApprovalMode.LISTED, approval_offenses=("homicide",))
    assert policy.needs_approval("homicide") and not policy.needs_approval("arson")
    assert not Policy(approval=ApprovalMode.NEVER).needs_approval("homicide")


def test_every_relaxation_is_named_and_tightening_is_not() -> None:
    old = Policy(galleries=("bookings",), daily_limit=5)
    loose = replace(
        old,
        offenses=(*old.offenses, "shoplifting"),
        case_pattern=".*",
        min_justification=0,
        galleries=("bookings", "dmv"),
        approval=ApprovalMode.NEVER,
        second_reviewer=False,
        daily_limit=50,
        probe_retention_days=9999,
        trial_days=90,
    )
    said = weakenings(old, loose)
    assert len(said) == 9, said
    assert "second reviewer no longer required" in said
    assert "galleries added: dmv" in said
    assert weakenings(loose, old) == [
        "case number pattern changed: '.*' -> " + repr(old.case_pattern)
    ]
    listed = replace(old, approval=ApprovalMode.LISTED, approval_offenses=("homicide", "arson"))
    fewer = replace(listed, approval_offenses=("homicide",))
    assert weakenings(listed, fewer) == ["prior approval relaxed to listed"]


def test_the_bar_for_a_likely_candidate_is_checked_and_raising_it_is_said() -> None:
    base = Policy()
    assert base.likely_false_match_rate == 0.001
    assert Policy.from_dict({}).likely_false_match_rate == 0.001  # older versions: the default
    looser = replace(base, likely_false_match_rate=0.01)
    assert weakenings(base, looser) == [
        "candidates shown as likely up to a false-match rate of 0.01"
    ]
    assert weakenings(looser, base) == []
    for bad in (0.5, 0.0, 1e-9):
        with pytest.raises(InvalidRequestError, match="likely candidates"):
            Policy.from_dict({"likely_false_match_rate": bad})
    assert Policy.from_json(looser.to_json()) == looser
