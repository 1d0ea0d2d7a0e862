"""Label-free estimation in the tracker, on a scikit-learn dataset, before and after labels.

Tolerance (same as the stats-level test): |estimate - realized| <= 3 sqrt(a (1 - a) / n) + 0.02,
i.e. the binomial noise of the realized accuracy around the expectation CBPE estimates, plus
0.02 for the error of an isotonic calibration fitted on ~540 reference rows.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from otel_ml.processor.accuracy import performance_section
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.semconv import Attr, Metric

from .helpers import batch, find, labels, make_tracker, perf

SETTINGS = {"window": {"count": 1000, "time_s": None, "min_labels": 50, "min_predictions": 50,
                       "max_events": 2000}, "baseline": {"source": "reference", "labels": 100}}


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, train_size=0.4, random_state=0, stratify=y)
    x_ref, x_prod, y_ref, y_prod = train_test_split(x_rest, y_rest, train_size=0.5,
                                                    random_state=0, stratify=y_rest)
    model = GaussianNB().fit(x_tr, y_tr)
    p_ref = model.predict_proba(x_ref)
    section = performance_section(y_ref, p_ref.argmax(1), confidences=p_ref.max(1),
                                  probabilities=p_ref, classes=list(range(10)))
    store = ProfileStore()
    store.add(build_profile("digits", "1", {"pixel": x_ref[:, 20]}, performance=section),
              "digits", "1")
    return model, store, x_prod, y_prod


def _send(tracker, model, x, prefix):
    proba = model.predict_proba(x)
    pred = proba.argmax(1)
    ids = [f"{prefix}{i}" for i in range(len(x))]
    tracker.ingest([batch("digits", ids, pred.tolist(), conf=proba.max(1),
                          proba={str(c): proba[:, c] for c in range(10)})])
    return ids, pred


def _tolerance(acc, n):
    return 3 * np.sqrt(acc * (1 - acc) / n) + 0.02


def test_estimate_is_there_before_labels_and_tracks_under_covariate_shift(digits):
    model, store, x_prod, y_prod = digits
    conf = model.predict_proba(x_prod).max(1)
    hard = conf <= np.quantile(conf, 0.3)  # covariate shift: traffic of inputs the model finds hard
    for mask in (np.ones(len(y_prod), bool), hard):
        tracker, _, clock = make_tracker(SETTINGS, profiles=store)
        ids, pred = _send(tracker, model, x_prod[mask], "d")
        before = tracker.evaluate(clock.t)
        estimate = perf(before, Metric.PERFORMANCE_ESTIMATED, "accuracy", "none")
        assert estimate is not None  # visible before any label
        assert perf(before, Metric.PERFORMANCE, "accuracy", "none") is None
        assert find(before, Metric.LABELS_COVERAGE, **{Attr.WINDOW: "count"}) == 0.0

        tracker.ingest(labels(ids, y_prod[mask].tolist()))
        after = tracker.evaluate(clock.t)
        realized = perf(after, Metric.PERFORMANCE, "accuracy", "none")
        assert realized == pytest.approx(np.mean(pred == y_prod[mask]))
        n = int(mask.sum())
        assert abs(estimate - realized) <= _tolerance(realized, n), (estimate, realized, n)
        # the estimate exports precision / recall / f1 beside accuracy
        assert perf(after, Metric.PERFORMANCE_ESTIMATED, "f1", "macro") is not None
    # and the shift did move accuracy: the estimate followed a real change
    assert np.mean(model.predict(x_prod[hard]) == y_prod[hard]) < np.mean(
        model.predict(x_prod) == y_prod) - 0.1


def test_estimate_misses_concept_shift_the_documented_limit(digits):
    model, store, x_prod, y_prod = digits
    tracker, _, clock = make_tracker(SETTINGS, profiles=store)
    ids, pred = _send(tracker, model, x_prod, "c")
    y_concept = y_prod.copy()
    moved = np.isin(y_concept, [1, 3, 7])
    y_concept[moved] = (y_concept[moved] + 1) % 10  # same inputs, other meaning
    tracker.ingest(labels(ids, y_concept.tolist()))
    pts = tracker.evaluate(clock.t)
    realized = perf(pts, Metric.PERFORMANCE, "accuracy", "none")
    estimate = perf(pts, Metric.PERFORMANCE_ESTIMATED, "accuracy", "none")
    assert estimate - realized > 0.15
    assert perf(pts, Metric.PERFORMANCE_DECAY_SIGNIFICANT, "accuracy", "none") == 1.0


def test_binary_estimate_uses_the_positive_class_calibration():
    rng = np.random.default_rng(5)

    def scores(n):  # the model's raw scores are over-confident: P(y=1 | s) = s ** 2
        s = rng.random(n)
        y = (rng.random(n) < s ** 2).astype(int)
        return s, y, (s > 0.5).astype(int)

    s_ref, y_ref, pred_ref = scores(3000)
    section = performance_section(y_ref, pred_ref, probabilities={0: 1 - s_ref, 1: s_ref})
    store = ProfileStore()
    store.add(build_profile("b", "1", {"x": s_ref}, performance=section), "b", "1")
    tracker, _, clock = make_tracker({**SETTINGS, "models": {}}, profiles=store)
    s, y, pred = scores(2000)
    ids = [f"b{i}" for i in range(2000)]
    tracker.ingest([batch("b", ids, pred.tolist(), conf=np.maximum(s, 1 - s),
                          proba={"0": 1 - s, "1": s})])
    tracker.ingest(labels(ids, y.tolist()))
    pts = tracker.evaluate(clock.t)
    for metric, avg in (("accuracy", "none"), ("precision", "binary"), ("recall", "binary"),
                        ("f1", "binary")):
        realized = perf(pts, Metric.PERFORMANCE, metric, avg)
        estimate = perf(pts, Metric.PERFORMANCE_ESTIMATED, metric, avg)
        assert abs(estimate - realized) <= _tolerance(realized, 2000), (metric, estimate, realized)
    # without calibration (raw scores taken at face value) the estimate would be far off
    raw_expected_precision = s[pred == 1].mean()
    assert raw_expected_precision - perf(pts, Metric.PERFORMANCE, "precision", "binary") > 0.1


def test_confidence_only_multiclass_estimates_accuracy_with_the_correctness_map(digits):
    model, store, x_prod, y_prod = digits
    from otel_ml.processor.accuracy import ReferencePerformance
    from otel_ml.stats.estimation import expected_accuracy

    tracker, _, clock = make_tracker(SETTINGS, profiles=store)
    proba = model.predict_proba(x_prod)
    ids = [f"k{i}" for i in range(len(x_prod))]
    tracker.ingest([batch("digits", ids, proba.argmax(1).tolist(), conf=proba.max(1))])
    pts = tracker.evaluate(clock.t)
    reference = ReferencePerformance.from_section(store.get("digits", "1").performance)
    assert perf(pts, Metric.PERFORMANCE_ESTIMATED, "accuracy", "none") == pytest.approx(
        expected_accuracy(proba.max(1), reference.correctness), rel=1e-6)
    assert perf(pts, Metric.PERFORMANCE_ESTIMATED, "f1", "macro") is None  # needs probabilities
