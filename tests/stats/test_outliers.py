"""Tukey fences against numpy/scipy quartiles; the range mask by its definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst

from otel_ml.processor import quality
from otel_ml.semconv import QualityCheck
from otel_ml.stats import EmptySampleError, iqr_bounds, outside_range
from otel_ml.stats import outliers


def test_iqr_bounds_match_scipy_iqr():
    rng = np.random.default_rng(4)
    ref = np.sort(rng.gamma(2.0, size=5001))
    lo, hi = iqr_bounds(ref, k=1.5)
    q1, q3 = np.percentile(ref, [25, 75])
    assert hi - lo == pytest.approx((q3 - q1) + 3 * sst.iqr(ref), rel=1e-12)
    assert lo == pytest.approx(q1 - 1.5 * sst.iqr(ref)) and hi == pytest.approx(q3 + 1.5 * sst.iqr(ref))


def test_iqr_bounds_errors():
    with pytest.raises(EmptySampleError):
        iqr_bounds([np.nan])
    with pytest.raises(ValueError, match="k"):
        iqr_bounds([1.0, 2.0], k=-1)


def test_outside_range_marks_finite_values_outside_the_closed_range():
    values = [0.0, 1.0, 5.0, 10.0, 11.0, -3.0, np.nan, np.inf, -np.inf]
    assert outside_range(values, 0.0, 10.0).tolist() == [False, False, False, False, True, True,
                                                         False, False, False]
    assert outside_range([2.0, 2.0, 3.0], 2.0, 2.0).tolist() == [False, False, True]
    assert outside_range([], 0.0, 1.0).shape == (0,)
    assert outside_range([-1.0, 5.0], np.nan, 1.0).tolist() == [False, True]  # no lower bound


def test_outside_range_by_definition_on_random_data():
    rng = np.random.default_rng(11)
    x = rng.standard_t(2, size=5000)
    x[rng.integers(0, x.size, 50)] = np.nan
    x[rng.integers(0, x.size, 20)] = np.inf
    lo, hi = iqr_bounds(x, k=3.0)
    expected = [bool(np.isfinite(v) and (v < lo or v > hi)) for v in x]
    assert outside_range(x, lo, hi).tolist() == expected


def test_quality_flags_use_the_one_range_check(monkeypatch):
    """The processor's out_of_range and outlier flags are ``outside_range``'s masks."""
    calls = []

    def spy(values, lo, hi):
        calls.append((lo, hi))
        return outliers.outside_range(values, lo, hi)

    monkeypatch.setattr(quality, "outside_range", spy)
    col = quality.numeric_column([1.0, -1.0, 11.0, 20.0, None, float("nan")])
    flags = quality.numeric_flags(col, 0.0, 10.0, -2.0, 12.0)
    assert calls == [(0.0, 10.0), (-2.0, 12.0)]
    counts = dict(zip(quality.CHECKS, quality.flag_counts(flags).tolist()))
    assert counts[QualityCheck.OUT_OF_RANGE] == 3 and counts[QualityCheck.OUTLIER] == 1
