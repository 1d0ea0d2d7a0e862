"""Instrumentation overhead: otel_ml against hand-written OTel on a real scikit-learn model.

One run, medians of interleaved repeats of the process's CPU time (a load change on the shared
machine hits every candidate alike, and time spent descheduled does not count; the SDK's export
threads do; the ratios are what we report):

(a) ``LogisticRegression.predict_proba`` on batches of 1, 32 and 1,024 rows, three ways:
    plain (no telemetry); auto-instrumented by ``SklearnInstrumentor`` (span, RED, batch size,
    confidence histogram, predicted class, low-confidence count); and hand-written OTel: a span
    plus duration, request count, batch size and one confidence ``record()`` per value.
    Reported: (otel_ml - plain) / (hand-written - plain). Target <= 1.0 at batch 1 (stretch 0.6).
    plain and hand-written run on the unpatched class (the instrumentor is removed and put back
    between samples, untimed), so no otel_ml code is inside them.
(b) The 1,024-row call's whole otel_ml overhead against a per-value ``Histogram.record()`` loop
    of its 1,024 confidences. Target <= 1/20.
(c) Per component: the span, each kind of SDK measurement, otel_ml's numpy work.

Providers as in a service: BatchSpanProcessor and a periodic metric reader, both into
discarding exporters; inference events off (the hand-written side has none; their cost is
shown in (c)). Run: .venv/bin/python benchmarks/bench_instrumentation.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import (  # noqa: E402
    MetricExporter, MetricExportResult, PeriodicExportingMetricReader)
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from otel_ml import semconv  # noqa: E402
from otel_ml.instrumentation import Settings  # noqa: E402
from otel_ml.instrumentation.outputs import class_counts, summarize  # noqa: E402
from otel_ml.instrumentation.sklearn import SklearnInstrumentor  # noqa: E402
from otel_ml.semconv import Attr  # noqa: E402

BATCHES = (1, 32, 1024)


class _DiscardSpans(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


class _DiscardMetrics(MetricExporter):
    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass


class _DiscardLogs(LogRecordExporter):
    def export(self, batch):
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis=30_000):
        return True

    def shutdown(self):
        pass


_clock = time.process_time  # CPU seconds of this process, all threads


def _interleaved(fns: dict, repeats: int, inner: int, setup: dict | None = None) -> dict:
    """Median CPU microseconds per call of each function, measured round-robin; ``setup[name]``
    runs (untimed) before each of ``name``'s samples."""
    setup = setup or {}
    for name, fn in fns.items():
        setup.get(name, lambda: None)()
        for _ in range(max(1, inner // 4)):
            fn()  # warm-up
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            setup.get(name, lambda: None)()
            k = inner
            start = _clock()
            for _ in range(k):
                fn()
            samples[name].append((_clock() - start) / k * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _providers():
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(_DiscardSpans(), max_queue_size=1 << 16, schedule_delay_millis=500))
    reader = PeriodicExportingMetricReader(_DiscardMetrics(), export_interval_millis=1000)
    return tp, MeterProvider(metric_readers=[reader])


class HandWritten:
    """What a user writes by hand: a span plus duration, request count, batch size and confidence
    (one ``record()`` per value, as the OTel API requires)."""

    def __init__(self, tp, mp, predict):
        self.tracer = tp.get_tracer("bench.handwritten")
        meter = mp.get_meter("bench.handwritten")
        self.duration = meter.create_histogram("hw.duration", unit="s",
                                               explicit_bucket_boundaries_advisory=list(semconv.LATENCY_BUCKETS_S))
        self.requests = meter.create_counter("hw.requests")
        self.batch = meter.create_histogram("hw.batch_size",
                                            explicit_bucket_boundaries_advisory=list(semconv.BATCH_SIZE_BUCKETS))
        self.confidence = meter.create_histogram("hw.confidence",
                                                 explicit_bucket_boundaries_advisory=list(semconv.CONFIDENCE_BUCKETS))
        self.predict = predict
        self.mvv = {Attr.MODEL_NAME: "LogisticRegression", Attr.MODEL_VERSION: "1", Attr.VARIANT: "primary"}
        self.red = {**self.mvv, Attr.STATUS: "ok"}

    def call(self, model, X):
        mvv = self.mvv
        with self.tracer.start_as_current_span("ml.inference", attributes=mvv):
            start = time.perf_counter()
            proba = self.predict(model, X)
            self.requests.add(1, self.red)
            self.duration.record(time.perf_counter() - start, self.red)
            self.batch.record(len(X), mvv)
            record = self.confidence.record
            for value in proba.max(axis=1).tolist():
                record(value, mvv)
        return proba


def _model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 8))
    y = rng.integers(0, 3, 2000)
    return LogisticRegression(max_iter=200).fit(X, y), rng.normal(size=(max(BATCHES), 8))


