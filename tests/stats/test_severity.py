"""Severity tiers: thresholds, p-value gating, validation, and that the derived defaults agree with KS/PSI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from otel_ml import semconv
from otel_ml.stats import (
    DEFAULT_TIERS, METHOD_CHI2, METHOD_JENSEN_SHANNON, METHOD_KS, METHOD_PSI, METHOD_WASSERSTEIN,
    SEVERITY_CRITICAL, SEVERITY_INFO, SEVERITY_NONE, SEVERITY_WARNING, CategoricalReference,
    InvalidTiersError, NumericReference, Tiers, categorical_drift, numeric_drift, severities, severity,
)

KS = DEFAULT_TIERS[METHOD_KS]


def test_seed_defaults():
    assert (KS.info, KS.warning, KS.critical) == (0.10, 0.15, 0.25)
    psi = DEFAULT_TIERS[METHOD_PSI]
    assert (psi.info, psi.warning, psi.critical) == (0.10, 0.20, 0.25)
    assert set(DEFAULT_TIERS) == {METHOD_KS, METHOD_PSI, METHOD_WASSERSTEIN, METHOD_JENSEN_SHANNON, METHOD_CHI2,
                                  "domain_classifier"}


def test_domain_classifier_tiers_are_the_auc_of_the_ks_tier_shifts():
    """A mean shift of d sd of a normal feature: KS D = 2 Phi(d/2) - 1, best AUC = Phi(d / sqrt 2)."""
    dc = DEFAULT_TIERS["domain_classifier"]
    for ks_tier, auc_tier in zip((KS.info, KS.warning, KS.critical), (dc.info, dc.warning, dc.critical)):
        d = 2 * norm.ppf((ks_tier + 1) / 2)
        assert norm.cdf(d / math.sqrt(2)) == pytest.approx(auc_tier, abs=0.005)


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
    with pytest.raises(InvalidTiersError) as info:
        Tiers(*args)
    assert info.value.key == key


def test_derived_default_tiers_agree_with_ks_and_psi_on_a_normal_shift():
    """The wasserstein/jensenshannon defaults trip at about the shift where KS/PSI's defaults do."""
    # evenly spaced normal quantiles stand in for a large normal sample
    ref_values = norm.ppf((np.arange(20000) + 0.5) / 20000)
    ref = NumericReference.from_values(ref_values)
    shifts = np.linspace(0.0, 1.2, 481)
    results = [numeric_drift(ref, ref_values[::2] + s) for s in shifts]
    curves = {
        "ks": np.array([r.ks_statistic for r in results]),
        "wasserstein": np.array([r.wasserstein_normalized for r in results]),
        "psi": np.array([r.psi for r in results]),
        "jensenshannon": np.array([r.jensen_shannon for r in results]),
    }
    for name, curve in curves.items():
        assert np.all(np.diff(curve) >= -1e-9), name  # grows with the shift

    def crossing(method, level):
        return float(shifts[np.argmax(curves[method] >= getattr(DEFAULT_TIERS[method], level))])

    for level in ("info", "warning", "critical"):
        assert crossing(METHOD_WASSERSTEIN, level) == pytest.approx(crossing(METHOD_KS, level), rel=0.05), level
        assert crossing(METHOD_JENSEN_SHANNON, level) == pytest.approx(crossing(METHOD_PSI, level), rel=0.1), level


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
