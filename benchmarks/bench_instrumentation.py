"""Instrumentation overhead: otel_ml's recording path against hand-written OTel SDK calls.

(a) One inference call of a batch of 32 (span + RED metrics + batch size + predicted classes +
    confidences + low-confidence count), as ``otel_ml.inference(...).record_outputs(...)``
    versus the same telemetry written by hand with the OTel SDK (one histogram record() per
    confidence, as the API requires). Target: otel_ml / hand-written <= 0.6.
(b) 1024 confidences: otel_ml's batch path versus a per-value ``Histogram.record()`` loop.
    Target: <= 1/100.

Both sides run on the same providers (BatchSpanProcessor into a discarding exporter, an
in-memory metric reader) in the same process; medians of many repetitions are printed, with
the ratios. The model itself is left out (a fixed probability matrix) so only telemetry is timed.
Run: .venv/bin/python benchmarks/bench_instrumentation.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_ml import semconv
from otel_ml.instrumentation import Settings, inference
from otel_ml.semconv import Attr, Metric


class _Discard(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


def _median_us(fn, repeats: int, inner: int) -> float:
    return _interleaved({"fn": fn}, repeats, inner)["fn"]


def _interleaved(fns: dict, repeats: int, inner: int) -> dict:
    """Median microseconds per call of each function, measured round-robin so that a load change
    on a shared machine hits every candidate alike (the ratios are what we report)."""
    for fn in fns.values():
        for _ in range(inner):
            fn()  # warm-up
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _providers():
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(_Discard(), max_queue_size=1 << 16, schedule_delay_millis=200))
    reader = InMemoryMetricReader()
    return tp, MeterProvider(metric_readers=[reader]), reader


class HandWritten:
    """The same telemetry written directly against the OTel API/SDK, the way a user would."""

    def __init__(self, tp, mp, threshold=0.7):
        self.tracer = tp.get_tracer("bench.handwritten")
        meter = mp.get_meter("bench.handwritten")
        m = Metric
        self.duration = meter.create_histogram(m.INFERENCE_DURATION.name, unit="s",
                                               explicit_bucket_boundaries_advisory=list(semconv.LATENCY_BUCKETS_S))
        self.requests = meter.create_counter(m.INFERENCE_REQUESTS.name)
        self.active = meter.create_up_down_counter(m.INFERENCE_ACTIVE.name)
        self.batch = meter.create_histogram(m.BATCH_SIZE.name,
                                            explicit_bucket_boundaries_advisory=list(semconv.BATCH_SIZE_BUCKETS))
        self.predictions = meter.create_counter(m.PREDICTIONS.name)
        self.classes = meter.create_counter(m.PREDICTION_CLASS.name)
        self.confidence = meter.create_histogram(m.CONFIDENCE.name,
                                                 explicit_bucket_boundaries_advisory=list(semconv.CONFIDENCE_BUCKETS))
        self.low = meter.create_counter(m.LOW_CONFIDENCE.name)
        self.threshold = threshold

    def call(self, proba: np.ndarray, classes: np.ndarray) -> None:
        mvv = {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "1", Attr.VARIANT: "primary"}
        with self.tracer.start_as_current_span("ml.inference", kind=SpanKind.INTERNAL, attributes=mvv) as span:
            self.active.add(1, {Attr.MODEL_NAME: "m"})
            start = time.perf_counter()
            n = len(proba)
            confidence = proba.max(axis=1)
            predicted = classes[proba.argmax(axis=1)]
            self.predictions.add(n, mvv)
            labels, counts = np.unique(predicted, return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist()):
                self.classes.add(count, {**mvv, Attr.PREDICTION_CLASS: str(label)})
            for value in confidence.tolist():
                self.confidence.record(value, mvv)
            self.low.add(int((confidence < self.threshold).sum()), mvv)
            red = {**mvv, Attr.STATUS: "ok"}
            span.set_attributes({Attr.STATUS: "ok", Attr.BATCH_SIZE: n})
            self.requests.add(1, red)
            self.duration.record(time.perf_counter() - start, red)
            self.batch.record(n, mvv)
            self.active.add(-1, {Attr.MODEL_NAME: "m"})


def bench_call(batch: int, repeats: int, inner: int) -> dict:
    tp, mp, _ = _providers()
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3), size=batch)
    classes = np.array(["a", "b", "c"])
    hand = HandWritten(tp, mp)
    candidates = {"handwritten": lambda: hand.call(proba, classes)}
    for mode in ("buckets", "histogram"):
        settings = Settings(events_enabled=False, confidence_recording=mode)

        def ours(settings=settings):
            with inference("m", "1", settings=settings, tracer_provider=tp, meter_provider=mp) as call:
                call.record_outputs(probabilities=proba, classes=classes)
        candidates[f"otel_ml[{mode}]"] = ours

    def bare_span():
        with hand.tracer.start_as_current_span("ml.inference", attributes={Attr.MODEL_NAME: "m"}):
            pass
    candidates["span alone (SDK)"] = bare_span
    settings_ev = Settings(events_enabled=True)

    def with_events():
        with inference("m", "1", settings=settings_ev, tracer_provider=tp, meter_provider=mp) as call:
            call.record_outputs(probabilities=proba, classes=classes)
    candidates["otel_ml[buckets] + event (no-op logger)"] = with_events
    results = _interleaved(candidates, repeats, inner)
    tp.shutdown()
    return results


def bench_confidences(n: int, repeats: int) -> dict:
    _, mp, _ = _providers()
    from otel_ml.instrumentation.telemetry import instruments_for
    ins = instruments_for(mp)
    values = np.random.default_rng(2).random(n)
    attrs = {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "1", Attr.VARIANT: "primary"}
    hist = ins.confidence

    def loop():
        for v in values.tolist():
            hist.record(v, attrs)

    def batch():
        ins.confidence_buckets.add(("m", "1", "primary"), attrs, values)
    per_value = _median_us(loop, repeats, 1)
    return {"per-value record() loop": per_value, "otel_ml batch (buckets)": _median_us(batch, repeats, 20)}


def bench_sdk_costs(repeats: int, inner: int) -> dict:
    """Where the SDK's time goes: one measurement, by attribute count and exemplar filter."""
    from opentelemetry import context, trace
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, TraceBasedExemplarFilter

    tracer = TracerProvider().get_tracer("bench.costs")
    attrs3 = {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "1", Attr.VARIANT: "primary"}
    attrs6 = {**attrs3, Attr.STATUS: "ok", Attr.ENDPOINT: "/predict", Attr.ERROR_TYPE: "none"}
    out = {}
    span = tracer.start_span("sampled")
    token = context.attach(trace.set_span_in_context(span))
    try:
        for label, filt in (("exemplars trace_based", TraceBasedExemplarFilter()),
                            ("exemplars off", AlwaysOffExemplarFilter())):
            provider = MeterProvider(metric_readers=[InMemoryMetricReader()], exemplar_filter=filt)
            counter = provider.get_meter("costs").create_counter("c")
            out[f"counter.add, 0 attributes, {label}"] = _median_us(lambda: counter.add(1), repeats, inner)
            out[f"counter.add, 3 attributes, {label}"] = _median_us(lambda: counter.add(1, attrs3), repeats, inner)
            out[f"counter.add, 6 attributes, {label}"] = _median_us(lambda: counter.add(1, attrs6), repeats, inner)
    finally:
        context.detach(token)
        span.end()

    def span_only():
        s = tracer.start_span("ml.inference", attributes=attrs3)
        t = context.attach(trace.set_span_in_context(s))
        context.detach(t)
        s.end()
    out["span start+attach+end, 3 attributes"] = _median_us(span_only, repeats, inner)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--confidences", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--inner", type=int, default=200)
    args = parser.parse_args()

    a = bench_call(args.batch, args.repeats, args.inner)
    base = a["handwritten"]
    print(f"(a) one call, batch of {args.batch}: median microseconds per call")
    for name, us in a.items():
        print(f"    {name:42s} {us:9.1f} us   {us / base:5.2f}x hand-written")
    ratio_a = a["otel_ml[buckets]"] / base
    print(f"    target otel_ml[buckets] <= 0.60x: {'met' if ratio_a <= 0.6 else 'NOT met'} ({ratio_a:.2f}x)")

    costs = bench_sdk_costs(args.repeats, args.inner)
    print("    where the SDK's time goes (median microseconds per call, inside a sampled span):")
    for name, us in costs.items():
        print(f"      {name:44s} {us:7.2f} us")

    b = bench_confidences(args.confidences, args.repeats)
    loop = b["per-value record() loop"]
    print(f"(b) {args.confidences} confidences: median microseconds")
    for name, us in b.items():
        print(f"    {name:42s} {us:9.1f} us   1/{loop / us:,.0f} of the loop" if us != loop
              else f"    {name:42s} {us:9.1f} us")
    ratio_b = b["otel_ml batch (buckets)"] / loop
    print(f"    target batch <= 1/100 of the loop: {'met' if ratio_b <= 0.01 else 'NOT met'} (1/{1 / ratio_b:,.0f})")


if __name__ == "__main__":
    main()
