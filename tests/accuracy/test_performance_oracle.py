"""otel_ml.stats.performance against scikit-learn on the same labels, predictions and weights."""

import numpy as np
import pytest
from sklearn import metrics as skm

from otel_ml.stats import performance as perf


def _data(k, n, seed, skill=0.7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < skill, y, rng.integers(0, k, n))
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[pred]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, pred, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_equal_sklearn(seed):
    y, pred, proba = _data(2, 400, seed)
    res = perf.classification_metrics(y, pred, 2, positive=1, positive_scores=proba[:, 1])
    s = res.scores
    assert s["accuracy"]["none"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        for avg in ("binary", "macro", "weighted"):
            assert s[name][avg] == pytest.approx(fn(y, pred, average=avg, zero_division=0),
                                                 abs=1e-12), (name, avg)
    assert s["roc_auc"]["binary"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), abs=1e-12)
    np.testing.assert_array_equal(res.confusion, skm.confusion_matrix(y, pred, labels=[0, 1]))


@pytest.mark.parametrize("seed", [3, 4])
def test_multiclass_metrics_equal_sklearn(seed):
    y, pred, proba = _data(5, 600, seed, skill=0.5)
    res = perf.classification_metrics(y, pred, 5, proba=proba)
    s = res.scores
    assert s["accuracy"]["none"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        for avg in ("macro", "weighted"):
            assert s[name][avg] == pytest.approx(fn(y, pred, average=avg, zero_division=0),
                                                 abs=1e-12), (name, avg)
    assert "binary" not in s["f1"]
    for avg in ("macro", "weighted"):
        assert s["roc_auc"][avg] == pytest.approx(
            skm.roc_auc_score(y, proba, multi_class="ovr", average=avg), abs=1e-12)
    np.testing.assert_array_equal(res.confusion, skm.confusion_matrix(y, pred, labels=range(5)))


def test_macro_average_uses_only_classes_present_like_sklearn():
    # vocabulary of 6 classes, the window holds only 3 of them (one only as a prediction)
    y = np.array([0, 0, 1, 1, 1, 4, 4, 0])
    pred = np.array([0, 1, 1, 1, 4, 4, 0, 0])
    s = perf.classification_metrics(y, pred, 6).scores
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        for avg in ("macro", "weighted"):
            assert s[name][avg] == pytest.approx(fn(y, pred, average=avg, zero_division=0))


def test_class_never_predicted_has_zero_precision_like_sklearn():
    y = np.array([0, 1, 2, 2, 1, 0])
    pred = np.array([0, 0, 0, 0, 1, 0])  # class 2 never predicted
    s = perf.classification_metrics(y, pred, 3).scores
    assert s["precision"]["macro"] == pytest.approx(
        skm.precision_score(y, pred, average="macro", zero_division=0))
    assert s["f1"]["macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))


def test_auc_with_ties_and_weights_equals_sklearn():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.5 + 0.4 * y, 1)  # heavy ties
    w = rng.integers(0, 4, 300).astype(float)
    assert perf.roc_auc_binary(y == 1, scores) == pytest.approx(skm.roc_auc_score(y, scores))
    assert perf.roc_auc_binary(y == 1, scores, w) == pytest.approx(
        skm.roc_auc_score(y, scores, sample_weight=w))


def test_auc_is_nan_with_one_class():
    assert np.isnan(perf.roc_auc_binary(np.ones(5, bool), np.linspace(0, 1, 5)))


def test_weight_matrix_gives_one_result_per_row_equal_to_sklearn_weighted():
    y, pred, proba = _data(3, 200, 11)
    rng = np.random.default_rng(5)
    w = rng.multinomial(200, np.full(200, 1 / 200), size=4).astype(float)
    conf = perf.confusion_matrix(y, pred, 3, w)
    assert conf.shape == (4, 3, 3)
    batch = perf.metrics_from_confusion(conf)
    aucs = perf.roc_auc_binary(y == 1, proba[:, 1], w)
    ovr = perf.roc_auc_ovr(y, proba, "macro", w)
    for b in range(4):
        np.testing.assert_allclose(conf[b], skm.confusion_matrix(y, pred, sample_weight=w[b]))
        assert batch["accuracy"]["none"][b] == pytest.approx(
            skm.accuracy_score(y, pred, sample_weight=w[b]))
        assert batch["f1"]["macro"][b] == pytest.approx(
            skm.f1_score(y, pred, average="macro", sample_weight=w[b], zero_division=0))
        assert aucs[b] == pytest.approx(skm.roc_auc_score(y == 1, proba[:, 1], sample_weight=w[b]))
        per_class = [skm.roc_auc_score(y == c, proba[:, c], sample_weight=w[b]) for c in range(3)]
        assert ovr[b] == pytest.approx(np.mean(per_class))


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, 500)
    y[:5] = 0.0  # zero targets: MAPE's epsilon floor
    pred = y + rng.normal(0, 1, 500)
    s = perf.regression_metrics(y, pred)
    assert s["mae"]["none"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert s["rmse"]["none"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert s["r2"]["none"] == pytest.approx(skm.r2_score(y, pred))
    assert s["mape"]["none"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred), rel=1e-9)
    w = rng.multinomial(500, np.full(500, 1 / 500), size=3).astype(float)
    sb = perf.regression_metrics(y, pred, w)
    for b in range(3):
        assert sb["mae"]["none"][b] == pytest.approx(skm.mean_absolute_error(y, pred, sample_weight=w[b]))
        assert sb["r2"]["none"][b] == pytest.approx(skm.r2_score(y, pred, sample_weight=w[b]))


def test_r2_is_nan_without_variance():
    assert np.isnan(perf.regression_metrics(np.ones(4), np.arange(4.0))["r2"]["none"])
