"""Builders shared by the accuracy tests: a tracker with an in-memory metric reader, events."""

from __future__ import annotations

from collections import defaultdict

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_ml.config_checks import from_mapping
from otel_ml.processor.accuracy import AccuracySettings, AccuracyTracker
from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch, OutcomeEvent
from otel_ml.semconv import SEGMENT_ALL, Attr, Metric


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_tracker(settings: dict | None = None, profiles=None, clock=None, slots=None):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    clock = clock or Clock()
    tracker = AccuracyTracker(from_mapping(AccuracySettings, settings or {}, "accuracy"), profiles,
                              meter=provider.get_meter("test"), clock=clock, slots=slots)
    return tracker, reader, clock


def batch(model, ids, preds, conf=None, proba=None, segments=None, version="1", t_ns=0):
    return InferenceBatch(model=model, version=version, features={}, predictions=list(preds),
                          confidences=None if conf is None else list(conf),
                          probabilities=proba, prediction_ids=list(ids),
                          segments=None if segments is None else list(segments),
                          time_unix_nano=t_ns)


def labels(ids, values, model=None, version=None, t_ns=0):
    return [GroundTruthEvent(i, v, model, version, t_ns) for i, v in zip(ids, values)]


def outcome(pid, name, value):
    return OutcomeEvent(pid, name, value)


def sums(reader, metric_name: str) -> dict:
    """{frozenset(attributes): value} of a counter (cumulative sums) / histogram (count, sum)."""
    out = {}
    data = reader.get_metrics_data()
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name != metric_name:
                    continue
                for dp in m.data.data_points:
                    key = frozenset(dp.attributes.items())
                    if hasattr(dp, "bucket_counts"):
                        out[key] = dp
                    else:
                        out[key] = dp.value
    return out


def results(reader) -> dict:
    """{result: count} of ml.labels.received over all models."""
    out = defaultdict(int)
    for attrs, value in sums(reader, Metric.LABELS_RECEIVED.name).items():
        out[dict(attrs)[Attr.LABEL_RESULT]] += value
    return dict(out)


def find(points, spec, **attrs):
    """The value of the single point of ``spec`` whose attributes include ``attrs``; None if absent."""
    found = [p for p in points if p.spec is spec
             and all(p.attributes.get(k) == v for k, v in attrs.items())]
    if not found:
        return None
    assert len(found) == 1, found
    return found[0].value


def perf(points, spec, metric, average, segment=SEGMENT_ALL, window="count"):
    """A performance-family gauge by metric name, average, segment and window."""
    return find(points, spec, **{Attr.METRIC_NAME: metric, Attr.METRIC_AVERAGE: average,
                                 Attr.SEGMENT: segment, Attr.WINDOW: window})


def points_of(points, spec):
    return [p for p in points if p.spec is spec]
