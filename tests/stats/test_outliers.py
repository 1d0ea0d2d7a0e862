"""Outlier ratios against numpy/scipy quartiles and the z-score definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst

from otel_ml.stats import EmptySampleError, iqr_bounds, out_of_range_count, outlier_ratio, zscore_outlier_ratio


def test_iqr_bounds_match_scipy_iqr():
    rng = np.random.default_rng(4)
    ref = np.sort(rng.gamma(2.0, size=5001))
    lo, hi = iqr_bounds(ref, k=1.5)
    q1, q3 = np.percentile(ref, [25, 75])
    assert hi - lo == pytest.approx((q3 - q1) + 3 * sst.iqr(ref), rel=1e-12)
    assert lo == pytest.approx(q1 - 1.5 * sst.iqr(ref)) and hi == pytest.approx(q3 + 1.5 * sst.iqr(ref))


def test_outlier_ratio_counts_finite_values_outside_the_closed_range():
    values = [0.0, 1.0, 5.0, 10.0, 11.0, -3.0, np.nan, np.inf]
    assert outlier_ratio(values, 0.0, 10.0) == pytest.approx(2 / 6)
    assert out_of_range_count(values, 0.0, 10.0) == (2, 6)
    assert outlier_ratio([np.nan], 0.0, 1.0) == 0.0
    with pytest.raises(ValueError, match="lo <= hi"):
        outlier_ratio([1.0], 2.0, 1.0)


def test_zscore_ratio_by_definition():
    rng = np.random.default_rng(8)
    values = rng.standard_t(3, size=4000)
    mean, std = 0.1, 1.3
    expected = np.mean(np.abs((values - mean) / std) > 2.5)
    assert zscore_outlier_ratio(values, mean, std, z=2.5) == pytest.approx(expected)
    assert zscore_outlier_ratio([1.0, 1.0, 2.0], 1.0, 0.0) == pytest.approx(1 / 3)  # std 0: any other value
    assert zscore_outlier_ratio([], 0.0, 1.0) == 0.0
    with pytest.raises(ValueError, match="std"):
        zscore_outlier_ratio([1.0], 0.0, -1.0)
    with pytest.raises(ValueError, match="z"):
        zscore_outlier_ratio([1.0], 0.0, 1.0, z=0)


def test_iqr_bounds_errors():
    with pytest.raises(EmptySampleError):
        iqr_bounds([np.nan])
    with pytest.raises(ValueError, match="k"):
        iqr_bounds([1.0, 2.0], k=-1)
