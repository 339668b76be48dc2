"""1:N metrics against a brute-force oracle and the worked examples of the lfw-dev README."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facetrail.errors import InvalidRequestError
from facetrail.eval.metrics import (
    ProbeOutcome,
    det_curve,
    fnir,
    fnir_at_fpir,
    fpir,
    genuine_and_impostor_scores,
    group_breakdown,
    rank1_rate,
    threshold_at_fpir,
)

# Scores from a small grid produce ties, which is where threshold rules go wrong.
_scores = st.one_of(
    st.integers(-4, 8).map(lambda i: i / 8),
    st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def _outcome(draw: st.DrawFn) -> ProbeOutcome:
    mated = draw(st.booleans())
    top = draw(st.one_of(st.none(), _scores))
    is_mate = mated and top is not None and draw(st.booleans())
    mate = draw(st.one_of(st.none(), _scores)) if mated else None
    return ProbeOutcome(mated=mated, top_score=top, top_is_mate=is_mate, mate_score=mate)


_outcomes = st.lists(_outcome(), max_size=60)


# --- naive oracle: one probe at a time, straight from the README's sentences -------------


def _oracle_fpir(outcomes: list[ProbeOutcome], t: float) -> float:
    nonmated = [o for o in outcomes if not o.mated]
    alarms = [o for o in nonmated if o.top_score is not None and o.top_score >= t]
    return len(alarms) / len(nonmated) if nonmated else math.nan


def _oracle_fnir(outcomes: list[ProbeOutcome], t: float) -> float:
    mated = [o for o in outcomes if o.mated]
    misses = [
        o for o in mated if not (o.top_is_mate and o.top_score is not None and o.top_score >= t)
    ]
    return len(misses) / len(mated) if mated else math.nan


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _nonmated(scores: list[float], ftt: int = 0) -> list[ProbeOutcome]:
    probes = [ProbeOutcome(mated=False, top_score=s, top_is_mate=False) for s in scores]
    return probes + [ProbeOutcome(mated=False, top_score=None, top_is_mate=False)] * ftt


@given(_outcomes, _scores)
def test_fpir_and_fnir_match_brute_force(outcomes: list[ProbeOutcome], t: float) -> None:
    assert _same(fpir(outcomes, t), _oracle_fpir(outcomes, t))
    assert _same(fnir(outcomes, t), _oracle_fnir(outcomes, t))


@given(_outcomes, st.floats(0.0, 1.0))
def test_threshold_is_the_smallest_meeting_the_fpir_target(
    outcomes: list[ProbeOutcome], p: float
) -> None:
    t = threshold_at_fpir(outcomes, p)
    n_nonmated = sum(not o.mated for o in outcomes)
    if n_nonmated:
        assert _oracle_fpir(outcomes, t) <= p
    lower = [o.top_score for o in outcomes if not o.mated and o.top_score is not None]
    lower = [s for s in lower if s < t]
    if lower:
        # The next lower distinct score is the largest t' < t that changes anything.
        assert _oracle_fpir(outcomes, max(lower)) > p
    else:
        # A finite t sits just above a non-mated score, so only -inf has none below it.
        assert t == -math.inf


@given(_outcomes)
def test_det_curve_equals_pointwise_metrics(outcomes: list[ProbeOutcome]) -> None:
    thresholds, fpir_values, fnir_values = det_curve(outcomes)
    scored = {o.top_score for o in outcomes if o.top_score is not None}
    assert thresholds.tolist() == sorted(scored)
    for t, fp, fn in zip(thresholds, fpir_values, fnir_values, strict=True):
        assert _same(float(fp), _oracle_fpir(outcomes, float(t)))
        assert _same(float(fn), _oracle_fnir(outcomes, float(t)))


@given(_outcomes)
def test_rank1_counts_mates_at_rank_one_without_threshold(outcomes: list[ProbeOutcome]) -> None:
    mated = [o for o in outcomes if o.mated]
    expected = sum(o.top_is_mate for o in mated) / len(mated) if mated else math.nan
    assert _same(rank1_rate(outcomes), expected)


@given(_outcomes, st.floats(0.0, 1.0))
def test_fnir_at_fpir_reports_figures_at_its_threshold(
    outcomes: list[ProbeOutcome], p: float
) -> None:
    r = fnir_at_fpir(outcomes, p)
    assert r.fpir_target == p
    assert r.threshold == threshold_at_fpir(outcomes, p)
    assert _same(r.fnir, _oracle_fnir(outcomes, r.threshold))
    assert _same(r.fpir_actual, _oracle_fpir(outcomes, r.threshold))


# --- worked examples from the README --------------------------------------------------------


@pytest.mark.parametrize(("p", "alarms"), [(0.01, 7), (0.003, 2)])
def test_764_nonmated_probes_allow_readme_alarm_counts(p: float, alarms: int) -> None:
    scores = [i / 1000 for i in range(764)]  # distinct: 0.000 ... 0.763
    outcomes = _nonmated(scores)
    t = threshold_at_fpir(outcomes, p)
    # Just above the (alarms + 1)-th highest score, so exactly `alarms` scores pass.
    assert t == math.nextafter(sorted(scores)[-(alarms + 1)], math.inf)
    assert fpir(outcomes, t) == alarms / 764
    assert fpir(outcomes, sorted(scores)[-(alarms + 1)]) > p


def test_readme_actual_fpir_figures() -> None:
    outcomes = _nonmated([i / 1000 for i in range(764)])
    assert round(fnir_at_fpir(outcomes, 0.01).fpir_actual, 4) == 0.0092
    assert round(fnir_at_fpir(outcomes, 0.003).fpir_actual, 4) == 0.0026


def test_ties_at_the_boundary_are_all_excluded() -> None:
    outcomes = _nonmated([0.9, 0.5, 0.5, 0.5, 0.1] + [0.0] * 95)  # N = 100, p = 0.02
    t = threshold_at_fpir(outcomes, 0.02)
    assert t == math.nextafter(0.5, math.inf)
    assert fpir(outcomes, t) == 0.01  # only 0.9; admitting one 0.5 admits all three


def test_rounding_of_p_times_n_does_not_tighten_the_threshold() -> None:
    # 0.29 * 100 == 28.999999999999996 in floating point; 29 alarms are still allowed.
    outcomes = _nonmated([i / 100 for i in range(100)])
    t = threshold_at_fpir(outcomes, 0.29)
    assert fpir(outcomes, t) == 0.29


def test_ftt_nonmated_never_alarms_but_stays_in_denominator() -> None:
    outcomes = _nonmated([0.8, 0.2], ftt=2)
    assert fpir(outcomes, -math.inf) == 0.5
    # With 2 of 4 allowed to alarm and only 2 scores, every threshold passes.
    assert threshold_at_fpir(outcomes, 0.5) == -math.inf


def test_ftt_mated_is_a_miss_at_every_threshold() -> None:
    outcomes = [
        ProbeOutcome(mated=True, top_score=0.9, top_is_mate=True),
        ProbeOutcome(mated=True, top_score=None, top_is_mate=False),
    ]
    assert fnir(outcomes, -math.inf) == 0.5
    assert rank1_rate(outcomes) == 0.5


def test_wrong_candidate_at_rank_one_is_a_miss_even_above_threshold() -> None:
    outcomes = [ProbeOutcome(mated=True, top_score=0.99, top_is_mate=False, mate_score=0.4)]
    assert fnir(outcomes, 0.1) == 1.0
    assert rank1_rate(outcomes) == 0.0


def test_empty_denominators_are_nan() -> None:
    assert math.isnan(rank1_rate([]))
    assert math.isnan(fpir([], 0.5))
    assert math.isnan(fnir(_nonmated([0.3]), 0.5))
    assert threshold_at_fpir([], 0.01) == -math.inf


@pytest.mark.parametrize("p", [-0.1, 1.5, math.nan])
def test_fpir_target_outside_unit_interval_is_refused(p: float) -> None:
    with pytest.raises(InvalidRequestError):
        threshold_at_fpir(_nonmated([0.1]), p)


def test_inconsistent_outcomes_are_refused() -> None:
    with pytest.raises(InvalidRequestError):
        ProbeOutcome(mated=False, top_score=0.5, top_is_mate=True)
    with pytest.raises(InvalidRequestError):
        ProbeOutcome(mated=True, top_score=None, top_is_mate=True)
    with pytest.raises(InvalidRequestError):
        ProbeOutcome(mated=True, top_score=math.nan, top_is_mate=False)


def test_genuine_and_impostor_scores() -> None:
    outcomes = [
        ProbeOutcome(mated=True, top_score=0.9, top_is_mate=True, mate_score=0.9),
        ProbeOutcome(mated=True, top_score=0.7, top_is_mate=False, mate_score=0.3),
        ProbeOutcome(mated=True, top_score=None, top_is_mate=False),
        *_nonmated([0.2, 0.4], ftt=1),
    ]
    genuine, impostor = genuine_and_impostor_scores(iter(outcomes))
    assert genuine.tolist() == [0.9, 0.3]
    assert impostor.tolist() == [0.2, 0.4]


def test_group_breakdown_per_label_at_a_global_threshold() -> None:
    def probe(mated: bool, score: float, hit: bool, **group: str) -> ProbeOutcome:
        return ProbeOutcome(mated=mated, top_score=score, top_is_mate=hit, group=group)

    outcomes = [
        probe(True, 0.8, True, gender="male", race="african"),
        probe(True, 0.4, True, gender="male"),
        probe(True, 0.9, False, gender="female", race=""),
        probe(False, 0.7, False, gender="female", race="african"),
        probe(False, 0.2, False, gender="male"),
        probe(False, 0.6, False),
    ]
    out = group_breakdown(outcomes, 0.5)
    assert list(out) == ["gender", "race"]
    male, female = out["gender"]["male"], out["gender"]["female"]
    assert (male.mated, male.nonmated, male.fnir, male.fpir, male.rank1) == (2, 1, 0.5, 0.0, 1.0)
    assert (female.mated, female.nonmated, female.fnir, female.fpir) == (1, 1, 1.0, 1.0)
    assert female.rank1 == 0.0
    assert list(out["race"]) == ["african"]  # empty label skipped
    african = out["race"]["african"]
    assert (african.mated, african.nonmated, african.fnir, african.fpir) == (1, 1, 0.0, 1.0)
    assert list(group_breakdown(outcomes, 0.5, keys=("race",))) == ["race"]


def test_det_curve_handles_1e5_probes() -> None:
    # No timing assertion (benchmarks live in bench/); a quadratic implementation would
    # instead stall the suite for minutes.
    rng = np.random.default_rng(0)
    scores = rng.random(100_000)
    outcomes = [
        ProbeOutcome(mated=bool(i % 4), top_score=float(s), top_is_mate=bool(i % 4) and s > 0.3)
        for i, s in enumerate(scores)
    ]
    thresholds, fpir_values, fnir_values = det_curve(outcomes)
    assert len(thresholds) == len(scores)
    assert np.all(np.diff(fpir_values) <= 0)
    assert np.all(np.diff(fnir_values) >= 0)
    for i in (0, 12_345, 99_999):
        assert fpir_values[i] == fpir(outcomes, float(thresholds[i]))
        assert fnir_values[i] == fnir(outcomes, float(thresholds[i]))
