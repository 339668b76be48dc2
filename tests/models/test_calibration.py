from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from facetrail.models.calibration import build_calibration, false_match_rate
from facetrail.models.registry import get_pack


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=20, max_size=3000), st.floats(-1, 1))
def test_fmr_tracks_the_measured_share_of_impostors(scores: list[float], probe: float) -> None:
    impostor = np.asarray(scores, dtype=np.float32)
    cal = build_calibration(impostor, 10, "t", "test")
    assert list(cal.scores) == sorted(cal.scores)
    assert all(a >= b for a, b in zip(cal.fmr, cal.fmr[1:], strict=False))
    est = false_match_rate(cal, probe)
    assert est is not None
    # Beyond the highest table score (impostor scores kept to 6 decimals) is an upper bound;
    # comparing with the float32 maximum itself failed for a probe within 5e-7 below it.
    if probe > cal.scores[-1]:
        assert est.upper_bound and est.fmr == 1 / len(impostor)
    else:
        assert not est.upper_bound
        # Log-interpolated between table points that are exact empirical shares.
        below = [f for s, f in zip(cal.scores, cal.fmr, strict=True) if s <= probe]
        above = [f for s, f in zip(cal.scores, cal.fmr, strict=True) if s >= probe]
        if below and above:
            assert min(above) - 1e-9 <= est.fmr <= max(below) + 1e-9


def test_shipped_packs_are_calibrated_and_monotone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("arcface-mbf", "sface"):
        cal = get_pack(name, tmp_path).manifest.calibration
        assert cal is not None and cal.impostor_pairs > 1_000_000
        lo = false_match_rate(cal, 0.0)
        hi = false_match_rate(cal, 0.6)
        assert lo is not None and hi is not None and hi.fmr < 1e-4 < lo.fmr
