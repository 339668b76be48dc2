"""Each misuse alert rule in a scenario that must fire it and one that must not (issue 14).

The scenarios are an agency's searches as ``services._alert_facts.search_facts`` reads them from the
log; ``tests/services/test_alerts.py`` runs the rules over real searches end to end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from facetrail.errors import InvalidRequestError
from facetrail.governance.alerts import RULES, AlertRules, Finding, SearchFact, TrialFact, evaluate
from facetrail.governance.policy import Policy, weakenings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_ids = iter(range(1, 1_000_000))


def fact(
    user: str,
    at: datetime,
    case: str = "",
    probe: str = "",
    **kw: object,
) -> SearchFact:
    sid = next(_ids)
    return SearchFact(
        search_id=sid,
        at=at,
        user=user,
        case=case or f"2026-{sid:06d}",
        probes=(probe or f"{sid:064x}",),
        **kw,  # type: ignore[arg-type]
    )


def only(rule: str) -> AlertRules:
    """The rules with every rule but ``rule`` turned off."""
    return AlertRules(disabled=tuple(r for r in RULES if r != rule))


def fired(rule: str, searches: list[SearchFact], **kw: object) -> list[Finding]:
    found = evaluate(only(rule), searches, NOW, **kw)  # type: ignore[arg-type]
    assert all(f.rule == rule for f in found)
    return found


def steady(users: tuple[str, ...], days: int = 30, per_day: int = 2) -> list[SearchFact]:
    """Each user's usual work: ``per_day`` searches a day, around 10:00, for ``days`` days."""
    out = []
    for d in range(days, 0, -1):
        day = (NOW - timedelta(days=d)).replace(hour=9)
        for user in users:
            out += [fact(user, day + timedelta(minutes=20 * i + 5)) for i in range(per_day)]
    return out


# -- volume -------------------------------------------------------------------------------------


def test_volume_fires_on_a_day_far_above_the_users_and_the_peers_averages() -> None:
    history = steady(("ann", "bob", "cat"))
    burst = [fact("bob", NOW.replace(hour=9) + timedelta(minutes=i)) for i in range(15)]
    found = fired("volume", history + burst)
    assert [(f.user, len(f.searches)) for f in found] == [("bob", 15)]
    assert "bob made 15 searches on 2026-11-30" in found[0].summary


def test_volume_stays_quiet_for_a_busy_user_who_is_always_this_busy() -> None:
    # bob always makes 8 a day; 12 today is not three times his average, though it is his
    # peers' (2 a day) six times: a rule against the peers alone would wrongly fire.
    history = steady(("ann", "cat")) + steady(("bob",), per_day=8)
    today = [fact("bob", NOW.replace(hour=9) + timedelta(minutes=i)) for i in range(12)]
    assert fired("volume", history + today) == []


# -- hours --------------------------------------------------------------------------------------


def test_hours_fires_on_a_search_at_3am_by_a_user_who_works_days() -> None:
    history = steady(("ann",))
    night = fact("ann", NOW.replace(hour=3, minute=10))
    found = fired("hours", [*history, night])
    assert [f.searches for f in found] == [(night.search_id,)]
    assert "03:10 UTC" in found[0].summary


def test_hours_stays_quiet_for_a_night_shift_worker_at_3am() -> None:
    history = [
        fact("nat", (NOW - timedelta(days=d)).replace(hour=2 + (d % 3))) for d in range(30, 0, -1)
    ]
    assert fired("hours", [*history, fact("nat", NOW.replace(hour=3))]) == []


def test_hours_needs_enough_history_to_know_what_is_usual() -> None:
    few = steady(("new",), days=5)  # 10 searches: fewer than hours_min_history
    assert fired("hours", [*few, fact("new", NOW.replace(hour=3))]) == []


# -- case_volume --------------------------------------------------------------------------------


