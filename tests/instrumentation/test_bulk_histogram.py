"""``BulkHistogram.record_many`` exports exactly what a per-value ``record()`` loop exports.

The oracle is the installed OTel SDK: the same values go one by one into a second histogram on
the same provider, and the data points (count, sum, min, max, every bucket) are compared for
equality, not closeness. The fallback is tested by forcing it: an SDK whose aggregation keeps
its state elsewhere, an SDK version outside the tested range, and a view with another aggregation.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics._internal import aggregation as sdk_aggregation
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

from otel_ml import bulk_histogram
from otel_ml.bulk_histogram import BulkHistogram, fast_path_problem

BOUNDS = (0.1, 0.25, 0.5, 0.75, 0.9)
ATTRS = {"ml.model.name": "m", "ml.model.version": "1"}


@pytest.fixture(autouse=True)
def _fresh_check():
    bulk_histogram._reset_for_tests()
    yield
    bulk_histogram._reset_for_tests()


def _points(reader) -> dict:
    out = {}
    data = reader.get_metrics_data()
    for rm in (data.resource_metrics if data else []):
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = sorted(
                    ((tuple(sorted(p.attributes.items())), p.count, p.sum, p.min, p.max,
                      tuple(getattr(p, "bucket_counts", ()) or ())) for p in metric.data.data_points))
    return out


def _pair(provider):
    meter = provider.get_meter("t")
    loop = meter.create_histogram("loop", explicit_bucket_boundaries_advisory=list(BOUNDS))
    bulk = meter.create_histogram("bulk", explicit_bucket_boundaries_advisory=list(BOUNDS))
    return loop, BulkHistogram(bulk, BOUNDS)


def _feed(loop, helper, batches, attrs=ATTRS, exemplar=True):
    for values in batches:
        for v in values.tolist():
            loop.record(v, attrs)
        if len(values) == 1 and not exemplar:
            helper.record_value(float(values[0]), attrs, exemplar=False)
        else:
            helper.record_many(values, attrs, exemplar=exemplar)


def _values(rng, n):
    values = rng.random(n)
    values[: min(n, len(BOUNDS))] = BOUNDS[: min(n, len(BOUNDS))]  # bisect_left edges
    return values


#: The fast path is on only for the SDK versions it was tested against; the floors job runs these
#: tests on the declared minimum SDK, where the loop must keep the same data.
IN_RANGE = bulk_histogram.sdk_in_tested_range()
OUT_OF_RANGE = "outside the tested range"


def test_fast_path_is_on_for_the_installed_sdk():
    if IN_RANGE:
        assert fast_path_problem() is None
    else:
        assert OUT_OF_RANGE in fast_path_problem()


@pytest.mark.parametrize("exemplar", [True, False])
@pytest.mark.parametrize("sizes", [[1], [7], [1024], [1, 7, 1024, 3], [1, 1, 1]])
def test_equals_the_loop_on_cumulative_and_delta_readers_across_collections(sizes, exemplar):
    cumulative = InMemoryMetricReader()
    delta = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[cumulative, delta])
    loop, helper = _pair(provider)
    rng = np.random.default_rng(len(sizes))
    for round_ in range(3):  # a delta collection resets the aggregation in between
        _feed(loop, helper, [_values(rng, n) for n in sizes], exemplar=exemplar)
        for reader in (cumulative, delta):
            points = _points(reader)
            assert points["bulk"] == points["loop"], (round_, reader)
            assert points["bulk"][0][1] == (round_ + 1) * sum(sizes) if reader is cumulative else sum(sizes)
    provider.shutdown()


def test_integers_keep_the_loops_data_too():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    loop, helper = _pair(provider)
    for n in (1, 32, 1, 5, 1024):
        loop.record(n, ATTRS)
        helper.record_value(n, ATTRS, exemplar=False)
    points = _points(reader)
    assert points["bulk"] == points["loop"]


def test_exemplars_link_the_first_value_to_the_trace_and_none_when_off():
    from opentelemetry import context, trace
    from opentelemetry.sdk.trace import TracerProvider

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("t")
    with_ex, without = (BulkHistogram(meter.create_histogram(name, explicit_bucket_boundaries_advisory=list(BOUNDS)),
                                      BOUNDS) for name in ("with", "without"))
    without.record_value(0.1, ATTRS, exemplar=False)  # a first value creates the storage (via record())
    span = TracerProvider().get_tracer("t").start_span("call")
    token = context.attach(trace.set_span_in_context(span))
    try:
        with_ex.record_many(np.array([0.3, 0.6, 0.95]), ATTRS)
        without.record_many(np.array([0.3, 0.6, 0.95]), ATTRS, exemplar=False)
        without.record_value(0.4, ATTRS, exemplar=False)
    finally:
        context.detach(token)
        span.end()
    data = {m.name: m.data.data_points[0] for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics for m in sm.metrics}
    if not IN_RANGE:  # the loop samples exemplars per value, as plain record() does
        assert data["with"].exemplars and data["with"].exemplars[0].trace_id == span.get_span_context().trace_id
        return
    [exemplar] = data["with"].exemplars
    assert exemplar.value == 0.3 and exemplar.trace_id == span.get_span_context().trace_id
    assert data["with"].count == 3 and data["without"].count == 5 and not data["without"].exemplars


def test_non_finite_and_negative_values_are_left_out_as_record_does():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    loop, helper = _pair(provider)
    values = np.array([0.2, np.nan, -1.0, np.inf, 0.9, 0.0, 3.0])
    for v in values[np.isfinite(values) & (values >= 0)].tolist():
        loop.record(v, ATTRS)
    helper.record_many(values, ATTRS)
    points = _points(reader)
    assert points["bulk"] == points["loop"] and points["bulk"][0][1] == 4


@pytest.mark.parametrize("exemplar", [True, False])
def test_a_view_that_drops_attributes_gets_the_same_merged_point(exemplar):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=[
        View(instrument_name="loop", attribute_keys={"ml.model.name"}),
        View(instrument_name="bulk", attribute_keys={"ml.model.name"})])
    loop, helper = _pair(provider)
    rng = np.random.default_rng(3)
    for version in ("1", "2"):
        _feed(loop, helper, [_values(rng, 50), _values(rng, 1)], {**ATTRS, "ml.model.version": version},
              exemplar=exemplar)
    points = _points(reader)
    assert points["bulk"] == points["loop"] and len(points["bulk"]) == 1


def test_a_view_with_another_aggregation_falls_back_to_the_loop_with_one_warning(caplog):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=[
        View(instrument_name="loop", aggregation=ExponentialBucketHistogramAggregation()),
        View(instrument_name="bulk", aggregation=ExponentialBucketHistogramAggregation())])
    loop, helper = _pair(provider)
    rng = np.random.default_rng(4)
    with caplog.at_level(logging.WARNING, logger="otel_ml.bulk_histogram"):
        _feed(loop, helper, [rng.random(40) for _ in range(3)])
    points = _points(reader)
    assert points["bulk"] == points["loop"] and points["bulk"][0][1] == 120
    warnings = [r for r in caplog.records if r.name == "otel_ml.bulk_histogram"]
    assert len(warnings) == 1 and ("another aggregation" if IN_RANGE else OUT_OF_RANGE) in warnings[0].getMessage()


class _StateElsewhere(sdk_aggregation._ExplicitBucketHistogramAggregation):
    """An SDK whose histogram counts live in another field than the fast path writes."""

    def aggregate(self, measurement, should_sample_exemplar=True):
        super().aggregate(measurement, should_sample_exemplar)
        self._seen = getattr(self, "_seen", 0) + 1

    def collect(self, temporality, start):
        point = super().collect(temporality, start)
        return dataclasses.replace(point, count=getattr(self, "_seen", 0)) if point is not None else None


def test_changed_sdk_internals_are_caught_at_start_and_the_loop_keeps_data_exact(monkeypatch, caplog):
    monkeypatch.setattr(sdk_aggregation, "_ExplicitBucketHistogramAggregation", _StateElsewhere)
    with caplog.at_level(logging.WARNING, logger="otel_ml.bulk_histogram"):
        assert ("differs from a record() loop" if IN_RANGE else OUT_OF_RANGE) in fast_path_problem()
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        loop, helper = _pair(provider)
        rng = np.random.default_rng(5)
        _feed(loop, helper, [_values(rng, n) for n in (1, 7, 1024)])
    points = _points(reader)
    assert points["bulk"] == points["loop"] and points["bulk"][0][1] == 1032
    assert len([r for r in caplog.records if r.name == "otel_ml.bulk_histogram"]) == 1


def test_an_sdk_outside_the_tested_range_uses_the_loop(monkeypatch, caplog):
    monkeypatch.setattr(bulk_histogram, "SUPPORTED_SDK", ((0, 1), (0, 2)))
    assert "outside the tested range" in fast_path_problem()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    loop, helper = _pair(provider)
    with caplog.at_level(logging.WARNING, logger="otel_ml.bulk_histogram"):
        _feed(loop, helper, [np.random.default_rng(6).random(100) for _ in range(2)])
    points = _points(reader)
    assert points["bulk"] == points["loop"] and points["bulk"][0][1] == 200
    assert len([r for r in caplog.records if r.name == "otel_ml.bulk_histogram"]) == 1


def test_the_check_runs_when_the_instrumentation_starts_and_warns_once(monkeypatch, caplog):
    from otel_ml.instrumentation import Settings, inference
    from otel_ml.instrumentation.telemetry import instruments_for

    monkeypatch.setattr(bulk_histogram, "SUPPORTED_SDK", ((0, 1), (0, 2)))
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    with caplog.at_level(logging.WARNING, logger="otel_ml.bulk_histogram"):
        instruments_for(provider)  # start-up: before any request
        assert [r.getMessage() for r in caplog.records if r.name == "otel_ml.bulk_histogram"] != []
        values = np.random.default_rng(8).random(300)
        with inference("m", "1", settings=Settings(events_enabled=False), meter_provider=provider) as call:
            call.record_outputs(np.zeros(300, dtype=int), confidences=values)
    assert len([r for r in caplog.records if r.name == "otel_ml.bulk_histogram"]) == 1
    [point] = [p for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
               for m in sm.metrics if m.name == "ml.prediction.confidence" for p in m.data.data_points]
    assert point.count == 300
    provider.shutdown()