def bench_calls(repeats: int, scale: float) -> tuple[dict, dict]:
    """(a) and (b): per batch size, median us of plain / otel_ml / hand-written, and the loop."""
    tp, mp = _providers()
    model, X_all = _model()
    original = LogisticRegression.predict_proba
    hand = HandWritten(tp, mp, original)
    settings = Settings(events_enabled=False, model_version="1", gpu_metrics=False, process_metrics=False)
    instrumentor = SklearnInstrumentor()

    def patched():  # otel_ml runs on the instrumented class ...
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=tp, meter_provider=mp, settings=settings)

    def unpatched():  # ... plain and hand-written on the untouched one (predict_proba calls
        if instrumentor.is_instrumented_by_opentelemetry:  # decision_function: no span inside)
            instrumentor.uninstrument()
    loop_hist = mp.get_meter("bench.loop").create_histogram(
        "loop.confidence", explicit_bucket_boundaries_advisory=list(semconv.CONFIDENCE_BUCKETS))
    results = {}
    try:
        for n in BATCHES:
            X = X_all[:n]
            values = original(model, X).max(axis=1).tolist()
            attrs = dict(hand.mvv)

            def loop(values=values, attrs=attrs):
                for v in values:
                    loop_hist.record(v, attrs)
            inner = max(3, int(scale * 400 / (1 + n / 8)))
            fns = {"plain": lambda X=X: original(model, X),
                   "hand-written": lambda X=X: hand.call(model, X),
                   "otel_ml": lambda X=X: model.predict_proba(X)}
            if n == max(BATCHES):
                fns["per-value loop"] = loop
            setup = {"plain": unpatched, "hand-written": unpatched, "otel_ml": patched}
            results[n] = _interleaved(fns, repeats, inner, setup)
    finally:
        unpatched()
        tp.shutdown()
        mp.shutdown()
    return results


