"""Batch scoring through ``otel_ml.configure()`` defaults delivers every prediction to a real processor.

An app scores 1,000-row x 16-feature batches with ``InstrumentedModel.predict_proba`` and feature
capture on, exporting over OTLP/gRPC with nothing but ``configure()``'s defaults. The processor's
gRPC receiver keeps a 4 MiB request limit (set explicitly: the limit otel_ml's budget is designed
for, whatever the receiver's default becomes). Every prediction must be pending in the processor.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from otel_ml import configure
from otel_ml.instrumentation import InstrumentedModel, Settings
from otel_ml.processor.config import ProcessorConfig
from otel_ml.processor.service import Processor
from otel_ml.semconv import Attr, Metric
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real

BATCHES, ROWS, FEATURES = 30, 1000, 16


def _pending(proc: Processor) -> float:
    return sum(p.value for p in proc.evaluate_now()
               if p.spec is Metric.LABELS_PENDING and p.attributes.get(Attr.MODEL_NAME) == "scorer")


def test_batch_scoring_with_feature_capture_delivers_every_prediction(tmp_path, monkeypatch):
    for var in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    proc = Processor(ProcessorConfig.from_mapping({
        "receiver": {"grpc_endpoint": "127.0.0.1:0", "http_endpoint": "127.0.0.1:0",
                     "max_request_bytes": 4 * 1024 * 1024},
        "export": {"metrics_endpoint": "127.0.0.1:0"},
        "evaluation": {"interval_s": 3600}}))
    proc.start()
    handle = None
    try:
        handle = configure(endpoint=f"http://127.0.0.1:{proc.grpc_port}", protocol="grpc", set_global=False,
                           traces=False, metrics=False, gpu_metrics=False, process_metrics=False)
        rng = np.random.default_rng(0)
        X_train = rng.normal(size=(2000, FEATURES))
        clf = LogisticRegression(max_iter=300).fit(X_train, (X_train[:, 0] + X_train[:, 1] > 0).astype(int))
        model = InstrumentedModel(clf, name="scorer", version="1", feature_names=[f"f{j}" for j in range(FEATURES)],
                                  settings=Settings(capture_features=True), logger_provider=handle.logger_provider)
        sent = 0
        for _ in range(BATCHES):
            model.predict_proba(rng.normal(size=(ROWS, FEATURES)))
            sent += ROWS
        handle.force_flush(30_000)
        wait_until(lambda: _pending(proc) == sent, timeout=60,
                   message=f"{sent} predictions pending in the processor")
    finally:
        if handle is not None:
            handle.shutdown()
        proc.stop(checkpoint=False)
