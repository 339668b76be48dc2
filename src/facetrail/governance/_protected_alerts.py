"""The ``protected_activity`` misuse alert rule (issue 25): searches that may be aimed at people
for taking part in a demonstration, a vigil or an assembly rather than at a crime.

It finds two kinds of thing, each raised once (its key):

- A search that is a crowd probe (more faces fit to search in its photo than the policy's
  ``crowd_faces``), or is under an offense the policy marks as close to protected activity, or
  whose offense, justification or second reason uses one of ``protected_words``: one finding
  per search, giving every reason (key ``protected_activity:search:<id>``). A word is found in
  its own forms only: itself or with -s, -es, -er(s), -or(s) or -ing, alone or as a part of a
  hyphenated word ("protesters", "anti-protest"), never as the start of another word
  ("Protestant", "demonstrate", "vigilant"). The attestation every search records names
  protest too, and is never read.
- One photo searched for several of its faces, or under several case numbers: a probe file
  (by its SHA-256) in searches of the last ``history_days`` that make at least
  ``photo_searches`` different (face chosen, case number) pairs; or the same face, by its
  probe template while the probe is kept (``SearchFact.probes``' "face:" names: crops and
  re-saves of one photo), under at least ``photo_searches`` case numbers. A face's finding
  whose searches a photo's finding holds already is left out. Key
  ``protected_activity:photo:<sha256[:16]>:<n>`` or ``protected_activity:face:<search>:<n>``,
  ``n`` the count over ``photo_searches``: raised again as the count grows by as much again.

A crowd probe the policy refuses never becomes a search (its ``search.refused`` entry is the
record): nothing ran, so the rule does not weigh it. A search held for approval, denied or
pending, is weighed: asking is what the rule watches.

A finding is about the search's requester; a photo's about whoever made most of its searches
(the earliest's searcher on a tie). ``services.oversight.alerts`` lets none of the requesters
of a finding's searches handle it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from facetrail.governance._alert_findings import Finding, SearchFact
from facetrail.governance._alert_settings import AlertRules

__all__ = ["protected_activity", "words_found"]

RULE = "protected_activity"

#: The endings a word of ``protected_words`` may take in a text.
_ENDINGS = ("", "s", "es", "er", "ers", "or", "ors", "ing")
#: A word of a text: letters, hyphenated parts kept together ("sit-in").
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*")


def protected_activity(
    rules: AlertRules, searches: Sequence[SearchFact], now: datetime
) -> list[Finding]:
    """What the rule finds in ``searches`` (the agency's, oldest first) as of ``now``."""
    return _searches(rules, searches) + _photos(rules, searches, now)


def words_found(text: str, words: Iterable[str]) -> list[str]:
    """The words of ``words`` that ``text`` uses in one of their forms, in order."""
    parts: set[str] = set()
    for token in _TOKEN.findall(text.casefold()):
        parts |= {token, *token.split("-")}
    return [
        w
        for w in dict.fromkeys(words)
        if any(p.startswith(w) and p[len(w) :] in _ENDINGS for p in parts)
    ]


def _searches(rules: AlertRules, searches: Sequence[SearchFact]) -> list[Finding]:
    found: list[Finding] = []
    for s in searches:
        why: list[str] = []
        if s.crowd:
            chosen = "the largest" if s.face is None else f"number {s.face + 1}"
            why.append(
                f"a crowd probe ({max(s.faces, default=0)} faces fit to search in one photo; "
                f"face {chosen} chosen)"
            )
        if s.protected:
            why.append(f"its offense, {s.offense}, is marked close to protected activity")
        words = words_found(f"{s.offense}\n{s.grounds}", rules.protected_words)
        if words:
            why.append(f"its offense or reasons name {', '.join(repr(w) for w in words)}")
        if why:
            found.append(
                Finding(
                    RULE,
                    f"{RULE}:search:{s.search_id}",
                    f"search {s.search_id} by {s.user} (case {s.case}) may be aimed at a "
                    f"demonstration: {'; '.join(why)}",
                    s.user,
                    (s.search_id,),
                )
            )
    return found


def _photos(rules: AlertRules, searches: Sequence[SearchFact], now: datetime) -> list[Finding]:
    recent = [s for s in searches if s.at >= now - timedelta(days=rules.history_days)]
    groups: dict[str, list[SearchFact]] = defaultdict(list)
    for s in recent:
        faces = [p for p in s.probes if p.startswith("face:")]
        for name in dict.fromkeys([*s.files, *faces]):
            groups[name].append(s)
    found: list[Finding] = []
    told: list[frozenset[int]] = []
    # Files first: a face's finding over searches a photo's finding holds says nothing new.
    for name, group in sorted(groups.items(), key=lambda g: (g[0].startswith("face:"), g[0])):
        is_face = name.startswith("face:")
        apart = {s.case for s in group} if is_face else {(s.face, s.case) for s in group}
        ids = frozenset(s.search_id for s in group)
        if len(apart) < rules.photo_searches or any(ids <= t for t in told):
            continue
        told.append(ids)
        found.append(_photo_finding(rules, name, group, len(apart) // rules.photo_searches))
    return found


def _photo_finding(rules: AlertRules, name: str, group: list[SearchFact], times: int) -> Finding:
    cases = sorted({s.case for s in group})
    users = Counter(s.user for s in group)  # counted in order: the earliest first on a tie
    if name.startswith("face:"):
        what, key = "the same face (in probes that may be different files)", f"face:{name[5:]}"
        faces = ""
    else:
        what, key = f"one probe photo (sha256 {name[:12]}...)", f"photo:{name[:16]}"
        chosen = {s.face for s in group}
        faces = f" for {len(chosen)} of its faces" if len(chosen) > 1 else ""
    return Finding(
        RULE,
        f"{RULE}:{key}:{times}",
        f"{what} was searched {len(group)} times{faces} under {len(cases)} case numbers in "
        f"the last {rules.history_days} days: {', '.join(cases)} (searches "
        f"{', '.join(str(s.search_id) for s in group)}; by {', '.join(sorted(users))})",
        users.most_common(1)[0][0],
        tuple(sorted(s.search_id for s in group)),
    )
