"""A batch recorded by otel_ml exports what recording each value one by one through the SDK exports.

The oracle is the OTel SDK itself: the same values go value by value into a real SDK
Histogram / Counter on a second MeterProvider, and the exported data points are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_ml import semconv
from otel_ml.instrumentation import Settings, inference
from otel_ml.semconv import Attr, Metric

M = Metric
MVV = {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "1", Attr.VARIANT: "primary"}


def _per_value_oracle(confidences: np.ndarray, predictions: np.ndarray, threshold: float):
    """Export of an SDK histogram and counters fed one value at a time."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("oracle")
    hist = meter.create_histogram("confidence", explicit_bucket_boundaries_advisory=list(semconv.CONFIDENCE_BUCKETS))
    classes = meter.create_counter("classes")
    low = meter.create_counter("low")
    for value, label in zip(confidences.tolist(), predictions.tolist()):
        hist.record(value, MVV)
        classes.add(1, {**MVV, Attr.PREDICTION_CLASS: str(label)})
        if value < threshold:
            low.add(1, MVV)
    out = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = list(metric.data.data_points)
    provider.shutdown()
    return out


def _batches(rng, n_batches=6, boundaries=False):
    """Dyadic confidences (k/1024: every partial sum is exact in floats, so sums compare exactly);
    with ``boundaries``, each batch also holds the bucket bounds themselves (bisect_left edges)."""
    for _ in range(n_batches):
        size = int(rng.integers(20, 300))
        conf = rng.integers(0, 1025, size) / 1024.0
        if boundaries:
            conf = np.concatenate([conf, semconv.CONFIDENCE_BUCKETS])
        preds = rng.choice(np.array(["cat", "dog", "emu", "yak"]), len(conf))
        yield preds, conf


def _point(p):
    return (dict(p.attributes), p.count, p.sum, p.min, p.max, tuple(p.bucket_counts), tuple(p.explicit_bounds))


@pytest.mark.parametrize("boundaries", [False, True])
def test_confidence_histogram_equals_a_histogram_fed_value_by_value(otel, boundaries):
    settings = Settings(events_enabled=False, low_confidence_threshold=0.7)
    batches = list(_batches(np.random.default_rng(int(boundaries)), boundaries=boundaries))
    for preds, conf in batches:
        with inference("m", "1", settings=settings, **otel.providers) as call:
            call.record_outputs(preds, confidences=conf)
    all_preds = np.concatenate([p for p, _ in batches])
    all_conf = np.concatenate([c for _, c in batches])
    oracle = _per_value_oracle(all_conf, all_preds, 0.7)
    got = otel.metrics()
    [hist] = got[M.CONFIDENCE.name]
    assert _point(hist) == _point(oracle["confidence"][0])
    assert hist.count == len(all_conf) and dict(hist.attributes) == MVV
    assert {p.attributes[Attr.PREDICTION_CLASS]: p.value for p in got[M.PREDICTION_CLASS.name]} == \
        {p.attributes[Attr.PREDICTION_CLASS]: p.value for p in oracle["classes"]}
    [low] = got[M.LOW_CONFIDENCE.name]
    assert low.value == oracle["low"][0].value


@pytest.mark.parametrize("sizes", [[1], [1, 1, 1], [7], [1024], [1, 7, 1024, 7, 1]])
def test_histogram_is_exact_on_arbitrary_floats(otel, sizes):
    """Sum, count, min, max and every bucket equal the per-value loop's, bit for bit, on values
    whose partial sums round (the fast path accumulates left to right, as the SDK does)."""
    rng = np.random.default_rng(sum(sizes))
    chunks = [rng.random(n) for n in sizes]
    settings = Settings(events_enabled=False)
    for chunk in chunks:
        with inference("m", "1", settings=settings, **otel.providers) as call:
            call.record_outputs(np.zeros(len(chunk), dtype=int), confidences=chunk)
    conf = np.concatenate(chunks)
    [expected] = _per_value_oracle(conf, np.zeros(len(conf), dtype=int), 0.7)["confidence"]
    [got] = otel.metrics()[M.CONFIDENCE.name]
    assert _point(got) == _point(expected)