def test_case_volume_fires_on_many_searches_under_one_case_number() -> None:
    searches = [fact("ann", NOW - timedelta(hours=i), case="2026-000777") for i in range(10)]
    found = fired("case_volume", searches)
    assert [f.key for f in found] == ["case_volume:2026-000777"]
    assert len(found[0].searches) == 10


def test_case_volume_stays_quiet_below_the_limit_and_for_old_searches() -> None:
    recent = [fact("ann", NOW - timedelta(hours=i), case="2026-000777") for i in range(9)]
    old = [fact("ann", NOW - timedelta(days=40 + i), case="2026-000777") for i in range(5)]
    assert fired("case_volume", recent + old) == []


# -- probe_cases --------------------------------------------------------------------------------


def test_probe_cases_fires_on_one_photo_searched_under_two_case_numbers() -> None:
    photo = "ab" * 32
    first = fact("ann", NOW - timedelta(days=3), case="2026-000001", probe=photo)
    second = fact("bob", NOW, case="2026-000002", probe=photo)
    found = fired("probe_cases", [first, second])
    assert [f.searches for f in found] == [(first.search_id, second.search_id)]
    assert "2026-000001, 2026-000002" in found[0].summary


def test_probe_cases_stays_quiet_for_one_photo_searched_again_in_its_own_case() -> None:
    photo = "ab" * 32
    again = [fact("ann", NOW - timedelta(days=d), case="2026-000001", probe=photo) for d in (3, 0)]
    assert fired("probe_cases", again + steady(("bob",), days=3)) == []


# -- person_cases -------------------------------------------------------------------------------


def test_person_cases_fires_on_one_gallery_person_returned_to_one_user_in_two_cases() -> None:
    her = (("bookings/person-17", 0.71),)
    a = fact("ann", NOW - timedelta(days=9), case="2026-000101", top_people=her)
    b = fact("ann", NOW, case="2026-000202", top_people=her)
    found = fired("person_cases", [a, b])
    assert [(f.user, f.searches) for f in found] == [("ann", (a.search_id, b.search_id))]


def test_person_cases_stays_quiet_across_users_in_one_case_and_for_weak_scores() -> None:
    her = (("bookings/person-17", 0.71),)
    weak = (("bookings/person-17", 0.31),)  # a hub face, not a match
    searches = [
        fact("ann", NOW - timedelta(days=9), case="2026-000101", top_people=her),
        fact("bob", NOW, case="2026-000202", top_people=her),  # another user
        fact("ann", NOW, case="2026-000101", top_people=her),  # the same case
        fact("cat", NOW - timedelta(days=2), case="2026-000303", top_people=weak),
        fact("cat", NOW, case="2026-000404", top_people=weak),
    ]
    assert fired("person_cases", searches) == []


# -- open_cases ---------------------------------------------------------------------------------


def test_open_cases_fires_on_a_case_number_missing_from_the_imported_list() -> None:
    listed = fact("ann", NOW, case="2026-000001")
    stray = fact("bob", NOW, case="2026-999999")
    found = fired("open_cases", [listed, stray], open_cases=frozenset({"2026-000001"}))
    assert [f.searches for f in found] == [(stray.search_id,)]


def test_open_cases_stays_quiet_for_listed_cases_and_without_a_list() -> None:
    stray = fact("bob", NOW, case="2026-999999")
    listed = fact("ann", NOW, case="2026-000001")
    assert fired("open_cases", [listed], open_cases=frozenset({"2026-000001"})) == []
    assert fired("open_cases", [stray], open_cases=None) == []  # no list imported


# -- stale --------------------------------------------------------------------------------------


def test_stale_fires_on_a_search_run_weeks_ago_never_reviewed_nor_closed() -> None:
    old = NOW - timedelta(days=20)
    left = fact("ann", old, ran_at=old)
    found = fired("stale", [left])
    assert [f.searches for f in found] == [(left.search_id,)]


