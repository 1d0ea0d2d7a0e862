"""Realized metrics the tracker exports equal scikit-learn's on the same joined labels."""

import numpy as np
import pytest
from sklearn import metrics as skm

from otel_ml.semconv import OVERFLOW_VALUE, Attr, Metric

from .helpers import batch, find, labels, make_tracker, perf, points_of, sums

BASE = {"window": {"count": 400, "time_s": 600, "min_labels": 20, "min_predictions": 20,
                   "max_events": 5000}, "baseline": {"labels": 5000}}


def _binary_stream(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.choice(["spam", "ham"], n)
    p_spam = np.clip(np.where(y == "spam", 0.7, 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    pred = np.where(p_spam > 0.5, "spam", "ham")
    return y, pred, p_spam


def test_binary_string_classes_equal_sklearn_with_positive_class_from_settings():
    tracker, _, clock = make_tracker({**BASE, "models": {"m": {"positive_class": "spam"}}})
    y, pred, p = _binary_stream(600, 1)
    ids = [f"i{i}" for i in range(600)]
    conf = np.maximum(p, 1 - p)
    tracker.ingest([batch("m", ids, pred, conf=conf, proba={"spam": p, "ham": 1 - p})])
    tracker.ingest(labels(ids, y))
    pts = tracker.evaluate(clock.t)
    yt, yp, ps = y[-400:], pred[-400:], p[-400:]  # the count window: last 400 labels
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none") == pytest.approx(
        skm.accuracy_score(yt, yp))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        assert perf(pts, Metric.PERFORMANCE, name, "binary") == pytest.approx(
            fn(yt, yp, pos_label="spam"))
        for avg in ("macro", "weighted"):
            assert perf(pts, Metric.PERFORMANCE, name, avg) == pytest.approx(
                fn(yt, yp, average=avg))
    assert perf(pts, Metric.PERFORMANCE, "roc_auc", "binary") == pytest.approx(
        skm.roc_auc_score(yt == "spam", ps))
    # time window: everything arrived within the last 600 s
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none", window="time") == pytest.approx(
        skm.accuracy_score(y, pred))
    cm = skm.confusion_matrix(yt, yp, labels=["spam", "ham"])
    for a_i, a in enumerate(["spam", "ham"]):
        for p_i, pr in enumerate(["spam", "ham"]):
            assert find(pts, Metric.CONFUSION, **{Attr.LABEL_ACTUAL: a, Attr.LABEL_PREDICTED: pr,
                                                  Attr.WINDOW: "count", Attr.SEGMENT: "_all"}) \
                == cm[a_i, p_i]


def test_binary_auc_from_confidence_alone_equals_sklearn():
    tracker, _, clock = make_tracker(BASE)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    p1 = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, 300), 0, 1)
    pred = (p1 > 0.5).astype(int)
    ids = [f"c{i}" for i in range(300)]
    tracker.ingest([batch("m", ids, pred, conf=np.maximum(p1, 1 - p1))])  # no probabilities
    tracker.ingest(labels(ids, y.tolist()))
    pts = tracker.evaluate(clock.t)
    assert perf(pts, Metric.PERFORMANCE, "roc_auc", "binary") == pytest.approx(
        skm.roc_auc_score(y, p1))
    assert perf(pts, Metric.PERFORMANCE, "f1", "binary") == pytest.approx(skm.f1_score(y, pred))


def test_multiclass_per_segment_equals_sklearn():
    tracker, _, clock = make_tracker(BASE)
    rng = np.random.default_rng(2)
    n, k = 400, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = proba.argmax(1)
    seg = rng.choice(["eu", "us"], n)
    ids = [f"q{i}" for i in range(n)]
    # labels arrive in random order relative to the predictions
    tracker.ingest([batch("m", ids, pred, conf=proba.max(1),
                          proba={str(c): proba[:, c] for c in range(k)}, segments=seg)])
    order = rng.permutation(n)
    tracker.ingest(labels([ids[i] for i in order], y[order].tolist()))
    pts = tracker.evaluate(clock.t)
    yo, po, pro, so = y[order], pred[order], proba[order], seg[order]
    for segment, mask in (("_all", np.ones(n, bool)), ("eu", so == "eu"), ("us", so == "us")):
        yt, yp = yo[mask], po[mask]
        assert perf(pts, Metric.PERFORMANCE, "accuracy", "none", segment) == pytest.approx(
            skm.accuracy_score(yt, yp))
        for avg in ("macro", "weighted"):
            assert perf(pts, Metric.PERFORMANCE, "f1", avg, segment) == pytest.approx(
                skm.f1_score(yt, yp, average=avg))
            assert perf(pts, Metric.PERFORMANCE, "precision", avg, segment) == pytest.approx(
                skm.precision_score(yt, yp, average=avg, zero_division=0))
            assert perf(pts, Metric.PERFORMANCE, "roc_auc", avg, segment) == pytest.approx(
                skm.roc_auc_score(yt, pro[mask], multi_class="ovr", average=avg), rel=1e-6)
        assert perf(pts, Metric.PERFORMANCE, "f1", "binary", segment) is None
    cells = [p for p in points_of(pts, Metric.CONFUSION) if p.attributes[Attr.SEGMENT] == "eu"
             and p.attributes[Attr.WINDOW] == "count"]
    assert len(cells) == k * k
    assert sum(p.value for p in cells) == (so == "eu").sum()