def bench_components(repeats: int, scale: float) -> dict:
    """(c) one measurement of each kind, inside a sampled span, and otel_ml's numpy work."""
    tp, mp = _providers()
    tracer = tp.get_tracer("bench.components")
    meter = mp.get_meter("bench.components")
    counter, updown = meter.create_counter("c"), meter.create_up_down_counter("u")
    hist = meter.create_histogram("h", explicit_bucket_boundaries_advisory=list(semconv.CONFIDENCE_BUCKETS))
    attrs3 = {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "1", Attr.VARIANT: "primary"}
    attrs5 = {**attrs3, Attr.STATUS: "ok", Attr.ENDPOINT: "/predict"}
    proba1 = np.random.default_rng(3).dirichlet(np.ones(3), size=1)
    proba32 = np.random.default_rng(3).dirichlet(np.ones(3), size=32)
    conf1024 = np.random.default_rng(4).random(1024)
    classes = np.array(["a", "b", "c"])

    def span_only():
        s = tracer.start_span("ml.inference", attributes=attrs3)
        t = otel_context.attach(trace.set_span_in_context(s))
        otel_context.detach(t)
        s.end()

    fns = {"span: start + attach + detach + end, 3 attributes": span_only,
           "counter.add, 3 attributes": lambda: counter.add(1, attrs3),
           "counter.add, 5 attributes": lambda: counter.add(1, attrs5),
           "up_down_counter.add, 3 attributes": lambda: updown.add(1, attrs3),
           "histogram.record, 3 attributes": lambda: hist.record(0.5, attrs3),
           "numpy: summarize(probabilities), 1 row": lambda: summarize(probabilities=proba1, classes=classes),
           "numpy: summarize(probabilities), 32 rows": lambda: summarize(probabilities=proba32, classes=classes),
           "numpy: class_counts, 32 rows": lambda: class_counts(classes[proba32.argmax(axis=1)])}
    try:  # otel_ml's own recording paths (absent from older otel_ml: the benchmark runs on both)
        from otel_ml.bulk_histogram import BulkHistogram
        from otel_ml.instrumentation.series import Cells
        hist2 = meter.create_histogram("h2", explicit_bucket_boundaries_advisory=list(semconv.CONFIDENCE_BUCKETS))
        bulk = BulkHistogram(hist2, semconv.CONFIDENCE_BUCKETS)
        cells = Cells()
        fns["bulk histogram: 1 value, no exemplar (otel_ml.bulk_histogram)"] = \
            lambda: bulk.record_value(0.5, attrs3, exemplar=False)
        fns["bulk histogram: 1,024 values, no exemplar"] = \
            lambda: bulk.record_many(conf1024, attrs3, exemplar=False, checked=True)
        fns["in-process counter cell add (otel_ml series.Cells)"] = lambda: cells.add("k", attrs3, 1)
    except ImportError:
        pass
    lp = LoggerProvider()
    lp.add_log_record_processor(BatchLogRecordProcessor(_DiscardLogs(), max_queue_size=1 << 16))
    from otel_ml.instrumentation import inference
    ev_settings = Settings(events_enabled=True, model_version="1")

    def with_event():
        with inference("m", "1", settings=ev_settings, tracer_provider=tp, meter_provider=mp,
                       logger_provider=lp) as call:
            call.record_outputs(probabilities=proba1, classes=classes)
    no_ev_settings = Settings(events_enabled=False, model_version="1")

    def without_event():
        with inference("m", "1", settings=no_ev_settings, tracer_provider=tp, meter_provider=mp) as call:
            call.record_outputs(probabilities=proba1, classes=classes)
    fns["inference() call, 1 row, no event"] = without_event
    fns["inference() call, 1 row, + event (batch log processor)"] = with_event
    span = tracer.start_span("sampled")
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        return _interleaved(fns, repeats, max(20, int(scale * 300)))
    finally:
        otel_context.detach(token)
        span.end()
        lp.shutdown()
        tp.shutdown()
        mp.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (7 if args.quick else 41)
    scale = 0.2 if args.quick else 1.0

    calls = bench_calls(repeats, scale)
    print("(a) predict_proba, median us per call; overhead ratio = (otel_ml - plain) / (hand-written - plain)")
    for n, r in calls.items():
        ours, hand = r["otel_ml"] - r["plain"], r["hand-written"] - r["plain"]
        print(f"    batch {n:>5,}: plain {r['plain']:8.1f}  otel_ml {r['otel_ml']:8.1f} (+{ours:7.1f})  "
              f"hand-written {r['hand-written']:8.1f} (+{hand:7.1f})   ratio {ours / hand:5.2f}")
    r1 = calls[1]
    ratio1 = (r1["otel_ml"] - r1["plain"]) / (r1["hand-written"] - r1["plain"])
    print(f"    target batch 1 <= 1.0 (stretch 0.6): {'met' if ratio1 <= 1.0 else 'NOT met'} ({ratio1:.2f})")
    big = calls[max(BATCHES)]
    overhead, loop = big["otel_ml"] - big["plain"], big["per-value loop"]
    print(f"(b) batch {max(BATCHES):,}: otel_ml overhead {overhead:.1f} us vs per-value record() loop of its "
          f"confidences {loop:.1f} us = 1/{loop / overhead:.0f} "
          f"(target <= 1/20: {'met' if overhead * 20 <= loop else 'NOT met'})")
    print("(c) components, median us per call (inside a sampled span):")
    for name, us in bench_components(repeats, scale).items():
        print(f"    {name:62s} {us:8.2f}")


if __name__ == "__main__":
    main()
