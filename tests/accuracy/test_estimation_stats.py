"""CBPE pieces: isotonic calibration vs scikit-learn, expected confusion vs simulation, and the
estimate on a real scikit-learn dataset under covariate shift (tracks) and concept shift (does not)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from otel_ml.stats import estimation as est
from otel_ml.stats.performance import metrics_from_confusion


def test_isotonic_calibrator_predicts_like_sklearn():
    rng = np.random.default_rng(0)
    s = np.round(rng.random(2000), 3)  # ties included
    o = (rng.random(2000) < s ** 2).astype(float)
    cal = est.IsotonicCalibrator.fit(s, o)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=None, y_max=None).fit(s, o)
    grid = np.concatenate([np.linspace(-0.5, 1.5, 501), s[:50]])
    np.testing.assert_allclose(cal.predict(grid), ref.predict(grid), atol=1e-12)
    assert len(cal.x) < np.unique(s).size  # compressed to block ends
    again = est.IsotonicCalibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again.predict(grid), cal.predict(grid))


def test_calibrator_rejects_bad_input():
    with pytest.raises(ValueError):
        est.IsotonicCalibrator.fit(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(ValueError):
        est.IsotonicCalibrator.fit(np.ones(3), np.ones(2))
    with pytest.raises(ValueError):
        est.IsotonicCalibrator.from_dict({"x": [0, 1], "y": [1, 0]})


def test_expected_confusion_equals_mean_of_simulated_confusion_matrices():
    rng = np.random.default_rng(1)
    n, k, draws = 150, 3, 500
    proba = rng.dirichlet(np.ones(k), size=n)
    pred = proba.argmax(axis=1)
    expected = est.expected_confusion(proba, pred, k)
    # labels drawn from the probabilities, many times; sklearn counts each draw
    u = rng.random((draws, n, 1))
    labels = (u > np.cumsum(proba, axis=1)[None]).sum(axis=2)
    sims = np.mean([confusion_matrix(labels[d], pred, labels=range(k)) for d in range(draws)],
                   axis=0)
    # Monte-Carlo error of a cell mean over 500 draws is below sqrt(n/4/500) ~ 0.27
    np.testing.assert_allclose(sims, expected, atol=1.2)
    assert expected.sum() == pytest.approx(n)
    binary = est.expected_binary_confusion(proba[:, 1] / proba[:, :2].sum(1), pred == 1)
    assert binary.sum() == pytest.approx(n)


def test_expected_binary_confusion_cells():
    p = np.array([0.9, 0.8, 0.3, 0.1])
    pred_pos = np.array([True, True, False, False])
    c = est.expected_binary_confusion(p, pred_pos)
    tn, fp = (1 - 0.3) + (1 - 0.1), (1 - 0.9) + (1 - 0.8)
    fn, tp = 0.3 + 0.1, 0.9 + 0.8
    np.testing.assert_allclose(c, [[tn, fp], [fn, tp]])  # rows actual, columns predicted


# --- the estimate on real data ---------------------------------------------------------------
# Tolerance: |estimate - realized| <= 3 * sqrt(a (1 - a) / n) + 0.02. The first term is the
# binomial noise of the realized accuracy around the expected accuracy CBPE estimates (3 sigma:
# a false failure under 0.3%); 0.02 allows for the isotonic calibration's own error fitted on
# ~540 reference rows (its standard error there is about sqrt(0.15 * 0.85 / 540) ~ 0.015).

def _digits_setup():
    x, y = load_digits(return_X_y=True)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, train_size=0.4, random_state=0, stratify=y)
    x_ref, x_prod, y_ref, y_prod = train_test_split(x_rest, y_rest, train_size=0.5,
                                                    random_state=0, stratify=y_rest)
    model = GaussianNB().fit(x_tr, y_tr)  # notoriously over-confident: calibration matters
    return model, (x_ref, y_ref), (x_prod, y_prod)


def _tolerance(acc, n):
    return 3 * np.sqrt(acc * (1 - acc) / n) + 0.02


def test_cbpe_tracks_accuracy_under_covariate_shift_and_not_under_concept_shift():
    model, (x_ref, y_ref), (x_prod, y_prod) = _digits_setup()
    p_ref = model.predict_proba(x_ref)
    pred_ref = p_ref.argmax(1)
    cal = est.IsotonicCalibrator.fit(p_ref.max(1), pred_ref == y_ref)
    per_class = [est.IsotonicCalibrator.fit(p_ref[:, c], y_ref == c) for c in range(10)]

    p = model.predict_proba(x_prod)
    pred = p.argmax(1)
    conf = p.max(1)
    # Covariate shift: production traffic over-represents inputs the model finds hard. Selection
    # depends on x only (through the model's own score), so P(y | x) is unchanged.
    shifted = conf <= np.quantile(conf, 0.3)
    realized_before = np.mean(pred == y_prod)
    realized_after = np.mean(pred[shifted] == y_prod[shifted])
    assert realized_before - realized_after > 0.1  # the shift really hurts accuracy

    for mask, realized in ((np.ones_like(shifted), realized_before), (shifted, realized_after)):
        n = int(mask.sum())
        by_conf = est.expected_accuracy(conf[mask], cal)
        by_proba = metrics_from_confusion(est.expected_confusion(
            est.calibrate_proba(p[mask], per_class), pred[mask], 10))["accuracy"]["none"]
        assert abs(by_conf - realized) <= _tolerance(realized, n), (by_conf, realized, n)
        assert abs(by_proba - realized) <= _tolerance(realized, n), (by_proba, realized, n)
        # uncalibrated confidences would be far off: calibration is what makes this work
        assert conf[mask].mean() - realized > 0.1

    # Concept shift: the same inputs now mean other labels for three digits. Confidences do
    # not change, so the estimate cannot see it: this is CBPE's documented limit.
    y_concept = y_prod.copy()
    moved = np.isin(y_concept, [1, 3, 7])
    y_concept[moved] = (y_concept[moved] + 1) % 10
    realized_concept = np.mean(pred == y_concept)
    estimate_concept = est.expected_accuracy(conf, cal)
    assert estimate_concept - realized_concept > 0.15
