"""Severity tiers: thresholds, p-value gating, validation, and that the derived defaults agree with KS/PSI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from otel_ml import semconv
from otel_ml.errors import ConfigError
from otel_ml.stats import (
    DEFAULT_TIERS, METHOD_CHI2, METHOD_JENSEN_SHANNON, METHOD_KS, METHOD_PSI, METHOD_WASSERSTEIN,
    SEVERITY_CRITICAL, SEVERITY_INFO, SEVERITY_NONE, SEVERITY_WARNING, CategoricalReference,
    NumericReference, Tiers, categorical_drift, numeric_drift, severities, severity,
)

KS = DEFAULT_TIERS[METHOD_KS]


def test_seed_defaults():
    assert (KS.info, KS.warning, KS.critical) == (0.10, 0.15, 0.25)
    psi = DEFAULT_TIERS[METHOD_PSI]
    assert (psi.info, psi.warning, psi.critical) == (0.10, 0.20, 0.25)
    assert set(DEFAULT_TIERS) == {METHOD_KS, METHOD_PSI, METHOD_WASSERSTEIN, METHOD_JENSEN_SHANNON, METHOD_CHI2}


def test_method_names_are_the_ones_semconv_documents():
    description = semconv.Metric.DRIFT_SCORE.description
    for method in DEFAULT_TIERS:
        assert f"{method}:" in description or f"{method}," in description or f" {method} " in description


@pytest.mark.parametrize(("score", "expected"), [
    (0.0, SEVERITY_NONE), (0.0999, SEVERITY_NONE), (0.10, SEVERITY_INFO), (0.149, SEVERITY_INFO),
    (0.15, SEVERITY_WARNING), (0.25, SEVERITY_CRITICAL), (0.9, SEVERITY_CRITICAL),
    (math.inf, SEVERITY_CRITICAL), (math.nan, SEVERITY_NONE), (-1.0, SEVERITY_NONE),
])
def test_tier_by_score(score, expected):
    assert severity(score, KS) == expected


def test_tier_needs_a_significant_adjusted_p_value_when_given():
    assert severity(0.5, KS, p_value_adjusted=0.01) == SEVERITY_CRITICAL
    assert severity(0.5, KS, p_value_adjusted=0.05) == SEVERITY_NONE  # strictly below alpha
    assert severity(0.5, KS, p_value_adjusted=0.2, alpha=0.25) == SEVERITY_CRITICAL
    assert severity(0.5, KS, p_value_adjusted=math.nan) == SEVERITY_NONE
    with pytest.raises(ValueError, match="alpha"):
        severity(0.5, KS, alpha=0.0)


def test_vectorised_severities_equal_the_scalar_rule():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(0, 0.4, 300), [np.nan, np.inf, 0.1, 0.15, 0.25]])
    p = rng.uniform(0, 0.1, scores.size)
    got = severities(scores, KS, p)
    assert got.tolist() == [severity(s, KS, pv) for s, pv in zip(scores, p)]
    assert severities(scores, KS).tolist() == [severity(s, KS) for s in scores]
    with pytest.raises(ValueError, match="shape"):
        severities([0.1, 0.2], KS, [0.01])


@pytest.mark.parametrize(("args", "key"), [
    ((0.2, 0.1, 0.3), "tiers.warning"), ((0.1, 0.3, 0.2), "tiers.critical"),
    ((-0.1, 0.1, 0.2), "tiers.info"), ((0.1, math.nan, 0.2), "tiers.warning"), (("a", 0.1, 0.2), "tiers.info"),
])
def test_tiers_validate_on_construction(args, key):
    with pytest.raises(ConfigError) as info:
        Tiers(*args)
    assert info.value.key == key


def _shift_crossing(score_of, threshold, lo=0.0, hi=3.0):
    """Mean shift (in reference sd) at which score_of(shift) reaches threshold, by bisection."""
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if score_of(mid) < threshold else (lo, mid)
    return (lo + hi) / 2


def test_derived_default_tiers_agree_with_ks_and_psi_on_a_normal_shift():
    """The wasserstein/jensenshannon defaults trip at about the shift where KS/PSI's defaults do."""
    # evenly spaced normal quantiles stand in for a large normal sample
    ref_values = norm.ppf((np.arange(40000) + 0.5) / 40000)
    ref = NumericReference.from_values(ref_values)
    cache: dict[float, object] = {}

    def drift(shift):
        if shift not in cache:
            cache[shift] = numeric_drift(ref, ref_values[::4] + shift)
        return cache[shift]

    ks = DEFAULT_TIERS[METHOD_KS]
    w = DEFAULT_TIERS[METHOD_WASSERSTEIN]
    psi = DEFAULT_TIERS[METHOD_PSI]
    js = DEFAULT_TIERS[METHOD_JENSEN_SHANNON]
    for level in ("info", "warning", "critical"):
        d_ks = _shift_crossing(lambda s: drift(s).ks_statistic, getattr(ks, level))
        d_w = _shift_crossing(lambda s: drift(s).wasserstein_normalized, getattr(w, level))
        assert d_w == pytest.approx(d_ks, rel=0.05), level
        d_psi = _shift_crossing(lambda s: drift(s).psi, getattr(psi, level))
        d_js = _shift_crossing(lambda s: drift(s).jensen_shannon, getattr(js, level))
        assert d_js == pytest.approx(d_psi, rel=0.1), level


def test_chi2_default_tiers_agree_with_psi_on_a_small_categorical_change():
    ref = CategoricalReference(("a", "b", "c", "d"), np.array([0.4, 0.3, 0.2, 0.1]))
    psi_tiers, v_tiers = DEFAULT_TIERS[METHOD_PSI], DEFAULT_TIERS[METHOD_CHI2]
    for level in ("info", "warning", "critical"):
        # move share from a to d until PSI crosses the tier; V must be near its own tier there
        lo, hi = 0.0, 0.39
        for _ in range(30):
            mid = (lo + hi) / 2
            shares = np.array([0.4 - mid, 0.3, 0.2, 0.1 + mid])
            window = np.repeat(["a", "b", "c", "d"], np.round(shares * 100000).astype(int))
            result = categorical_drift(ref, window)
            lo, hi = (mid, hi) if result.psi < getattr(psi_tiers, level) else (lo, mid)
        assert result.cramers_v == pytest.approx(getattr(v_tiers, level), rel=0.1), level
