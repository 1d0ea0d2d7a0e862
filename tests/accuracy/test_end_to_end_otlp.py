"""End to end over OTLP: predictions (gRPC) and labels (HTTP/protobuf) sent by the real OTel SDK
log exporters to an in-process processor loaded with a reference profile; a real Prometheus
scrapes /metrics and PromQL reads back realized accuracy (equal to scikit-learn's), the
label-free estimate made before the labels (within the stated tolerance), the baseline from
the reference, and the label counters."""

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

from otel_ml.processor.accuracy import performance_section
from otel_ml.processor.config import ProcessorConfig
from otel_ml.processor.profile_build import build_profile
from otel_ml.processor.service import Processor
from otel_ml.semconv import Attr, Body, EventName, Metric
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
        self.logger.emit(event_name=EventName.INFERENCE, attributes={
            Attr.MODEL_NAME: MODEL, Attr.MODEL_VERSION: VERSION, Attr.EVENT_NAME: EventName.INFERENCE},
            body={Body.PREDICTION_IDS: list(ids),
                  Body.FEATURES: {f"px{j}": x[:, j].tolist() for j in FEATURES},
                  Body.PREDICTION: pred.tolist(), Body.CONFIDENCE: proba.max(1).tolist(),
                  Body.PROBABILITIES: {str(c): proba[:, c].tolist() for c in range(10)}})

    def labels(self, ids, y):
        self.logger.emit(event_name=EventName.GROUND_TRUTH, attributes={
            Attr.MODEL_NAME: MODEL, Attr.MODEL_VERSION: VERSION, Attr.EVENT_NAME: EventName.GROUND_TRUTH},
            body={Body.PREDICTION_IDS: list(ids), Body.LABELS: [int(v) for v in y]})

    def flush(self):
        assert self.provider.force_flush(20_000)

    def close(self):
        self.provider.shutdown()


def test_realized_and_estimated_accuracy_reach_prometheus(tmp_path):
    x, y = load_digits(return_X_y=True)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, train_size=0.4, random_state=0, stratify=y)
    model = GaussianNB().fit(x_tr, y_tr)  # over-confident: the estimate needs calibration
    x_ref, y_ref = x_rest[:540], y_rest[:540]  # labelled reference data
    x_new, y_new = x_rest[540:940], y_rest[540:940]  # production traffic
    p_ref = model.predict_proba(x_ref)
    profile = build_profile(MODEL, VERSION, {f"px{j}": x_ref[:, j] for j in FEATURES},
                            p_ref.argmax(1), p_ref.max(1), performance=performance_section(
                                y_ref, p_ref.argmax(1), probabilities=p_ref, classes=range(10)))
    profile.save(tmp_path / "digits.json")

    config = ProcessorConfig.from_mapping({
        "receiver": {"grpc_endpoint": "127.0.0.1:0", "http_endpoint": "127.0.0.1:0"},
        "export": {"metrics_endpoint": "127.0.0.1:0"},
        "evaluation": {"interval_s": 0.5},
        "reference_profiles": [f"{MODEL}:{VERSION}={tmp_path / 'digits.json'}"],
        "accuracy": {"window": {"count": 400, "time_s": None, "min_labels": 50,
                                "min_predictions": 50, "max_events": 5000}},
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
        acc_sel = (f'{sel},ml_metric_name="accuracy",ml_metric_average="none",ml_segment="_all",'
                   f'ml_window="count"')
        realized_q = f"{Metric.PERFORMANCE.prometheus_name}{{{acc_sel}}}"
        estimated_q = f"{Metric.PERFORMANCE_ESTIMATED.prometheus_name}{{{acc_sel}}}"
        coverage_q = f'{Metric.LABELS_COVERAGE.prometheus_name}{{{sel},ml_window="count"}}'
        received = Metric.LABELS_RECEIVED.prometheus_name

        def one(expr):
            result = prom.query(expr)
            return float(result[0]["value"][1]) if len(result) == 1 else None

        ids = [f"d{i}" for i in range(400)]
        proba = model.predict_proba(x_new)
        # 1. 50 labels arrive before their predictions: held
        http.labels(ids[:50], y_new[:50])
        http.flush()
        wait_until(lambda: one(f'sum({received}{{ml_label_result="held"}})') == 50, timeout=60,
                   message="50 held labels in Prometheus")
        # 2. the predictions: the held labels join, the estimate is there before the other labels
        grpc.predictions(ids, x_new, proba)
        grpc.flush()
        wait_until(lambda: one(coverage_q) == 50 / 400, timeout=60, message="coverage 50/400")
        estimate = one(estimated_q)
        assert estimate is not None
        assert proba.max(1).mean() - estimate > 0.05  # calibrated on the reference, not raw
        # 3. the other labels: realized accuracy equals scikit-learn's on the same labels
        http.labels(ids[50:], y_new[50:])
        http.flush()
        realized = np.mean(proba.argmax(1) == y_new)
        wait_until(lambda: (v := one(realized_q)) is not None and abs(v - realized) < 1e-9,
                   timeout=60, message="realized accuracy in Prometheus")
        # the estimate made before the labels: within the binomial noise of the realized
        # accuracy (3 sigma) + 0.02 for a calibration fitted on 540 reference rows
        tolerance = 3 * np.sqrt(realized * (1 - realized) / 400) + 0.02
        assert abs(estimate - realized) <= tolerance, (estimate, realized, tolerance)
        assert one(f'sum({received}{{ml_label_result="joined"}})') == 400
        assert one(f'{Metric.LABELS_PENDING.prometheus_name}{{{sel}}}') == 0
        assert one(f'{Metric.PERFORMANCE_BASELINE.prometheus_name}{{{acc_sel}}}') == pytest.approx(
            np.mean(p_ref.argmax(1) == y_ref))
        assert one(f'{Metric.LABELS_LAG.prometheus_name}_count{{{sel}}}') == 400
    finally:
        for sender in (grpc, http):
            if sender is not None:
                sender.close()
        if prom is not None:
            prom.stop()
        proc.stop()
