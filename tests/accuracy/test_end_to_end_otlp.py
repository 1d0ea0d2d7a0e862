"""End to end over OTLP: predictions (gRPC) and labels (HTTP/protobuf) sent by the real OTel SDK
log exporters to an in-process processor; a real Prometheus scrapes /metrics and PromQL reads
back realized accuracy (equal to scikit-learn's), the label-free estimate (within the stated
tolerance) and the label counters."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from otel_ml.processor.config import ProcessorConfig
from otel_ml.processor.service import Processor
from otel_ml.semconv import Attr, Body, Event, Metric
from tests.support.procs import Prometheus
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real

MODEL, VERSION = "digits", "3"
FEATURES = (20, 28, 36, 44)  # a few pixels ride along as features (the drift engine's input)


class Sender:
    """An app's OTel logging pipeline: one LoggerProvider, a real OTLP log exporter."""

    def __init__(self, exporter):
        self.provider = LoggerProvider()
        self.provider.add_log_record_processor(
            BatchLogRecordProcessor(exporter, max_export_batch_size=64, schedule_delay_millis=50))
        self.logger = self.provider.get_logger("otel_ml.instrumentation")

    def predictions(self, ids, x, proba):
        pred = proba.argmax(1)
        self.logger.emit(event_name=Event.INFERENCE, attributes={
            Attr.MODEL_NAME: MODEL, Attr.MODEL_VERSION: VERSION, Attr.EVENT_NAME: Event.INFERENCE},
            body={Body.PREDICTION_IDS: list(ids),
                  Body.FEATURES: {f"px{j}": x[:, j].tolist() for j in FEATURES},
                  Body.PREDICTION: pred.tolist(), Body.CONFIDENCE: proba.max(1).tolist(),
                  Body.PROBABILITIES: {str(c): proba[:, c].tolist() for c in range(10)}})

    def labels(self, ids, y):
        self.logger.emit(event_name=Event.GROUND_TRUTH, attributes={
            Attr.MODEL_NAME: MODEL, Attr.MODEL_VERSION: VERSION, Attr.EVENT_NAME: Event.GROUND_TRUTH},
            body={Body.PREDICTION_IDS: list(ids), Body.LABELS: [int(v) for v in y]})

    def flush(self):
        assert self.provider.force_flush(20_000)

    def close(self):
        self.provider.shutdown()


def test_realized_and_estimated_accuracy_reach_prometheus(tmp_path):
    x, y = load_digits(return_X_y=True)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, train_size=0.4, random_state=0, stratify=y)
    model = GaussianNB().fit(x_tr, y_tr)  # over-confident: the estimate needs calibration
    x_first, y_first = x_rest[:400], y_rest[:400]  # first labelled traffic: learned baseline
    x_next, y_next = x_rest[400:800], y_rest[400:800]

    config = ProcessorConfig.from_mapping({
        "receiver": {"grpc_endpoint": "127.0.0.1:0", "http_endpoint": "127.0.0.1:0"},
        "export": {"metrics_endpoint": "127.0.0.1:0"},
        "evaluation": {"interval_s": 0.5},
        "accuracy": {"window": {"count": 400, "time_s": None, "min_labels": 50,
                                "min_predictions": 50, "max_events": 5000},
                     "baseline": {"source": "first_labels", "labels": 400}},
    })
    proc = Processor(config)
    proc.start()
    prom = grpc = http = None
    try:
        prom = Prometheus(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: otel-ml-processor
    static_configs: [{{targets: ['127.0.0.1:{proc.metrics_port}']}}]
""", workdir=tmp_path)
        grpc = Sender(GrpcLogs(endpoint=f"127.0.0.1:{proc.grpc_port}", insecure=True, timeout=10))
        http = Sender(HttpLogs(endpoint=f"http://127.0.0.1:{proc.http_port}/v1/logs", timeout=10))

        sel = f'ml_model_name="{MODEL}",ml_model_version="{VERSION}"'
        acc_sel = f'{sel},ml_metric_name="accuracy",ml_metric_average="none",ml_segment="_all",ml_window="count"'
        realized_q = f"{Metric.PERFORMANCE.prometheus_name}{{{acc_sel}}}"
        estimated_q = f"{Metric.PERFORMANCE_ESTIMATED.prometheus_name}{{{acc_sel}}}"
        received = Metric.LABELS_RECEIVED.prometheus_name

        def one(expr):
            result = prom.query(expr)
            return float(result[0]["value"][1]) if len(result) == 1 else None

        # 1. first traffic: 50 labels arrive before their predictions (held), the rest after
        ids_first = [f"a{i}" for i in range(400)]
        http.labels(ids_first[:50], y_first[:50])
        http.flush()
        wait_until(lambda: one(f'sum({received}{{ml_label_result="held"}})') == 50, timeout=60,
                   message="50 held labels in Prometheus")
        grpc.predictions(ids_first, x_first, model.predict_proba(x_first))
        grpc.flush()
        http.labels(ids_first[50:], y_first[50:])
        http.flush()
        first_acc = np.mean(model.predict(x_first) == y_first)
        wait_until(lambda: (v := one(realized_q)) is not None and abs(v - first_acc) < 1e-9,
                   timeout=60, message="realized accuracy of the first traffic")

        # 2. new traffic, no labels yet: the estimate is there before the labels
        ids_next = [f"b{i}" for i in range(400)]
        proba_next = model.predict_proba(x_next)
        grpc.predictions(ids_next, x_next, proba_next)
        grpc.flush()
        cov_q = f'{Metric.LABELS_COVERAGE.prometheus_name}{{{sel},ml_window="count"}}'
        wait_until(lambda: one(cov_q) == 0.0, timeout=60, message="coverage 0 on the new window")
        estimate = one(estimated_q)
        assert estimate is not None
        raw_confidence = proba_next.max(1).mean()
        assert raw_confidence - estimate > 0.05  # calibrated from the first labels, not raw

        # 3. the labels arrive: realized accuracy equals scikit-learn's on the same labels
        http.labels(ids_next, y_next)
        http.flush()
        next_acc = np.mean(proba_next.argmax(1) == y_next)
        wait_until(lambda: (v := one(realized_q)) is not None and abs(v - next_acc) < 1e-9,
                   timeout=60, message="realized accuracy of the new traffic")
        # tolerance: binomial noise of realized accuracy (3 sigma) + 0.04 for an isotonic
        # calibration learned from only 400 labels
        tol = 3 * np.sqrt(next_acc * (1 - next_acc) / 400) + 0.04
        assert abs(one(estimated_q) - next_acc) <= tol, (one(estimated_q), next_acc, tol)
        assert one(f'sum({received}{{ml_label_result="joined"}})') == 800
        assert one(f'{Metric.LABELS_PENDING.prometheus_name}{{{sel}}}') == 0
        assert one(f'{Metric.PERFORMANCE_BASELINE.prometheus_name}{{{acc_sel}}}') == pytest.approx(
            first_acc)
        lag_count = one(f'{Metric.LABELS_LAG.prometheus_name}_count{{{sel}}}')
        assert lag_count == 800
    finally:
        for sender in (grpc, http):
            if sender is not None:
                sender.close()
        if prom is not None:
            prom.stop()
        proc.stop()
