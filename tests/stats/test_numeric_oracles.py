"""Numeric drift statistics against SciPy on the same data (oracle equality)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sst
from scipy.spatial.distance import jensenshannon

from otel_ml.stats import (
    EmptySampleError, NumericReference, bin_fractions, ks_2samp_sorted, ks_p_value, numeric_drift,
    numeric_drift_many, psi, wasserstein_sorted,
)
from tests.stats.samples import PAIR_IDS, PAIRS


@pytest.mark.parametrize(("name", "ref", "cur"), PAIRS, ids=PAIR_IDS)
def test_ks_matches_scipy_asymp(name, ref, cur):
    d, p = ks_2samp_sorted(np.sort(ref), cur)
    expected = sst.ks_2samp(ref, cur, method="asymp")
    assert d == expected.statistic  # same integer ECDF steps, same float ops
    if min(ref.size, cur.size) > 1:  # scipy's asymp p is NaN for 1 x 1 (effective n 0); ours floors it at 1
        assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("name", "ref", "cur"), PAIRS, ids=PAIR_IDS)
def test_wasserstein_matches_scipy(name, ref, cur):
    assert wasserstein_sorted(np.sort(ref), cur) == pytest.approx(
        sst.wasserstein_distance(ref, cur), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("name", "ref", "cur"), PAIRS, ids=PAIR_IDS)
def test_numeric_drift_agrees_with_scipy_and_definitions(name, ref, cur):
    profile = NumericReference.from_values(ref, bins=10)
    result = numeric_drift(profile, cur)
    ks = sst.ks_2samp(ref, cur, method="asymp")
    assert result.ks_statistic == ks.statistic
    assert result.n == cur.size
    assert result.wasserstein == pytest.approx(sst.wasserstein_distance(ref, cur), rel=1e-12, abs=1e-15)
    std = np.std(ref)
    expected_norm = result.wasserstein / std if std > 0 else result.wasserstein
    assert result.wasserstein_normalized == pytest.approx(expected_norm)
    # PSI and JS on the reference-quantile bins, recomputed here with np.histogram-free counting.
    edges = profile.bin_edges
    cur_share = np.array([np.mean(cur <= edges[0]) if edges.size else 1.0]
                         + [np.mean((cur > lo) & (cur <= hi)) for lo, hi in zip(edges[:-1], edges[1:])]
                         + ([np.mean(cur > edges[-1])] if edges.size else []))
    np.testing.assert_allclose(bin_fractions(edges, cur), cur_share, rtol=0, atol=1e-15)
    assert result.jensen_shannon == pytest.approx(
        jensenshannon(profile.bin_fractions, cur_share, base=2), rel=1e-9, abs=1e-12)
    r = np.maximum(profile.bin_fractions, 1e-4)
    c = np.maximum(cur_share, 1e-4)
    assert result.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12, abs=1e-15)


# Largest |asymptotic - exact| two-sided p-value gap over every attainable D, measured for
# these sizes (the asymptotic p uses the one-sample Kolmogorov law at n1*n2/(n1+n2); the
# lattice of D values makes equal sizes the worst case). Documented in ks_2samp_sorted.
EXACT_GAP = {(10, 10): 0.13, (20, 15): 0.05, (30, 30): 0.08, (50, 40): 0.01, (100, 80): 0.01, (200, 200): 0.03}


@pytest.mark.parametrize(("n1", "n2"), list(EXACT_GAP))
def test_ks_p_value_within_stated_tolerance_of_exact(n1, n2):
    rng = np.random.default_rng(n1 * 1000 + n2)
    gaps = []
    for shift in np.linspace(0.0, 1.2, 13):
        ref = rng.normal(size=n1)
        cur = rng.normal(shift, 1.0, n2)
        _, p = ks_2samp_sorted(np.sort(ref), cur)
        gaps.append(abs(p - sst.ks_2samp(ref, cur, method="exact").pvalue))
    assert max(gaps) <= EXACT_GAP[(n1, n2)]


def test_ks_p_value_is_vectorised_and_monotone():
    d = np.array([0.0, 0.05, 0.1, 0.2, 0.5, 1.0])
    p = ks_p_value(d, 1000, 400)
    assert p[0] == 1.0 and p[-1] < 1e-100
    assert np.all(np.diff(p) < 0)
    for di, pi in zip(d[1:], p[1:]):
        assert pi == pytest.approx(float(ks_p_value(di, 400, 1000)))  # symmetric in the sizes


def test_numeric_drift_many_equals_one_by_one_and_skips_unusable_features():
    rng = np.random.default_rng(7)
    refs = {f"f{i}": NumericReference.from_values(rng.normal(size=3000)) for i in range(6)}
    current = {f"f{i}": rng.normal(0.1 * i, 1.0, 500) for i in range(6)}
    current["all_nan"] = np.full(10, np.nan)
    refs["all_nan"] = NumericReference.from_values(rng.normal(size=100))
    current["no_reference"] = rng.normal(size=10)
    current["strings"] = ["a", "b"]
    refs["strings"] = NumericReference.from_values(rng.normal(size=100))
    many = numeric_drift_many(refs, current)
    assert set(many) == {f"f{i}" for i in range(6)}
    for name, result in many.items():
        assert result == numeric_drift(refs[name], current[name])


def test_nan_and_inf_in_current_are_ignored():
    rng = np.random.default_rng(3)
    ref = NumericReference.from_values(rng.normal(size=1000))
    clean = rng.normal(size=200)
    dirty = np.concatenate([clean[:100], [np.nan, np.inf, -np.inf], clean[100:]])
    assert numeric_drift(ref, dirty) == numeric_drift(ref, clean)
    assert ks_2samp_sorted(ref.sorted_values, dirty) == ks_2samp_sorted(ref.sorted_values, clean)


@pytest.mark.parametrize("bad", [[], [np.nan, np.nan], [np.inf]])
def test_empty_or_all_nan_current_raises_empty_sample_error(bad):
    ref = NumericReference.from_values([1.0, 2.0, 3.0])
    with pytest.raises(EmptySampleError, match="current"):
        numeric_drift(ref, bad)
    with pytest.raises(EmptySampleError):
        ks_2samp_sorted(ref.sorted_values, bad)


def test_bad_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="ascending"):
        ks_2samp_sorted([3.0, 1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        wasserstein_sorted([1.0, np.nan], [1.0])
    with pytest.raises(ValueError, match="current: expected numbers"):
        numeric_drift(NumericReference.from_values([1.0, 2.0]), ["a", "b"])


def test_constant_reference_and_constant_window():
    ref = NumericReference.from_values(np.full(500, 4.0))
    same = numeric_drift(ref, np.full(50, 4.0))
    assert (same.ks_statistic, same.ks_p_value, same.psi, same.wasserstein, same.jensen_shannon) == (
        0.0, 1.0, 0.0, 0.0, 0.0)
    moved = numeric_drift(ref, np.full(50, 5.0))
    assert moved.ks_statistic == 1.0 and moved.ks_p_value < 1e-10
    assert moved.wasserstein == pytest.approx(1.0)
    assert moved.wasserstein_normalized == pytest.approx(1.0)  # std 0: raw units
    assert moved.jensen_shannon == pytest.approx(1.0)
    assert moved.psi > 1.0 and math.isfinite(moved.psi)


def test_identical_data_gives_near_zero_drift_and_a_shift_gives_large_drift():
    rng = np.random.default_rng(11)
    data = rng.normal(size=20000)
    ref = NumericReference.from_values(data)
    same = numeric_drift(ref, data)
    assert same.ks_statistic == 0.0 and same.ks_p_value == 1.0
    assert same.psi == pytest.approx(0.0, abs=1e-12) and same.jensen_shannon == pytest.approx(0.0, abs=1e-7)
    assert same.wasserstein == pytest.approx(0.0, abs=1e-12)
    resample = numeric_drift(ref, rng.normal(size=2000))
    shifted = numeric_drift(ref, rng.normal(1.0, 1.0, 2000))
    assert resample.ks_p_value > 1e-3 and resample.psi < 0.05 and resample.wasserstein_normalized < 0.1
    assert shifted.ks_statistic > 0.3 and shifted.ks_p_value < 1e-50
    assert shifted.psi > 0.5 and shifted.jensen_shannon > 0.3
    assert shifted.wasserstein_normalized == pytest.approx(1.0, abs=0.1)
    for field in ("ks_statistic", "psi", "wasserstein", "jensen_shannon"):
        assert getattr(shifted, field) > 5 * getattr(resample, field)


def test_psi_of_numeric_drift_uses_the_documented_floor():
    ref = NumericReference.from_values(np.arange(1000.0), bins=4)
    result = numeric_drift(ref, np.full(10, 10.0))  # everything in the first quartile bin
    expected = (1 - 0.25) * math.log(1 / 0.25) + 3 * (1e-4 - 0.25) * math.log(1e-4 / 0.25)
    assert result.psi == pytest.approx(expected, rel=1e-12)
    assert psi(ref.bin_fractions, [1, 0, 0, 0]) == pytest.approx(expected, rel=1e-12)