def test_regression_equals_sklearn_and_is_inferred_from_float_predictions():
    tracker, _, clock = make_tracker(BASE)
    rng = np.random.default_rng(3)
    y = rng.normal(100, 20, 300)
    pred = y + rng.normal(0, 5, 300)
    ids = [f"r{i}" for i in range(300)]
    tracker.ingest([batch("price", ids, pred.tolist())])
    tracker.ingest(labels(ids, y.tolist()))
    pts = tracker.evaluate(clock.t)
    assert perf(pts, Metric.PERFORMANCE, "mae", "none") == pytest.approx(
        skm.mean_absolute_error(y, pred))
    assert perf(pts, Metric.PERFORMANCE, "rmse", "none") == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, pred)))
    assert perf(pts, Metric.PERFORMANCE, "r2", "none") == pytest.approx(skm.r2_score(y, pred))
    assert perf(pts, Metric.PERFORMANCE, "mape", "none") == pytest.approx(
        skm.mean_absolute_percentage_error(y, pred))
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none") is None
    assert points_of(pts, Metric.PERFORMANCE_ESTIMATED) == []  # no CBPE for regression


def test_time_window_drops_old_labels_and_min_labels_applies():
    tracker, _, clock = make_tracker(BASE)
    ids_old = [f"o{i}" for i in range(100)]
    tracker.ingest([batch("m", ids_old, [1] * 100)])
    tracker.ingest(labels(ids_old, [0] * 100))  # all wrong
    clock.t += 601
    ids_new = [f"n{i}" for i in range(30)]
    tracker.ingest([batch("m", ids_new, [1] * 30)])
    tracker.ingest(labels(ids_new, [1] * 30))  # all right
    pts = tracker.evaluate(clock.t)
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none", window="time") == 1.0
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none", window="count") == pytest.approx(
        30 / 130)
    clock.t += 100
    ids_few = [f"f{i}" for i in range(5)]
    tracker.ingest([batch("m", ids_few, [1] * 5)])
    tracker.ingest(labels(ids_few, [1] * 5))
    pts = tracker.evaluate(clock.t + 550)  # only the 5 newest remain: below min_labels
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none", window="time") is None


def test_segment_cap_folds_into_overflow_and_is_counted():
    tracker, reader, clock = make_tracker({**BASE, "limits": {"max_segments": 2}})
    segs = ["a", "b", "c", "d"] * 50
    ids = [f"s{i}" for i in range(200)]
    tracker.ingest([batch("m", ids, [1] * 200, segments=segs)])
    tracker.ingest(labels(ids, [1] * 200))
    pts = tracker.evaluate(clock.t)
    segments = {p.attributes[Attr.SEGMENT] for p in points_of(pts, Metric.PERFORMANCE)}
    assert segments == {"_all", "a", "b", OVERFLOW_VALUE}
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none", OVERFLOW_VALUE) == 1.0
    overflow = sums(reader, Metric.PROC_CARDINALITY_OVERFLOW.name)
    assert overflow[frozenset({Attr.CARDINALITY_KIND: "segment"}.items())] == 100


def test_class_names_match_across_types():
    # predictions as ints, labels as strings and floats, probabilities keyed by strings
    tracker, _, clock = make_tracker(BASE)
    ids = [f"t{i}" for i in range(40)]
    tracker.ingest([batch("m", ids, [0, 1] * 20, conf=[0.9] * 40,
                          proba={"0": [0.9, 0.1] * 20, "1": [0.1, 0.9] * 20})])
    tracker.ingest(labels(ids[:20], ["0", "1"] * 10) + labels(ids[20:], [0.0, 1.0] * 10))
    pts = tracker.evaluate(clock.t)
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none") == 1.0
    names = {p.attributes[Attr.LABEL_ACTUAL] for p in points_of(pts, Metric.CONFUSION)}
    assert names == {"0", "1"}
