"""Multivariate drift (domain classifier, PCA reconstruction) against scikit-learn / SciPy oracles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst
from sklearn.metrics import roc_auc_score

from otel_ml.stats import NumericReference, numeric_drift
from otel_ml.stats.multivariate import (
    DomainClassifierReference, domain_auc, fit_domain_reference, fit_pca_reference, held_out_scores,
    null_auc_sd,
)
from otel_ml.stats.errors import EmptySampleError, InvalidReferenceError
from otel_ml.stats.severity import (
    DEFAULT_TIERS, METHOD_KS, SEVERITY_NONE, SEVERITY_WARNING, severity,
)


def _pair(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """Two N(0,1) features with correlation rho (marginals unchanged)."""
    x = rng.standard_normal((n, 2))
    x[:, 1] = rho * x[:, 0] + np.sqrt(1 - rho ** 2) * x[:, 1]
    return x


def test_auc_and_p_value_are_sklearn_and_scipy_on_the_held_out_scores():
    rng = np.random.default_rng(3)
    ref, cur = _pair(rng, 2000, 0.0), _pair(rng, 800, 0.6)
    s_ref, s_cur = held_out_scores(ref, cur, np.random.default_rng(9), max_rows=600)
    auc, p, m = domain_auc(ref, cur, np.random.default_rng(9), max_rows=600)
    labels = np.r_[np.zeros(s_ref.size), np.ones(s_cur.size)]
    assert m == 600 and s_ref.size == s_cur.size == 300
    assert auc == pytest.approx(roc_auc_score(labels, np.r_[s_ref, s_cur]), abs=1e-12)
    assert p == pytest.approx(sst.mannwhitneyu(s_cur, s_ref, alternative="greater").pvalue, rel=1e-12)


def test_correlation_change_is_flagged_while_each_feature_alone_is_not():
    rng = np.random.default_rng(11)
    reference = _pair(rng, 5000, 0.0)
    mv = fit_domain_reference(reference, ["a", "b"], rng)
    for _ in range(3):
        window = _pair(rng, 1000, 0.8)
        verdict = mv.score(window, rng)
        assert verdict.severity >= SEVERITY_WARNING, verdict
        for j in range(2):  # univariate KS, tiered as the processor does (single test: p = adjusted p)
            ks = numeric_drift(NumericReference.from_values(reference[:, j]), window[:, j])
            assert severity(ks.ks_statistic, DEFAULT_TIERS[METHOD_KS], ks.ks_p_value) == SEVERITY_NONE


def test_independent_draws_from_the_reference_are_not_flagged():
    rng = np.random.default_rng(12)
    mv = fit_domain_reference(_pair(rng, 5000, 0.3), ["a", "b"], rng)
    verdicts = [mv.score(_pair(rng, 1000, 0.3), rng) for _ in range(20)]
    assert [v.severity for v in verdicts] == [SEVERITY_NONE] * 20
    assert max(v.score for v in verdicts) < DEFAULT_TIERS["domain_classifier"].info


def test_small_null_windows_stay_quiet_and_the_bound_is_the_mann_whitney_null_sd():
    rng = np.random.default_rng(18)
    mv = fit_domain_reference(_pair(rng, 5000, 0.0), ["a", "b"], rng)
    verdicts = [mv.score(_pair(rng, 100, 0.0), rng) for _ in range(60)]
    assert [v.severity for v in verdicts] == [SEVERITY_NONE] * 60
    # scipy's normal approximation of U: sd = sqrt(n1 n2 (n1 + n2 + 1) / 12); AUC = U / (n1 n2)
    assert null_auc_sd(50) == pytest.approx(np.sqrt(50 * 50 * 101 / 12) / 2500, rel=1e-12)
    assert verdicts[0].null_bound == pytest.approx(max(mv.null_bound, 0.5 + 3 * null_auc_sd(50)), rel=1e-12)


def test_missing_values_are_kept_and_a_changed_missing_pattern_is_joint_drift():
    rng = np.random.default_rng(13)
    ref = rng.standard_normal((4000, 3))
    mv = fit_domain_reference(ref, ["a", "b", "c"], rng)
    cur = rng.standard_normal((1000, 3))
    cur[cur[:, 0] > 0, 1] = np.nan  # b goes missing exactly when a is positive
    assert mv.score(cur, rng).severity >= SEVERITY_WARNING


def test_reference_chunks_that_differ_raise_the_null_bound():
    rng = np.random.default_rng(14)
    # A reference recorded over time: its correlation drifts from chunk to chunk.
    blocks = [_pair(rng, 1000, rho) for rho in (0.0, 0.3, 0.6, 0.3, 0.0)]
    mv = fit_domain_reference(np.vstack(blocks), ["a", "b"], rng)
    iid = fit_domain_reference(_pair(rng, 5000, 0.0), ["a", "b"], rng)
    assert mv.null_bound > iid.null_bound
    # A window like one of the reference's own chunks is its natural variation, not drift.
    verdict = mv.score(_pair(rng, 1000, 0.6), rng)
    assert verdict.score <= mv.null_bound and verdict.severity == SEVERITY_NONE


def test_round_trip_and_bad_fields():
    rng = np.random.default_rng(15)
    mv = fit_domain_reference(_pair(rng, 600, 0.2), ["a", "b"], rng, max_rows=300)
    back = DomainClassifierReference.from_dict(mv.to_dict())
    assert back.features == ("a", "b") and back.chunk_aucs == mv.chunk_aucs and back.max_rows == 300
    np.testing.assert_array_equal(back.sample, mv.sample)
    bad = mv.to_dict() | {"sample_f4_base64": "AAAA"}  # 3 bytes: not whole float32 rows
    with pytest.raises(InvalidReferenceError, match="sample_f4_base64"):
        DomainClassifierReference.from_dict(bad)
    with pytest.raises(InvalidReferenceError, match="features"):
        DomainClassifierReference.from_dict(mv.to_dict() | {"features": ["a"]})


def test_too_few_rows_is_an_empty_sample():
    rng = np.random.default_rng(16)
    mv = fit_domain_reference(_pair(rng, 500, 0.0), ["a", "b"], rng)
    with pytest.raises(EmptySampleError):
        mv.score(np.full((400, 2), np.nan), rng)
    with pytest.raises(ValueError, match="2 feature columns"):
        mv.score(np.zeros((400, 3)), rng)


def test_pca_reconstruction_sees_decorrelation_but_not_a_new_correlation_of_two_features():
    rng = np.random.default_rng(17)
    w = rng.standard_normal((2, 8))

    def latent(n, broken=False):
        x = rng.standard_normal((n, 2)) @ w + 0.4 * rng.standard_normal((n, 8))
        if broken:
            x[:, 0] = rng.permutation(x[:, 0])
        return x

    pca = fit_pca_reference(latent(5000), rng)
    assert pca.components.shape[0] < 8
    assert pca.score(latent(1000))[1] == SEVERITY_NONE
    assert pca.score(latent(1000, broken=True))[1] >= SEVERITY_WARNING
    # Two isotropic features: 65% of the variance needs both components, so the error is ~0
    # before and after: the blind spot that made the processor use the domain classifier.
    iso = fit_pca_reference(_pair(rng, 5000, 0.0), rng)
    assert iso.components.shape[0] == 2
    assert iso.score(_pair(rng, 1000, 0.8))[1] == SEVERITY_NONE
