"""Estimated precision / recall / F1 from a profile built on the command line with ``--proba``.

Oracle: scikit-learn on the same data. Per-class isotonic maps (IsotonicRegression, clipped) fitted
on the reference CSV's probability columns, applied to the production probabilities and
renormalised, give each item's P(actual = a); the expected confusion matrix is the weighted
confusion of (a, predicted) with those weights, so ``precision_recall_fscore_support`` with
``sample_weight`` computes the estimate independently of otel_ml. Probabilities are rounded to
6 decimals: scikit-learn's isotonic fit merges scores closer than 1e-15 (GaussianNB gives many
such), otel_ml's keeps them apart; on scores that differ by more the two fits are the same.
"""

import csv

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from otel_ml import cli
from otel_ml.processor.profile import ProfileStore
from otel_ml.semconv import Metric

from .helpers import batch, labels, make_tracker, perf

SETTINGS = {"window": {"count": 1000, "time_s": None, "min_labels": 50, "min_predictions": 50,
                       "max_events": 2000}, "baseline": {"source": "reference", "labels": 100}}
K = 10


@pytest.fixture(scope="module")
def cli_profile(tmp_path_factory):
    x, y = load_digits(return_X_y=True)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, train_size=0.4, random_state=0, stratify=y)
    x_ref, x_prod, y_ref, y_prod = train_test_split(x_rest, y_rest, train_size=0.5, random_state=0,
                                                    stratify=y_rest)
    model = GaussianNB().fit(x_tr, y_tr)
    p_ref = np.round(model.predict_proba(x_ref), 6)
    tmp = tmp_path_factory.mktemp("cli")
    data = tmp / "reference.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["pixel20", "pixel30", "y_pred", *[f"p{c}" for c in range(K)], "target"])
        for xi, pi, yi in zip(x_ref, p_ref, y_ref):
            w.writerow([xi[20], xi[30], int(pi.argmax()), *pi.tolist(), int(yi)])
    out = tmp / "digits.json"
    assert cli.main(["reference", "build", str(data), "-o", str(out), "--model", "digits", "--version", "1",
                     "--proba", ",".join(f"p{c}" for c in range(K)), "--quiet"]) == 0
    store = ProfileStore()
    store.load("digits", "1", out)
    return model, store, p_ref, y_ref, x_prod, y_prod


def _sklearn_estimate(p_ref, y_ref, proba, pred):
    cal = np.column_stack([IsotonicRegression(out_of_bounds="clip").fit(p_ref[:, c], y_ref == c)
                           .predict(proba[:, c]) for c in range(K)])
    cal = cal / cal.sum(axis=1, keepdims=True)
    actual = np.repeat(np.arange(K)[None, :], len(pred), axis=0).ravel()
    predicted = np.repeat(pred, K)
    w = cal.ravel()
    keep = w > 0
    out = {}
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(actual[keep], predicted[keep], sample_weight=w[keep],
                                                     average=avg, zero_division=0)
        out.update({("precision", avg): p, ("recall", avg): r, ("f1", avg): f})
    out[("accuracy", "none")] = float(cal[np.arange(len(pred)), pred].mean())
    return out


def test_multiclass_profile_from_the_cli_estimates_precision_recall_f1(cli_profile):
    model, store, p_ref, y_ref, x_prod, y_prod = cli_profile
    tracker, _, clock = make_tracker(SETTINGS, profiles=store)
    proba = np.round(model.predict_proba(x_prod), 6)
    pred = proba.argmax(1)
    ids = [f"d{i}" for i in range(len(pred))]
    tracker.ingest([batch("digits", ids, pred.tolist(), conf=proba.max(1),
                          proba={str(c): proba[:, c] for c in range(K)})])
    before = tracker.evaluate(clock.t)
    oracle = _sklearn_estimate(p_ref, y_ref, proba, pred)
    for (metric, avg), expected in oracle.items():
        assert perf(before, Metric.PERFORMANCE_ESTIMATED, metric, avg) == pytest.approx(expected, abs=1e-9), (
            metric, avg)
    # and the estimate is close to what the labels then show
    tracker.ingest(labels(ids, y_prod.tolist()))
    after = tracker.evaluate(clock.t)
    for metric, avg in (("accuracy", "none"), ("f1", "macro"), ("precision", "macro"), ("recall", "macro")):
        realized = perf(after, Metric.PERFORMANCE, metric, avg)
        estimate = perf(after, Metric.PERFORMANCE_ESTIMATED, metric, avg)
        assert abs(estimate - realized) < 0.08, (metric, estimate, realized)


def test_confidences_below_1_over_k_are_left_out_of_the_estimate(cli_profile):
    # P(one class) sent as the confidence of a 10-class model: values below 0.1 cannot be the
    # predicted class's probability; the estimate uses only the rows whose confidence can be.
    model, store, _p_ref, _y_ref, x_prod, _y_prod = cli_profile
    conf = np.round(model.predict_proba(x_prod), 6)
    pred = conf.argmax(1)
    sent = conf.max(1)
    sent[::3] = 0.05  # not a top-class probability of 10 classes
    estimates = []
    for rows in (np.ones(len(pred), bool), sent >= 0.1):
        tracker, _, clock = make_tracker(SETTINGS, profiles=store)
        ids = [f"c{i}" for i in range(int(rows.sum()))]
        tracker.ingest([batch("digits", ids, pred[rows].tolist(), conf=sent[rows])])
        estimates.append(perf(tracker.evaluate(clock.t), Metric.PERFORMANCE_ESTIMATED, "accuracy", "none"))
    assert estimates[0] is not None and estimates[0] == pytest.approx(estimates[1], abs=1e-12)
