"""Categorical drift against scipy.stats.chi2_contingency, chisquare and contingency.association on the
same counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sst
from scipy.spatial.distance import jensenshannon

from otel_ml.stats import (
    UNSEEN_EXPECTED_SHARE, CategoricalReference, EmptySampleError, categorical_drift, categorical_drift_counts,
    contingency_chi2, cramers_v,
)


def _reference_and_window(seed, k, n_ref, n_cur, tilt):
    rng = np.random.default_rng(seed)
    cats = [f"c{i}" for i in range(k)]
    p = rng.dirichlet(np.full(k, 2.0))
    q = (1 - tilt) * p + tilt * rng.dirichlet(np.full(k, 2.0))
    ref_values = rng.choice(cats, size=n_ref, p=p)
    cur_values = rng.choice(cats, size=n_cur, p=q)
    return ref_values, cur_values


@pytest.mark.parametrize(("seed", "k", "n_ref", "n_cur", "tilt"), [
    (1, 2, 500, 200, 0.0), (2, 5, 5000, 1000, 0.3), (3, 12, 20000, 3000, 0.1), (4, 3, 50, 40, 0.8),
])
def test_chi2_of_a_counted_reference_is_scipy_chi2_contingency(seed, k, n_ref, n_cur, tilt):
    ref_values, cur_values = _reference_and_window(seed, k, n_ref, n_cur, tilt)
    ref = CategoricalReference.from_values(ref_values)
    assert ref.two_sample and ref.count == n_ref
    result = categorical_drift(ref, list(cur_values))
    observed = np.array([np.sum(cur_values == c) for c in ref.categories])
    table = np.vstack([[np.sum(ref_values == c) for c in ref.categories], observed])
    oracle = sst.chi2_contingency(table)  # SciPy's defaults: Yates' correction at dof 1
    assert result.chi2_statistic == pytest.approx(oracle.statistic, rel=1e-10)
    assert result.chi2_p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert result.unseen_ratio == 0.0 and result.n == n_cur
    cur_share = observed / n_cur
    assert result.jensen_shannon == pytest.approx(jensenshannon(ref.fractions, cur_share, base=2), abs=1e-12)
    r, c = np.maximum(ref.fractions, 1e-4), np.maximum(cur_share, 1e-4)
    assert result.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("seed", "k", "n_ref", "n_cur", "tilt"), [
    (1, 2, 500, 200, 0.0), (2, 5, 5000, 1000, 0.3), (4, 3, 50, 40, 0.8),
])
def test_chi2_of_exact_shares_is_scipy_chisquare_goodness_of_fit(seed, k, n_ref, n_cur, tilt):
    ref_values, cur_values = _reference_and_window(seed, k, n_ref, n_cur, tilt)
    counted = CategoricalReference.from_values(ref_values)
    exact = CategoricalReference(counted.categories, counted.fractions, count=counted.count, exact=True)
    assert not exact.two_sample
    assert CategoricalReference.from_dict(exact.to_dict()).exact  # the declaration round-trips
    result = categorical_drift(exact, list(cur_values))
    observed = np.array([np.sum(cur_values == c) for c in exact.categories])
    oracle = sst.chisquare(observed, f_exp=n_cur * exact.fractions)
    assert result.chi2_statistic == pytest.approx(oracle.statistic, rel=1e-10)
    assert result.chi2_p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)


def test_two_sample_test_holds_its_level_on_a_small_reference_where_goodness_of_fit_does_not():
    # 300 null windows against references of 60 values: the goodness-of-fit test treats the
    # reference's noisy shares as truth and rejects far more often than alpha.
    rng = np.random.default_rng(7)
    cats = np.array(["a", "b", "c", "d"])
    p = np.array([0.4, 0.3, 0.2, 0.1])
    two_sample = fit = 0
    for _ in range(300):
        ref = CategoricalReference.from_values(rng.choice(cats, 60, p=p))
        window = rng.choice(cats, 60, p=p)
        exact = CategoricalReference(ref.categories, ref.fractions, count=ref.count, exact=True)
        two_sample += categorical_drift(ref, window).chi2_p_value < 0.05
        fit += categorical_drift(exact, window).chi2_p_value < 0.05
    assert two_sample / 300 < 0.09
    assert fit / 300 > 0.15


def test_contingency_chi2_with_cells_empty_in_the_reference():
    ref, cur = np.array([30, 20, 0, 0]), np.array([10, 25, 5, 0])
    oracle = sst.chi2_contingency(np.vstack([ref, cur])[:, :3])
    assert contingency_chi2(ref, cur) == pytest.approx((oracle.statistic, oracle.pvalue), rel=1e-12)
    assert contingency_chi2(np.array([5, 0]), np.array([3, 0])) == (0.0, 1.0)


def test_time_window_subsample_tests_at_most_max_test_n_values():
    ref = CategoricalReference.from_values(["a"] * 500 + ["b"] * 500)
    counts = {"a": 60_000, "b": 40_000}
    full = categorical_drift_counts(ref, counts)
    sub = categorical_drift_counts(ref, counts, max_test_n=1000, rng=np.random.default_rng(3))
    assert (sub.psi, sub.jensen_shannon, sub.cramers_v, sub.n) == (full.psi, full.jensen_shannon,
                                                                    full.cramers_v, full.n)
    drawn = np.random.default_rng(3).multivariate_hypergeometric(np.array([60_000, 40_000, 0]), 1000)
    oracle = sst.chi2_contingency(np.vstack([[500, 500], drawn[:2]]))
    assert sub.chi2_statistic == pytest.approx(oracle.statistic, rel=1e-10)
    assert full.chi2_p_value < sub.chi2_p_value


def test_unseen_categories_pool_into_one_cell_with_the_documented_floor():
    ref = CategoricalReference(("a", "b", "c"), np.array([0.5, 0.3, 0.2]))
    window = ["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["x"] * 6 + ["y"] * 4
    result = categorical_drift(ref, window)
    observed = [40, 30, 20, 10]
    f = UNSEEN_EXPECTED_SHARE
    expected = 100 * np.array([0.5 * (1 - f), 0.3 * (1 - f), 0.2 * (1 - f), f])
    oracle = sst.chisquare(observed, f_exp=expected)
    assert result.chi2_statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert result.chi2_p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert result.unseen_ratio == pytest.approx(0.1)
    # PSI, JS and V over categories + the unseen cell (reference share 0, floored in PSI)
    ref_cells = np.array([0.5, 0.3, 0.2, 0.0])
    cur_cells = np.array([0.4, 0.3, 0.2, 0.1])
    r, c = np.maximum(ref_cells, 1e-4), np.maximum(cur_cells, 1e-4)
    assert result.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)
    assert result.jensen_shannon == pytest.approx(jensenshannon(ref_cells, cur_cells, base=2), rel=1e-12)
    table = np.array([[50, 30, 20, 0], [40, 30, 20, 10]])
    assert result.cramers_v == pytest.approx(sst.contingency.association(table, method="cramer"), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_cramers_v_matches_scipy_association_on_equal_size_rows(seed):
    ref_values, cur_values = _reference_and_window(seed, 6, 800, 800, 0.5)
    cats = sorted(set(ref_values) | set(cur_values))
    table = np.array([[np.sum(ref_values == c) for c in cats], [np.sum(cur_values == c) for c in cats]])
    table = table[:, table.sum(axis=0) > 0]
    expected = sst.contingency.association(table, method="cramer")
    assert cramers_v(table[0] / 800, table[1] / 800) == pytest.approx(expected, rel=1e-12)
    ref = CategoricalReference.from_values(ref_values)
    assert categorical_drift(ref, cur_values).cramers_v == pytest.approx(expected, rel=1e-12)


def test_cramers_v_range():
    assert cramers_v(np.array([0.2, 0.8]), np.array([0.2, 0.8])) == 0.0
    assert cramers_v(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_missing_values_are_dropped_and_categories_compare_by_str():
    ref = CategoricalReference.from_values([1, 2, 2, "3", None])
    assert ref.categories == ("1", "2", "3") and ref.count == 4
    result = categorical_drift(ref, ["1", 2, None, float("nan"), 3])
    assert result.n == 3 and result.unseen_ratio == 0.0


def test_all_unseen_window_is_maximal_drift():
    ref = CategoricalReference.from_values(["a", "b"] * 50)
    result = categorical_drift(ref, ["z"] * 30)
    assert result.unseen_ratio == 1.0
    assert result.cramers_v == pytest.approx(1.0)
    assert result.jensen_shannon == pytest.approx(1.0)
    assert result.chi2_p_value < 1e-20


def test_same_shares_give_no_drift():
    ref = CategoricalReference.from_values(["a"] * 30 + ["b"] * 70)
    result = categorical_drift(ref, ["a"] * 3 + ["b"] * 7)
    assert (result.chi2_statistic, result.chi2_p_value, result.psi, result.cramers_v) == (0.0, 1.0, 0.0, 0.0)
    assert result.jensen_shannon == pytest.approx(0.0, abs=1e-7)


def test_single_cell_has_nothing_to_test():
    ref = CategoricalReference.from_values(["only"] * 10)
    result = categorical_drift(ref, ["only"] * 5)
    assert (result.chi2_statistic, result.chi2_p_value) == (0.0, 1.0)


@pytest.mark.parametrize("bad", [[], [None, None], [float("nan")]])
def test_empty_window_raises(bad):
    ref = CategoricalReference.from_values(["a", "b"])
    with pytest.raises(EmptySampleError, match="current"):
        categorical_drift(ref, bad)


def test_bad_unseen_share():
    with pytest.raises(ValueError, match="unseen_share"):
        categorical_drift(CategoricalReference.from_values(["a"]), ["a"], unseen_share=0.0)


def test_numpy_string_window_is_accepted_as_is():
    ref = CategoricalReference.from_values(["a", "b", "b"])
    assert categorical_drift(ref, np.array(["a", "b", "q"])).unseen_ratio == pytest.approx(1 / 3)
    assert math.isfinite(categorical_drift(ref, np.array(["a", "b", "q"])).psi)


def test_drift_from_counts_equals_drift_from_values():
    rng = np.random.default_rng(21)
    ref_values, cur_values = _reference_and_window(21, 7, 4000, 900, 0.4)
    cur_values = np.concatenate([cur_values, ["new1"] * 7, ["new2"] * 3])
    ref = CategoricalReference.from_values(ref_values)
    uniq, counts = np.unique(cur_values, return_counts=True)
    from_counts = categorical_drift_counts(ref, dict(zip(uniq.tolist(), counts.tolist())))
    assert from_counts == categorical_drift(ref, list(rng.permutation(cur_values)))
    assert from_counts.unseen_ratio == pytest.approx(10 / cur_values.size)


def test_drift_from_counts_keys_by_str_and_bad_counts():
    ref = CategoricalReference.from_values(["1", "2", "2"])
    assert categorical_drift_counts(ref, {1: 3, "2": 3, 7: 0}) == categorical_drift(ref, [1, 1, 1, 2, 2, 2])
    with pytest.raises(EmptySampleError):
        categorical_drift_counts(ref, {"1": 0})
    with pytest.raises(EmptySampleError):
        categorical_drift_counts(ref, {})
    for bad in ({"1": -1}, {"1": 1.5}, {"1": "x"}, {"1": float("nan")}):
        with pytest.raises(ValueError, match="counts"):
            categorical_drift_counts(ref, bad)
    with pytest.raises(ValueError, match="mapping"):
        categorical_drift_counts(ref, [("1", 2)])


def test_unseen_floor_expects_one_in_a_thousand():
    ref = CategoricalReference(("a", "b"), np.array([0.5, 0.5]))
    one = categorical_drift_counts(ref, {"a": 500, "b": 499, "typo": 1})
    # expected unseen count 1000 * 1e-3 = 1: the typo alone adds nothing; a and b fit their shares
    expected = sst.chisquare([500, 499, 1], f_exp=1000 * np.array([0.4995, 0.4995, 0.001]))
    assert one.chi2_statistic == pytest.approx(expected.statistic, rel=1e-12) and one.chi2_statistic < 0.01
    ten = categorical_drift_counts(ref, {"a": 495, "b": 495, "new": 10})
    assert ten.chi2_statistic == pytest.approx(81.0, abs=0.2) and ten.chi2_p_value < 1e-15