@pytest.mark.parametrize("n", [1, 7, 1024])
def test_nan_and_out_of_range_are_counted_as_invalid_not_recorded(otel, n):
    rng = np.random.default_rng(n)
    conf = rng.random(n)
    bad = {0: np.nan, 1: 1.5, 2: -0.25, 3: np.inf}
    for i, value in bad.items():
        if i < n:
            conf[i] = value
    with inference("m", "1", settings=Settings(events_enabled=False), **otel.providers) as call:
        call.record_outputs(np.zeros(n, dtype=int), confidences=conf)
    valid = conf[np.isfinite(conf) & (conf >= 0) & (conf <= 1)]
    m = otel.metrics()
    invalid = {p.attributes[Attr.REJECT_REASON]: p.value for p in m[M.INVALID_TELEMETRY.name]}
    assert invalid == {"invalid_confidence": n - len(valid)}
    if len(valid):
        [expected] = _per_value_oracle(valid, np.zeros(len(valid), dtype=int), 0.7)["confidence"]
        [got] = m[M.CONFIDENCE.name]
        assert _point(got) == _point(expected)
    else:
        assert M.CONFIDENCE.name not in m
    assert [p.value for p in m[M.PREDICTIONS.name]] == [n]


def test_batches_for_different_variants_stay_apart(otel):
    settings = Settings(events_enabled=False)
    for variant, conf in (("primary", [0.95, 0.99]), ("fallback", [0.15])):
        with inference("m", "1", variant=variant, settings=settings, **otel.providers) as call:
            call.record_outputs(["a"] * len(conf), confidences=conf)
    counts = {p.attributes[Attr.VARIANT]: p.count for p in otel.metrics()[M.CONFIDENCE.name]}
    assert counts == {"primary": 2, "fallback": 1}


def test_concurrent_batches_lose_nothing(otel):
    import threading

    settings = Settings(events_enabled=False, class_cardinality_limit=5)
    rng = np.random.default_rng(4)
    work = [(rng.choice(np.array(list("abcdefgh")), 50), rng.integers(0, 1025, 50) / 1024.0) for _ in range(64)]

    def serve(chunk):
        for preds, conf in chunk:
            with inference("m", "1", settings=settings, **otel.providers) as call:
                call.record_outputs(preds, confidences=conf)

    threads = [threading.Thread(target=serve, args=(work[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = otel.metrics()
    all_conf = np.concatenate([c for _, c in work])
    [hist] = m[M.CONFIDENCE.name]
    assert hist.count == len(all_conf)
    assert hist.sum == all_conf.sum()  # dyadic: exact in any order
    classes = {p.attributes[Attr.PREDICTION_CLASS]: p.value for p in m[M.PREDICTION_CLASS.name]}
    assert sum(classes.values()) == len(all_conf) and len(classes) == 6  # 5 admitted + _overflow
    assert [p.value for p in m[M.INFERENCE_REQUESTS.name]] == [64]
    assert m[M.INFERENCE_ACTIVE.name][0].value == 0


@pytest.mark.parametrize("classes", [["cat", "dog", "emu"], None, ["x", "x", "y"], [10, 20, 30]])
def test_classes_from_probabilities_count_like_one_add_per_prediction(otel, classes):
    rng = np.random.default_rng(7)
    proba = rng.dirichlet(np.ones(3), size=500)
    proba[:5] = [[0.5, 0.5, 0.0], [0.2, 0.2, 0.6], [np.nan, 0.5, 0.5], [1.5, 0.0, 0.0], [0.0, 0.0, 1.0]]
    with inference("m", "1", settings=Settings(events_enabled=False), **otel.providers) as call:
        call.record_outputs(probabilities=proba, classes=classes)
    names = np.asarray(classes) if classes is not None else np.arange(3)
    predicted = names[proba.argmax(axis=1)]  # numpy's argmax: the first maximum, a NaN wins
    oracle = _per_value_oracle(np.zeros(len(predicted)), predicted, 0.7)["classes"]
    got = otel.metrics()[M.PREDICTION_CLASS.name]
    assert {p.attributes[Attr.PREDICTION_CLASS]: p.value for p in got} == \
        {p.attributes[Attr.PREDICTION_CLASS]: p.value for p in oracle}
    [hist] = otel.metrics()[M.CONFIDENCE.name]
    valid = proba[np.all((proba >= 0) & (proba <= 1), axis=1)].max(axis=1)
    [expected] = _per_value_oracle(valid, np.zeros(len(valid)), 0.7)["confidence"]
    assert _point(hist) == _point(expected) and hist.count == 498
