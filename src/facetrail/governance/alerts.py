"""Misuse alert rules: pure functions over an agency's recorded searches.

``services.oversight.alerts`` reads the facts (from the typed audit events of ``governance.events``
and the few states they point at), asks ``evaluate`` what each enabled rule finds, and raises an
alert for every finding not raised before (its ``key`` is its identity). Each rule's settings are
part of the agency's policy (``AlertRules``, kept with the rules' names in ``_alert_settings``),
versioned with it.

The rules (their names are what policy and alerts call them):

- ``volume``: a user's searches in one day are at least ``volume_min`` and more than
  ``volume_factor`` times both their own daily average and their peers' (the agency's other
  searchers) over the ``history_days`` before that day.
- ``hours``: a search at an hour at which the user, with at least ``hours_min_history``
  earlier searches, had searched less than ``hours_share`` of the time (within an hour either
  side, UTC): unusual for that user, whatever is usual for others.
- ``case_volume``: at least ``case_max`` searches under one case number in ``history_days``.
- ``probe_cases``: the same probe face searched under different case numbers (the same face
  by its probe template while the probe is kept, whatever file it came in; else by the
  files' hashes).
- ``person_cases``: the same gallery person returned as the top candidate, scoring at least
  ``person_min_score``, to one user under ``person_cases`` or more different case numbers.
- ``open_cases``: a case number absent from the agency's open-case list (only once a list
  was imported).
- ``stale``: a search run ``stale_days`` ago or more with no review and no outcome.
- ``staff_match``: a probe that matched a member of the agency's staff gallery.
- ``trial``: a trial account ending within ``trial_days_left`` days that made at least
  ``trial_searches`` searches in the last 7 days.
- ``pairs``: two people who, in the last ``history_days``, approved each other's searches
  and second-reviewed each other's reviews at least ``pairs_min`` times and ``pairs_factor``
  times as often as the agency's median pair (``governance._pairs``).
- ``protected_activity``: a search that may be aimed at people for taking part in a
  demonstration: a crowd probe; an offense the policy marks as close to protected activity,
  or an offense, justification or second reason that uses one of ``protected_words``; one
  photo searched ``photo_searches`` times or more for different faces or under different
  case numbers (``governance._protected_alerts``).

What each rule weighs and finds: ``governance._alert_findings``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from facetrail.governance._alert_findings import Finding, SearchFact, TrialFact
from facetrail.governance._alert_settings import RULES, AlertRules
from facetrail.governance._pairs import Together, standing_out
from facetrail.governance._protected_alerts import protected_activity

__all__ = [
    "RULES",
    "AlertRules",
    "Finding",
    "SearchFact",
    "TrialFact",
    "evaluate",
    "rule_in_words",
]


def evaluate(
    rules: AlertRules,
    searches: Sequence[SearchFact],
    now: datetime,
    *,
    open_cases: frozenset[str] | None = None,
    trials: Sequence[TrialFact] = (),
) -> list[Finding]:
    """What every enabled rule finds in ``searches`` (the agency's, oldest first) as of
    ``now``. ``open_cases``: the imported open-case list, None when there is none."""
    found: list[Finding] = []
    if rules.enabled("volume"):
        found += _volume(rules, searches, now)
    if rules.enabled("hours"):
        found += _hours(rules, searches, now)
    if rules.enabled("case_volume"):
        found += _case_volume(rules, searches, now)
    if rules.enabled("probe_cases"):
        found += _probe_cases(searches)
    if rules.enabled("person_cases"):
        found += _person_cases(rules, searches)
    if rules.enabled("open_cases") and open_cases is not None:
        found += [
            Finding(
                "open_cases",
                f"open_cases:{s.search_id}",
                f"search {s.search_id} by {s.user} names case {s.case}, "
                "which is not on the agency's open-case list",
                s.user,
                (s.search_id,),
            )
            for s in searches
            if s.case not in open_cases
        ]
    if rules.enabled("stale"):
        found += _stale(rules, searches, now)
    if rules.enabled("staff_match"):
        found += [
            Finding(
                "staff_match",
                f"staff_match:{s.search_id}",
                f"search {s.search_id} by {s.user} (case {s.case}) matched "
                f"{len(s.staff_matches)} member(s) of the agency's staff gallery",
                s.user,
                (s.search_id,),
            )
            for s in searches
            if s.staff_matches
        ]
    if rules.enabled("trial"):
        found += _trial(rules, searches, trials, now)
    if rules.enabled("pairs"):
        found += _pairs(rules, searches, now)
    if rules.enabled("protected_activity"):
        found += protected_activity(rules, searches, now)
    return found


def _pairs(rules: AlertRules, searches: Sequence[SearchFact], now: datetime) -> list[Finding]:
    recent = [s for s in searches if s.at >= now - timedelta(days=rules.history_days)]
    acts = [
        Together(s.search_id, (s.user, s.approver) if s.approver else None, s.second_reviews)
        for s in recent
    ]
    return [
        Finding(
            "pairs",
            # raised again as the pair's count grows by each further minimum
            f"pairs:{a}:{b}:{p.count // rules.pairs_min}",
            f"{a} and {b} approved or second-reviewed each other's work {p.count} times in "
            f"the last {rules.history_days} days, against {p.median:g} for the agency's "
            "median pair of colleagues",
            a,
            p.searches,
        )
        for p in standing_out(acts, rules.pairs_min, rules.pairs_factor)
        for a, b in [p.people]
    ]


def _by_user(searches: Iterable[SearchFact]) -> dict[str, list[SearchFact]]:
    out: dict[str, list[SearchFact]] = defaultdict(list)
    for s in searches:
        out[s.user].append(s)
    return out


def _volume(rules: AlertRules, searches: Sequence[SearchFact], now: datetime) -> list[Finding]:
    found: list[Finding] = []
    days = rules.history_days
    by_user_day: dict[tuple[str, str], list[SearchFact]] = defaultdict(list)
    for s in searches:
        by_user_day[(s.user, s.at.date().isoformat())].append(s)
    for (user, day), todays in sorted(by_user_day.items()):
        if len(todays) < rules.volume_min:
            continue
        start = todays[0].at.replace(hour=0, minute=0, second=0, microsecond=0)
        window = [s for s in searches if start - timedelta(days=days) <= s.at < start]
        own = sum(1 for s in window if s.user == user) / days
        peers = {s.user for s in window if s.user != user}
        peer_mean = sum(1 for s in window if s.user != user) / days / len(peers) if peers else 0.0
        if len(todays) > rules.volume_factor * max(own, peer_mean, 1.0 / days):
            found.append(
                Finding(
                    "volume",
                    f"volume:{user}:{day}",
                    f"{user} made {len(todays)} searches on {day}: their own daily average "
                    f"over the {days} days before was {own:.2f}, their peers' {peer_mean:.2f}",
                    user,
                    tuple(s.search_id for s in todays),
                )
            )
    return found


def _hours(rules: AlertRules, searches: Sequence[SearchFact], now: datetime) -> list[Finding]:
    found: list[Finding] = []
    for user, theirs in sorted(_by_user(searches).items()):
        for i, s in enumerate(theirs):
            history = [h for h in theirs[:i] if h.at >= s.at - timedelta(days=rules.history_days)]
            if len(history) < rules.hours_min_history:
                continue
            near = sum(1 for h in history if _hour_distance(h.at.hour, s.at.hour) <= 1)
            if near / len(history) < rules.hours_share:
                found.append(
                    Finding(
                        "hours",
                        f"hours:{s.search_id}",
                        f"{user} searched at {s.at:%H:%M} UTC (search {s.search_id}, case "
                        f"{s.case}); {near} of their {len(history)} earlier searches were "
                        "within an hour of that time",
                        user,
                        (s.search_id,),
                    )
                )
    return found


def _hour_distance(a: int, b: int) -> int:
    d = abs(a - b) % 24
    return min(d, 24 - d)


def _case_volume(rules: AlertRules, searches: Sequence[SearchFact], now: datetime) -> list[Finding]:
    recent = [s for s in searches if s.at >= now - timedelta(days=rules.history_days)]
    per_case = Counter(s.case for s in recent)
    return [
        Finding(
            "case_volume",
            f"case_volume:{case}",
            f"{count} searches under case {case} in the last {rules.history_days} days "
            f"(by {', '.join(sorted({s.user for s in recent if s.case == case}))})",
            None,
            tuple(s.search_id for s in recent if s.case == case),
        )
        for case, count in sorted(per_case.items())
        if count >= rules.case_max
    ]


def _probe_cases(searches: Sequence[SearchFact]) -> list[Finding]:
    cases: dict[str, dict[str, list[SearchFact]]] = defaultdict(lambda: defaultdict(list))
    for s in searches:
        for probe in set(s.probes):
            cases[probe][s.case].append(s)
    found: list[Finding] = []
    for probe, by_case in sorted(cases.items()):
        if len(by_case) < 2:
            continue
        involved = [s for group in by_case.values() for s in group]
        what = (
            "the same face (in probes that may be different files)"
            if probe.startswith("face:")
            else f"one probe photo (sha256 {probe[:12]}...)"
        )
        found.append(
            Finding(
                "probe_cases",
                f"probe_cases:{probe}:{len(by_case)}",
                f"{what} was searched under "
                f"{len(by_case)} case numbers: {', '.join(sorted(by_case))} "
                f"(by {', '.join(sorted({s.user for s in involved}))})",
                None,
                tuple(sorted(s.search_id for s in involved)),
            )
        )
    return found


def _person_cases(rules: AlertRules, searches: Sequence[SearchFact]) -> list[Finding]:
    seen: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for s in searches:
        for person, score in s.top_people:
            if score >= rules.person_min_score:
                seen[(s.user, person)][s.case].append(s.search_id)
    found: list[Finding] = []
    for (user, person), by_case in sorted(seen.items()):
        if len(by_case) >= rules.person_cases:
            found.append(
                Finding(
                    "person_cases",
                    f"person_cases:{user}:{person}:{len(by_case)}",
                    f"the same gallery person ({person}) was the top candidate for {user} "
                    f"under {len(by_case)} different cases: {', '.join(sorted(by_case))}",
                    user,
                    tuple(sorted(i for ids in by_case.values() for i in ids)),
                )
            )
    return found


def _stale(rules: AlertRules, searches: Sequence[SearchFact], now: datetime) -> list[Finding]:
    cutoff = now - timedelta(days=rules.stale_days)
    return [
        Finding(
            "stale",
            f"stale:{s.search_id}",
            f"search {s.search_id} by {s.user} (case {s.case}) ran on {s.ran_at:%Y-%m-%d} "
            f"and has had no review and no outcome for {rules.stale_days}+ days",
            s.user,
            (s.search_id,),
        )
        for s in searches
        if s.ran_at is not None and s.ran_at <= cutoff and not s.reviewed and s.outcome is None
    ]


def _trial(
    rules: AlertRules, searches: Sequence[SearchFact], trials: Sequence[TrialFact], now: datetime
) -> list[Finding]:
    found: list[Finding] = []
    week = [s for s in searches if s.at >= now - timedelta(days=7)]
    for trial in trials:
        if not now <= trial.expires_at <= now + timedelta(days=rules.trial_days_left):
            continue
        theirs = [s for s in week if s.user == trial.user]
        if len(theirs) >= rules.trial_searches:
            found.append(
                Finding(
                    "trial",
                    f"trial:{trial.user}:{trial.expires_at:%Y-%m-%d}",
                    f"{trial.user}'s trial account ends on {trial.expires_at:%Y-%m-%d} and made "
                    f"{len(theirs)} searches in the last 7 days",
                    trial.user,
                    tuple(s.search_id for s in theirs),
                )
            )
    return found


def rule_in_words(rule: str, rules: AlertRules) -> str:
    """What a rule fires on, with the agency's settings, in words (as the module says)."""
    r = rules
    said = {
        "volume": f"someone searches at least {r.volume_min} times in a day, over "
        f"{r.volume_factor:g} times both their own daily average and their colleagues' "
        f"(over the {r.history_days} days before)",
        "hours": f"someone searches at an hour at which they made under {r.hours_share:.0%} of "
        f"their earlier searches (once they have made {r.hours_min_history})",
        "case_volume": f"{r.case_max} or more searches under one case number in "
        f"{r.history_days} days",
        "probe_cases": "the same probe face is searched under different case numbers",
        "person_cases": f"the same gallery person is one person's top candidate (scoring "
        f"{r.person_min_score:g} or more) under {r.person_cases} or more case numbers",
        "open_cases": "a search's case number is not on the agency's open-case list",
        "stale": f"a search is {r.stale_days} days old with no review and no outcome",
        "staff_match": "a probe matches a member of the agency's staff",
        "trial": f"a trial account ending within {r.trial_days_left} days made "
        f"{r.trial_searches} or more searches in the last 7 days",
        "pairs": f"two people approve and second-review each other's searches at least "
        f"{r.pairs_min} times, {r.pairs_factor:g} times as often as a usual pair, in "
        f"{r.history_days} days",
        "protected_activity": "a search may be aimed at a demonstration: a crowd probe, an "
        "offense marked close to protected activity, an offense or reason that names "
        f"{', '.join(r.protected_words) or 'no word'}, or one photo searched {r.photo_searches} "
        f"or more times for different faces or cases in {r.history_days} days",
    }
    return said.get(rule, rule.replace("_", " "))
