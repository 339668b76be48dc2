"""The ``protected_activity`` alert rule in scenarios that must fire it and ones that must not
(issue 25): a crowd probe, one photo searched for several of its faces under several case
numbers, an offense marked close to protected activity, a justification naming a
demonstration; and a booking photo, a photo of two people, words that only look alike.
``tests/services/test_protected_alerts_run.py`` runs it over real searches."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from facetrail.errors import InvalidRequestError
from facetrail.governance._protected_alerts import words_found
from facetrail.governance.alerts import AlertRules, SearchFact, evaluate, rule_in_words
from facetrail.governance.policy import Policy, weakenings
from tests.governance.test_alert_rules import NOW, fact, fired

RULE = "protected_activity"
BOOKING = "b" * 64
CROWD = "c" * 64
TWO = "2" * 64


def photo(user: str, sha: str, face: int | None, case: str, days_ago: int = 1) -> SearchFact:
    """A search of the probe photo ``sha`` (kept: ``probes`` name the face it shows)."""
    at = NOW - timedelta(days=days_ago)
    return fact(user, at, case, f"face:{sha[:4]}{face}", files=(sha,), face=face)


def test_a_crowd_probe_fires_once_naming_its_faces() -> None:
    crowd = fact("ivy", NOW - timedelta(hours=2), files=(CROWD,), faces=(7,), crowd=True, face=2)
    (found,) = fired(RULE, [crowd])
    assert found.key == f"{RULE}:search:{crowd.search_id}" and found.user == "ivy"
    assert "a crowd probe (7 faces fit to search in one photo; face number 3 chosen)" in (
        found.summary
    )
    assert found.searches == (crowd.search_id,)


def test_three_faces_of_one_photo_under_three_cases_fire_once_with_the_three() -> None:
    searches = [
        photo("ivy", CROWD, 0, "2026-000701", days_ago=3),
        photo("ivy", CROWD, 1, "2026-000702", days_ago=2),
        photo("ian", CROWD, 2, "2026-000703", days_ago=1),
    ]
    (found,) = fired(RULE, searches)
    assert found.key == f"{RULE}:photo:{CROWD[:16]}:1"
    assert found.searches == tuple(s.search_id for s in searches)
    assert "searched 3 times for 3 of its faces under 3 case numbers" in found.summary
    assert (
        "2026-000701, 2026-000702, 2026-000703" in found.summary and "by ian, ivy" in found.summary
    )
    assert found.user == "ivy"  # two of the three
    # A fourth adds nothing new; six make it twice the setting, and it is raised again.
    fourth = photo("ivy", CROWD, 3, "2026-000704")
    assert [f.key for f in fired(RULE, [*searches, fourth])] == [found.key]
    more = [photo("ivy", CROWD, i, f"2026-00071{i}") for i in (4, 5)]
    assert [f.key for f in fired(RULE, [*searches, fourth, *more])] == [
        f"{RULE}:photo:{CROWD[:16]}:2"
    ]


def test_one_face_of_one_photo_under_three_cases_fires_too_and_once() -> None:
    # The same face under three case numbers: its file and its face name the same three
    # searches; one finding says it.
    searches = [photo("ivy", BOOKING, None, f"2026-00080{i}") for i in range(3)]
    (found,) = fired(RULE, searches)
    assert found.key.startswith(f"{RULE}:photo:")
    # The same face in three different files (crops of one photo) is found by its template.
    crops = [
        fact("ivy", NOW - timedelta(days=1), f"2026-00081{i}", "face:42", files=(f"{i}" * 64,))
        for i in range(3)
    ]
    (by_face,) = fired(RULE, crops)
    assert by_face.key == f"{RULE}:face:42:1" and "the same face" in by_face.summary


def test_a_marked_offense_fires() -> None:
    marked = fact("ivy", NOW, offense="obstruction", protected=True, grounds="blocked a road")
    (found,) = fired(RULE, [marked])
    assert "its offense, obstruction, is marked close to protected activity" in found.summary


@pytest.mark.parametrize(
    "grounds",
    [
        "Suspect photographed at the demonstration outside city hall",
        "Threw a bottle at officers during a PROTEST on Main St",
        "The protesters blocked the ambulance; one struck a medic",
        "Seen at the candlelight vigil on Friday night",
        "A photo from the sit-ins at the university",
        "An anti-protest counter-group member assaulted a journalist",
    ],
)
def test_a_justification_naming_a_demonstration_fires(grounds: str) -> None:
    (found,) = fired(RULE, [fact("ivy", NOW, grounds=grounds, offense="aggravated-assault")])
    assert "its offense or reasons name" in found.summary


@pytest.mark.parametrize(
    "grounds",
    [
        "A remarkable likeness to the suspect in the bank robbery",
        "Suspect fled past the marching band on 3 March",
        "He protested his innocence; the Protestant church camera caught him",
        "CCTV demonstrates the suspect entered the store; a vigilant clerk called us",
        "Occupation: driver. Struck the victim during a labour dispute",
    ],
)
def test_words_that_only_look_alike_stay_quiet(grounds: str) -> None:
    assert fired(RULE, [fact("ivy", NOW, grounds=grounds, offense="armed-robbery")]) == []


def test_an_unlawful_assembly_offense_names_a_demonstration() -> None:
    assert words_found("unlawful-assembly", AlertRules().protected_words) == ["assembly"]
    assert words_found("a rally, then another", ["rally", "protest"]) == ["rally"]


def test_a_booking_photo_once_and_a_two_person_photo_twice_stay_quiet() -> None:
    booking = photo("ivy", BOOKING, None, "2026-000901")
    two = [photo("ivy", TWO, 0, "2026-000902"), photo("ivy", TWO, 1, "2026-000902")]
    assert fired(RULE, [booking, *two]) == []
    # The same face of one photo searched again under its case (a retry) is no more faces.
    again = [photo("ivy", BOOKING, None, "2026-000901") for _ in range(4)]
    assert fired(RULE, again) == []


def test_searches_of_one_photo_outside_the_history_are_not_counted() -> None:
    old = [photo("ivy", CROWD, i, f"2026-00095{i}", days_ago=40) for i in range(3)]
    assert fired(RULE, old) == []


def test_the_rule_turned_off_finds_nothing() -> None:
    crowd = fact("ivy", NOW, files=(CROWD,), faces=(7,), crowd=True)
    assert [f.rule for f in evaluate(AlertRules(), [crowd], NOW)] == [RULE]
    assert evaluate(AlertRules(disabled=(RULE,)), [crowd], NOW) == []


def test_the_settings_are_checked_and_loosening_them_is_a_relaxation() -> None:
    rules = Policy.from_dict(Policy().to_dict() | {"alerts": {"protected_words": ["Protest"]}})
    assert rules.alerts.protected_words == ("protest",)
    with pytest.raises(InvalidRequestError, match="protected_words must be a list"):
        Policy.from_dict(Policy().to_dict() | {"alerts": {"protected_words": "protest"}})
    with pytest.raises(InvalidRequestError, match="lower-case letters"):
        AlertRules(protected_words=("protest!",)).validate()
    with pytest.raises(InvalidRequestError, match="photo_searches"):
        AlertRules(photo_searches=0).validate()
    before = Policy()
    fewer = replace(before.alerts, protected_words=("protest",), photo_searches=4)
    said = weakenings(before, replace(before, alerts=fewer))
    assert "alert setting photo_searches loosened: 3 -> 4" in said
    assert any(s.startswith("alert words removed: demonstration, demonstrator") for s in said)
    more = replace(before.alerts, protected_words=(*before.alerts.protected_words, "march"))
    assert weakenings(before, replace(before, alerts=replace(more, photo_searches=2))) == []
    assert "one photo searched 3 or more times" in rule_in_words(RULE, AlertRules())
