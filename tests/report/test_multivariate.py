"""The report's multivariate verdict: a joint change invisible to every per-feature test is
flagged, independent draws from the reference are not (the processor's domain classifier)."""

from __future__ import annotations

import numpy as np

from otel_ml.report import drift_report


def _pair(rng: np.random.Generator, n: int, rho: float) -> dict[str, np.ndarray]:
    cov = np.array([[1.0, rho], [rho, 1.0]])
    x = rng.multivariate_normal([0.0, 0.0], cov, size=n)
    return {"a": x[:, 0], "b": x[:, 1]}


def test_a_new_correlation_is_flagged_while_each_feature_alone_is_not():
    rng = np.random.default_rng(11)
    report = drift_report(_pair(rng, 4000, 0.0), _pair(rng, 2000, 0.8))
    assert report.multivariate["severity"] >= 2 and report.multivariate["score"] > report.multivariate["null_bound"]
    assert report.drifted == []  # the marginals are still N(0, 1)
    assert "all features together" in repr(report)
    assert "All features together" in report.to_html()


def test_independent_draws_from_the_reference_are_not_flagged():
    rng = np.random.default_rng(12)
    for _ in range(3):
        report = drift_report(_pair(rng, 4000, 0.3), _pair(rng, 2000, 0.3))
        assert report.multivariate["severity"] == 0


def test_one_numeric_feature_has_no_multivariate_verdict():
    rng = np.random.default_rng(13)
    report = drift_report({"a": rng.normal(size=500)}, {"a": rng.normal(size=500)})
    assert report.multivariate is None and report.to_dict()["multivariate"] is None
