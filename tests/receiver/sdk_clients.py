"""Drive the real OpenTelemetry Python SDK (providers + OTLP exporters) against the receivers."""

from __future__ import annotations

import math
from typing import Callable

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_ml.semconv import Attr, Body
from otel_ml.semconv import EventName

RESOURCE = Resource.create({"service.name": "receiver-test"})


def export_logs(exporter, emit: Callable) -> None:
    """``emit(logger)`` then flush everything through ``exporter`` in one batch."""
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, schedule_delay_millis=60_000, max_export_batch_size=512))
    try:
        emit(provider.get_logger("tests.receiver"))
        assert provider.force_flush(timeout_millis=20_000)
    finally:
        provider.shutdown()


def export_metrics(exporter) -> int:
    """Record a counter (2 series) and a histogram (1 series); returns data points exported."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("tests.receiver")
    counter = meter.create_counter("requests")
    counter.add(1, {"status": "ok"})
    counter.add(2, {"status": "error"})
    meter.create_histogram("latency", unit="s").record(0.25)
    try:
        assert provider.force_flush(timeout_millis=20_000)
    finally:
        provider.shutdown()
    return 3


def export_spans(exporter, n: int) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("tests.receiver")
    for i in range(n):
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    try:
        assert provider.force_flush(timeout_millis=20_000)
    finally:
        provider.shutdown()


class InferenceTraffic:
    """Emits a known mix of otel_ml events (each inference inside its own span) and records
    what the receiver must deliver: per prediction id, its values and trace/span ids."""

    def __init__(self, n: int = 3, model: str = "churn", version: str = "7"):
        self.n = n
        self.model = model
        self.version = version
        self.tracer = TracerProvider(resource=RESOURCE).get_tracer("tests.receiver")
        self.expected: dict[str, dict] = {}

    def features(self, i: int) -> dict:
        return {"age": 30.0 + i, "plan": ["basic", "pro"][i % 2], "visits": i, "vip": i % 2 == 0,
                "income": None if i == 1 else 1000.5 * i, "score": float("nan") if i == 2 else 0.1}

    def __call__(self, logger) -> None:
        for i in range(self.n):
            pid = f"pred-{i}"
            with self.tracer.start_as_current_span(f"infer-{i}") as span:
                ctx = span.get_span_context()
                logger.emit(
                    event_name=EventName.INFERENCE,
                    attributes={Attr.MODEL_NAME: self.model, Attr.MODEL_VERSION: self.version,
                                Attr.PREDICTION_ID: pid, Attr.VARIANT: "primary"},
                    body={Body.FEATURES: self.features(i), Body.PREDICTION: i % 2,
                          Body.CONFIDENCE: 0.5 + i / 10, Body.SEGMENT: "web"},
                )
            self.expected[pid] = {
                "features": self.features(i), "prediction": i % 2, "confidence": 0.5 + i / 10,
                "trace_id": ctx.trace_id.to_bytes(16, "big"), "span_id": ctx.span_id.to_bytes(8, "big"),
            }
        # a batch event, a label, an outcome and a plain log line the receiver must ignore
        logger.emit(
            event_name=EventName.INFERENCE,
            attributes={Attr.MODEL_NAME: self.model, Attr.MODEL_VERSION: self.version},
            body={Body.PREDICTION_IDS: ["b-0", "b-1"],
                  Body.FEATURES: {"age": [40.0, 41.0], "plan": ["pro", None]},
                  Body.PREDICTION: [1, 0], Body.CONFIDENCE: [0.99, 0.51],
                  Body.PROBABILITIES: {"0": [0.01, 0.51], "1": [0.99, 0.49]}})
        logger.emit(event_name=EventName.GROUND_TRUTH,
                    attributes={Attr.PREDICTION_ID: "pred-0", Attr.MODEL_NAME: self.model},
                    body={Body.LABEL: 1})
        logger.emit(event_name=EventName.OUTCOME, attributes={Attr.PREDICTION_ID: "pred-1"},
                    body={Body.OUTCOME_NAME: "click", Body.OUTCOME_VALUE: 1.0})
        logger.emit(body="an ordinary log line")

    def check_single(self, batch, pid: str) -> None:
        """``batch`` is the one-item batch the receiver made of inference ``pid``."""
        want = self.expected[pid]
        assert batch.n == 1 and batch.prediction_ids == [pid]
        assert (batch.model, batch.version, batch.variant) == (self.model, self.version, "primary")
        for name, value in want["features"].items():
            got = batch.features[name][0]
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(got)
            else:
                assert got == value and type(got) is type(value), (name, got, value)
        assert batch.predictions == [want["prediction"]]
        assert batch.confidences == [want["confidence"]] and batch.segments == ["web"]
        assert (batch.trace_id, batch.span_id) == (want["trace_id"], want["span_id"])
        assert batch.time_unix_nano > 0
