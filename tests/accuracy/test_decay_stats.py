"""otel_ml.stats.decay against SciPy on the same numbers."""

import numpy as np
import pytest
from scipy import stats

from otel_ml.stats import decay
from otel_ml.stats import performance as perf


@pytest.mark.parametrize("xb,nb,xc,nc", [(900, 1000, 850, 1000), (450, 500, 440, 500),
                                         (80, 100, 95, 100), (30, 40, 400, 600)])
def test_two_proportion_ztest_matches_chi_square_on_the_2x2_table(xb, nb, xc, nc):
    res = decay.two_proportion_ztest(xb, nb, xc, nc)
    table = np.array([[xb, nb - xb], [xc, nc - xc]])
    chi2, p_two, _, _ = stats.chi2_contingency(table, correction=False)
    assert res.z ** 2 == pytest.approx(chi2, rel=1e-9)
    expected_one_sided = p_two / 2 if xb / nb > xc / nc else 1 - p_two / 2
    assert res.p_value == pytest.approx(expected_one_sided, rel=1e-9)


def test_ztest_without_variance_gives_no_evidence():
    assert decay.two_proportion_ztest(100, 100, 50, 50).p_value == 1.0
    with pytest.raises(ValueError):
        decay.two_proportion_ztest(1, 0, 1, 1)


def test_binomial_drop_matches_scipy_binomtest():
    assert decay.binomial_drop_p_value(80, 100, 0.9) == pytest.approx(
        stats.binomtest(80, 100, 0.9, alternative="less").pvalue)
    assert decay.binomial_drop_p_value(95, 100, 0.9) > 0.5


def _accuracy_stat(y, pred):
    return lambda w: perf.metrics_from_confusion(perf.confusion_matrix(y, pred, 2, w))["accuracy"]["none"]


def test_bootstrap_p_value_agrees_with_scipy_percentile_interval():
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    stat = _accuracy_stat(y, pred)
    ci = stats.bootstrap((np.arange(n),), lambda i, axis=-1: np.mean(y[i] == pred[i], axis=axis),
                         confidence_level=0.95, alternative="less", method="percentile",
                         n_resamples=4000, random_state=4).confidence_interval
    upper = ci.high  # one-sided 95% upper bound of the current accuracy
    acc = np.mean(y == pred)
    # baselines clearly above the bound are significant drops; clearly below are not
    assert decay.bootstrap_drop_p_value(stat, n, upper + 0.01, resamples=4000,
                                        rng=np.random.default_rng(1)) < 0.05
    assert decay.bootstrap_drop_p_value(stat, n, upper - 0.01, resamples=4000,
                                        rng=np.random.default_rng(1)) > 0.05
    assert decay.bootstrap_drop_p_value(stat, n, acc - 0.05, resamples=500,
                                        rng=np.random.default_rng(1)) > 0.5


def test_bootstrap_is_seeded_and_errors_use_the_other_tail():
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    pred = y + rng.normal(0, 1, 300)
    mae = lambda w: perf.regression_metrics(y, pred, w)["mae"]["none"]  # noqa: E731
    observed = perf.regression_metrics(y, pred)["mae"]["none"]
    p1 = decay.bootstrap_drop_p_value(mae, 300, observed * 0.8, higher_is_better=False,
                                      rng=np.random.default_rng(9))
    p2 = decay.bootstrap_drop_p_value(mae, 300, observed * 0.8, higher_is_better=False,
                                      rng=np.random.default_rng(9))
    assert p1 == p2 and p1 < 0.01  # error well above a baseline of 0.8x: significant rise
    assert decay.bootstrap_drop_p_value(mae, 300, observed * 1.2, higher_is_better=False,
                                        rng=np.random.default_rng(9)) > 0.9


def test_bootstrap_false_alarm_rate_is_near_alpha_under_the_null():
    # windows drawn with true accuracy exactly at the baseline: rejections ~ alpha (one-sided)
    rng = np.random.default_rng(12)
    rejections = 0
    trials = 300
    for _ in range(trials):
        y = rng.integers(0, 2, 200)
        pred = np.where(rng.random(200) < 0.85, y, 1 - y)
        p = decay.bootstrap_drop_p_value(_accuracy_stat(y, pred), 200, 0.85, resamples=200, rng=rng)
        rejections += p < 0.05
    assert 0.01 < rejections / trials < 0.10


def test_threshold_and_decay_amount():
    assert decay.threshold_drop(0.9, 0.05, None) == 0.05
    assert decay.threshold_drop(0.9, None, 0.1) == pytest.approx(0.09)
    assert decay.threshold_drop(0.9, 0.05, 0.01) == pytest.approx(0.009)
    with pytest.raises(ValueError):
        decay.threshold_drop(0.9, None, None)
    assert decay.decay_amount(0.9, 0.8) == pytest.approx(0.1)
    assert decay.decay_amount(2.0, 3.0, higher_is_better=False) == pytest.approx(1.0)


def test_linear_trend_matches_scipy_linregress_and_forecast():
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0, 36000, 12))
    v = 0.9 - 2e-6 * t + rng.normal(0, 0.002, 12)
    tr = decay.linear_trend(t, v)
    ref = stats.linregress(t, v)
    assert tr.slope == pytest.approx(ref.slope, rel=1e-9)
    assert tr.intercept == pytest.approx(ref.intercept, rel=1e-9)
    now = 36000.0
    level = 0.8
    ttt = decay.time_to_threshold(tr, level, now)
    assert ttt == pytest.approx((ref.intercept + ref.slope * now - level) / -ref.slope, rel=1e-9)
    assert decay.time_to_threshold(tr, 0.99, now) == 0.0  # already below
    rising = decay.linear_trend(t, 0.5 + 1e-6 * t)
    assert decay.time_to_threshold(rising, 0.4, now) is None
    # error metrics: rising is worsening
    assert decay.time_to_threshold(rising, 0.6, now, higher_is_better=False) > 0
    assert decay.linear_trend([1.0, 1.0], [0.1, 0.2]) is None


def test_bootstrap_in_chunks_equals_one_pass():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 500)
    pred = np.where(rng.random(500) < 0.8, y, 1 - y)
    stat = _accuracy_stat(y, pred)
    one = decay.bootstrap_drop_p_value(stat, 500, 0.82, resamples=300,
                                       rng=np.random.default_rng(4))
    chunked = decay.bootstrap_drop_p_value(stat, 500, 0.82, resamples=300,
                                           rng=np.random.default_rng(4), max_cells=500 * 7)
    assert one == chunked
