"""The reference performance section, the baseline it gives, and decay with its tests.

Oracles: scikit-learn for the metrics, SciPy's chi-square on the 2x2 table for the z-test,
scikit-learn's weighted f1 on the very same bootstrap weights for the bootstrap p-value,
SciPy's linregress for the trend.
"""

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from otel_ml.processor.accuracy import ReferenceFormatError, ReferencePerformance, performance_section
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.semconv import Metric
from otel_ml.stats.decay import bootstrap_weights

from .helpers import Clock, batch, labels, make_tracker, perf


def _binary(n, acc, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right = rng.random(n) < acc
    pred = np.where(right, y, 1 - y)
    conf = np.clip(np.where(right, 0.85, 0.65) + rng.normal(0, 0.05, n), 0.5, 1.0)
    return y, pred, conf


def test_performance_section_equals_sklearn_and_carries_calibration():
    y, pred, conf = _binary(2000, 0.9, 0)
    sec = performance_section(y, pred, confidences=conf)
    assert sec["task"] == "classification" and sec["n"] == 2000
    assert sec["classes"] == ["0", "1"] and sec["positive_class"] == "1"
    assert sec["correct"] == int((y == pred).sum())
    assert sec["metrics"]["accuracy"]["none"] == pytest.approx(skm.accuracy_score(y, pred))
    assert sec["metrics"]["f1"]["binary"] == pytest.approx(skm.f1_score(y, pred))
    p1 = np.where(pred == 1, conf, 1 - conf)
    assert sec["metrics"]["roc_auc"]["binary"] == pytest.approx(skm.roc_auc_score(y, p1))
    cal = ReferencePerformance.from_section(sec).correctness
    # right predictions have confidences ~0.85, wrong ones ~0.65: calibration separates them
    assert cal.predict(np.array([0.6]))[0] < 0.2 < 0.9 < cal.predict(np.array([0.9]))[0]

    rng = np.random.default_rng(1)
    yk = rng.integers(0, 3, 500)
    proba = rng.dirichlet(np.ones(3), 500)
    pk = proba.argmax(1)
    sec3 = performance_section(yk, pk, probabilities={c: proba[:, c] for c in range(3)})
    assert sec3["positive_class"] is None
    assert sec3["metrics"]["f1"]["macro"] == pytest.approx(skm.f1_score(yk, pk, average="macro"))
    assert sec3["metrics"]["roc_auc"]["weighted"] == pytest.approx(
        skm.roc_auc_score(yk, proba, multi_class="ovr", average="weighted"))
    assert set(sec3["calibration"]["classes"]) == {"0", "1", "2"}

    yr = rng.normal(size=100)
    secr = performance_section(yr, yr + 0.1, task="regression")
    assert secr["metrics"]["mae"]["none"] == pytest.approx(0.1)


@pytest.mark.parametrize("call", [
    lambda: performance_section([], []),
    lambda: performance_section([1, 0], [1]),
    lambda: performance_section([None, None], [1, 0]),
    lambda: performance_section([1, 0], [1, 0], probabilities=np.ones((2, 3))),
    lambda: performance_section(["a"], ["b"], task="ranking"),
])
def test_performance_section_rejects_bad_input(call):
    with pytest.raises(ReferenceFormatError):
        call()


@pytest.mark.parametrize("mutate,field", [
    (lambda s: s.update(format_version=7), "format_version"),
    (lambda s: s.update(n=0), ".n"),
    (lambda s: s["metrics"].update(accuracy={"none": "high"}), "metrics.accuracy.none"),
    (lambda s: s.update(correct=10 ** 9), ".correct"),
    (lambda s: s["calibration"].update(correctness={"x": [1, 0], "y": [0, 1]}), "calibration"),
])
def test_malformed_sections_name_the_field(mutate, field):
    sec = performance_section(*_binary(100, 0.9, 2))
    mutate(sec)
    with pytest.raises(ReferenceFormatError, match=field.replace(".", r"\.")):
        ReferencePerformance.from_section(sec)


def _store_with_reference(tmp_path, section):
    profile = build_profile("m", "1", {"x": np.arange(50.0)}, performance=section)
    path = tmp_path / "m.json"
    profile.save(path)
    store = ProfileStore()
    store.load("m", "1", path)  # through the real file format
    return store


DECAY = {"window": {"count": 1000, "time_s": None, "min_labels": 100, "max_events": 5000},
         "decay": {"thresholds": {"accuracy": {"absolute": 0.05}, "f1": {"absolute": 0.05}},
                   "bootstrap_resamples": 200, "seed": 3}}


def _feed(tracker, y, pred, conf, prefix):
    ids = [f"{prefix}{i}" for i in range(len(y))]
    tracker.ingest([batch("m", ids, pred.tolist(), conf=conf)])
    tracker.ingest(labels(ids, y.tolist()))


@pytest.mark.parametrize("acc,significant", [(0.90, 0.0), (0.87, 0.0), (0.80, 1.0)])
def test_decay_against_the_reference_baseline(tmp_path, acc, significant):
    ref = _binary(2000, 0.9, 10)
    section = performance_section(*ref)
    tracker, _, clock = make_tracker(DECAY, profiles=_store_with_reference(tmp_path, section))
    y, pred, conf = _binary(1000, acc, 11)
    _feed(tracker, y, pred, conf, "p")
    pts = tracker.evaluate(clock.t)
    base_acc = section["metrics"]["accuracy"]["none"]
    cur = skm.accuracy_score(y, pred)
    assert perf(pts, Metric.PERFORMANCE_BASELINE, "accuracy", "none") == pytest.approx(base_acc)
    assert perf(pts, Metric.PERFORMANCE_DECAY, "accuracy", "none") == pytest.approx(base_acc - cur)
    # two-proportion z-test == chi-square test of the 2x2 table (one-sided half)
    table = [[section["correct"], 2000 - section["correct"]], [(y == pred).sum(), (y != pred).sum()]]
    _, p_two, _, _ = stats.chi2_contingency(table, correction=False)
    expected_p = p_two / 2 if base_acc > cur else 1 - p_two / 2
    assert perf(pts, Metric.PERFORMANCE_DECAY_P_VALUE, "accuracy", "none") == pytest.approx(
        expected_p, rel=1e-6)
    assert perf(pts, Metric.PERFORMANCE_DECAY_SIGNIFICANT, "accuracy", "none") == significant
    if acc == 0.87:  # a drop that may be significant but stays below the 0.05 threshold
        assert base_acc - cur < 0.05


def test_bootstrap_p_value_equals_sklearn_on_the_same_resamples(tmp_path):
    ref = _binary(2000, 0.9, 20)
    section = performance_section(*ref)
    tracker, _, clock = make_tracker(DECAY, profiles=_store_with_reference(tmp_path, section))
    y, pred, conf = _binary(1000, 0.86, 21)
    _feed(tracker, y, pred, conf, "b")
    pts = tracker.evaluate(clock.t)
    base_f1 = section["metrics"]["f1"]["binary"]
    w = bootstrap_weights(1000, 200, np.random.default_rng(3))  # the configured seed
    replicates = np.array([skm.f1_score(y, pred, sample_weight=w[b]) for b in range(200)])
    expected = (1 + np.sum(replicates >= base_f1)) / 201
    assert perf(pts, Metric.PERFORMANCE_DECAY_P_VALUE, "f1", "binary") == pytest.approx(expected)
    assert perf(pts, Metric.PERFORMANCE_DECAY, "f1", "binary") == pytest.approx(
        base_f1 - skm.f1_score(y, pred))


def test_baseline_learned_from_the_first_labels_without_a_reference():
    settings = {**DECAY, "baseline": {"source": "auto", "labels": 500}}
    tracker, _, clock = make_tracker(settings)
    y1, p1, c1 = _binary(500, 0.92, 30)
    _feed(tracker, y1, p1, c1, "first")
    y2, p2, c2 = _binary(600, 0.75, 31)
    _feed(tracker, y2, p2, c2, "later")
    pts = tracker.evaluate(clock.t)
    assert perf(pts, Metric.PERFORMANCE_BASELINE, "accuracy", "none") == pytest.approx(
        skm.accuracy_score(y1, p1))
    assert perf(pts, Metric.PERFORMANCE_DECAY_SIGNIFICANT, "accuracy", "none") == 1.0
    # the learned baseline survives a restart
    restarted, _, _ = make_tracker(settings, clock=clock)
    restarted.restore(tracker.snapshot())
    assert perf(restarted.evaluate(clock.t), Metric.PERFORMANCE_BASELINE, "accuracy",
                "none") == pytest.approx(skm.accuracy_score(y1, p1))


def test_reference_source_without_a_reference_gives_no_decay():
    tracker, _, clock = make_tracker({**DECAY, "baseline": {"source": "reference", "labels": 100}})
    _feed(tracker, *_binary(300, 0.7, 40), "x")
    pts = tracker.evaluate(clock.t)
    assert perf(pts, Metric.PERFORMANCE, "accuracy", "none") is not None
    assert perf(pts, Metric.PERFORMANCE_DECAY, "accuracy", "none") is None


def test_trend_and_time_to_threshold_match_linregress(tmp_path):
    ref = _binary(2000, 0.9, 50)
    section = performance_section(*ref)
    clock = Clock(1_000_000.0)
    # evaluated an hour after the last block: stale_after_s longer than that keeps it serving
    settings = {**DECAY, "window": {**DECAY["window"], "stale_after_s": 7200},
                "trend": {"windows": 6, "min_windows": 3, "block_labels": 400}}
    tracker, _, _ = make_tracker(settings, profiles=_store_with_reference(tmp_path, section),
                                 clock=clock)
    times, accs = [], []
    for b in range(8):  # accuracy falls block by block; one block per hour of predictions
        y, pred, conf = _binary(400, 0.9 - 0.004 * b, 60 + b)
        t_pred = clock.t
        ids = [f"{b}-{i}" for i in range(400)]
        tracker.ingest([batch("m", ids, pred.tolist(), conf=conf, t_ns=int(t_pred * 1e9))])
        tracker.ingest(labels(ids, y.tolist()))
        times.append(t_pred)
        accs.append(skm.accuracy_score(y, pred))
        if b in (2, 5):
            tracker.evaluate(clock.t)  # blocks are picked up whenever evaluation runs
        clock.t += 3600
    pts = tracker.evaluate(clock.t)
    fit = stats.linregress(times[-6:], accs[-6:])  # the last 6 blocks
    assert perf(pts, Metric.PERFORMANCE_TREND, "accuracy", "none") == pytest.approx(
        fit.slope * 3600, rel=1e-6)
    level = section["metrics"]["accuracy"]["none"] - 0.05
    now_value = fit.intercept + fit.slope * clock.t
    expected = max(0.0, (now_value - level) / -fit.slope) if now_value > level else 0.0
    assert perf(pts, Metric.PERFORMANCE_TIME_TO_THRESHOLD, "accuracy", "none") == pytest.approx(
        expected, rel=1e-6, abs=1e-6)
    assert expected > 3600  # the forecast is in the future, not trivially 0


def test_large_windows_are_bootstrapped_on_a_seeded_subsample(tmp_path):
    ref = _binary(2000, 0.9, 70)
    section = performance_section(*ref)
    settings = {**DECAY, "decay": {**DECAY["decay"], "bootstrap_max_rows": 300}}
    tracker, _, clock = make_tracker(settings, profiles=_store_with_reference(tmp_path, section))
    y, pred, conf = _binary(1000, 0.87, 71)
    _feed(tracker, y, pred, conf, "s")
    pts = tracker.evaluate(clock.t)
    rng = np.random.default_rng(3)
    keep = np.sort(rng.choice(1000, 300, replace=False))
    w = bootstrap_weights(300, 200, rng)
    base_f1 = section["metrics"]["f1"]["binary"]
    replicates = np.array([skm.f1_score(y[keep], pred[keep], sample_weight=w[b])
                           for b in range(200)])
    assert perf(pts, Metric.PERFORMANCE_DECAY_P_VALUE, "f1", "binary") == pytest.approx(
        (1 + np.sum(replicates >= base_f1)) / 201)