def test_stale_stays_quiet_for_reviewed_closed_recent_or_unrun_searches() -> None:
    old = NOW - timedelta(days=20)
    searches = [
        fact("ann", old, ran_at=old, reviewed=True),
        fact("ann", old, ran_at=old, outcome="no_lead"),
        fact("ann", NOW - timedelta(days=3), ran_at=NOW - timedelta(days=3)),
        fact("ann", old),  # pending or denied: never ran
    ]
    assert fired("stale", searches) == []


# -- staff_match --------------------------------------------------------------------------------


def test_staff_match_fires_on_a_probe_matching_a_staff_member() -> None:
    hit = fact("ann", NOW, staff_matches=("staff/officer-4",))
    found = fired("staff_match", [hit, fact("ann", NOW)])
    assert [f.searches for f in found] == [(hit.search_id,)]


def test_staff_match_stays_quiet_when_no_probe_matched_staff() -> None:
    assert fired("staff_match", steady(("ann",), days=2)) == []


# -- trial --------------------------------------------------------------------------------------


def test_trial_fires_on_heavy_use_in_the_last_days_of_a_trial() -> None:
    use = [fact("tia", NOW - timedelta(hours=6 * i)) for i in range(12)]
    found = fired("trial", use, trials=[TrialFact("tia", NOW + timedelta(days=3))])
    assert [(f.user, len(f.searches)) for f in found] == [("tia", 12)]


def test_trial_stays_quiet_for_light_use_or_a_trial_far_from_its_end() -> None:
    light = [fact("tia", NOW - timedelta(hours=6 * i)) for i in range(3)]
    heavy = [fact("tom", NOW - timedelta(hours=6 * i)) for i in range(12)]
    trials = [TrialFact("tia", NOW + timedelta(days=2)), TrialFact("tom", NOW + timedelta(days=25))]
    assert fired("trial", light + heavy, trials=trials) == []


# -- settings -----------------------------------------------------------------------------------


def test_a_disabled_rule_never_fires_and_turning_one_off_is_a_weakening() -> None:
    left = fact("ann", NOW - timedelta(days=20), ran_at=NOW - timedelta(days=20))
    assert evaluate(AlertRules(disabled=("stale",)), [left], NOW) == []
    old = Policy()
    new = replace(old, alerts=replace(old.alerts, disabled=("stale",), case_max=50))
    said = weakenings(old, new)
    assert "alert rules turned off: stale" in said
    assert "alert setting case_max loosened: 10 -> 50" in said
    assert weakenings(new, old) == []  # turning back on and tightening weakens nothing


def test_alert_settings_are_part_of_the_policy_and_checked() -> None:
    body = Policy().to_dict() | {"alerts": {"stale_days": 7}}
    assert Policy.from_dict(body).alerts.stale_days == 7
    assert Policy.from_json(Policy().to_json()) == Policy()
    with pytest.raises(InvalidRequestError, match="no such alert rule: gut_feeling"):
        Policy.from_dict(Policy().to_dict() | {"alerts": {"disabled": ["gut_feeling"]}})
    with pytest.raises(InvalidRequestError, match="unknown alert settings: colour"):
        Policy.from_dict(Policy().to_dict() | {"alerts": {"colour": "red"}})
    with pytest.raises(InvalidRequestError, match="hours_share"):
        Policy.from_dict(Policy().to_dict() | {"alerts": {"hours_share": 2}})


def test_every_rule_is_said_in_words_with_the_agencys_settings() -> None:
    from facetrail.governance.alerts import RULES, AlertRules, rule_in_words

    rules = AlertRules(volume_min=12, stale_days=9)
    for rule in RULES:
        said = rule_in_words(rule, rules)
        assert said != rule.replace("_", " ") and "_" not in said, rule
    assert "at least 12 times in a day" in rule_in_words("volume", rules)
    assert "9 days old" in rule_in_words("stale", rules)
