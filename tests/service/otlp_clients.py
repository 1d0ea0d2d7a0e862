"""Real OTel SDK log exporters (gRPC, HTTP/protobuf) sending otel_ml events, as an app would."""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otel_ml.semconv import Attr, Body, EventName

_ids = itertools.count()


class EventSender:
    """Emits ``ml.inference`` / ``ml.ground_truth`` log records through a real OTLP exporter."""

    def __init__(self, port: int, protocol: str = "grpc", service: str = "test-app", timeout_s: float = 10):
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

            exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=timeout_s)
        else:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs", timeout=timeout_s)
        self.provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_log_record_processor(
            BatchLogRecordProcessor(exporter, max_export_batch_size=256, schedule_delay_millis=50))
        self.logger = self.provider.get_logger("otel_ml.instrumentation")

    def batch(self, model: str, version: str, features: Mapping[str, Sequence], predictions: Sequence,
              confidences: Sequence[float] | None = None, ids: Sequence[str] | None = None) -> list[str]:
        """One batch-form event (columns); returns the prediction ids."""
        n = len(predictions)
        ids = list(ids) if ids is not None else [f"p{next(_ids)}" for _ in range(n)]
        body = {Body.PREDICTION_IDS: ids,
                Body.FEATURES: {k: _plain(v) for k, v in features.items()},
                Body.PREDICTION: _plain(predictions)}
        if confidences is not None:
            body[Body.CONFIDENCE] = _plain(confidences)
        self.logger.emit(event_name=EventName.INFERENCE, body=body,
                         attributes={Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version})
        return ids

    def single(self, model: str, version: str, features: Mapping[str, object], prediction,
               confidence: float | None = None, prediction_id: str | None = None) -> str:
        """One single-form event (one prediction)."""
        pid = prediction_id or f"p{next(_ids)}"
        body = {Body.FEATURES: dict(features), Body.PREDICTION: prediction}
        if confidence is not None:
            body[Body.CONFIDENCE] = confidence
        self.logger.emit(event_name=EventName.INFERENCE, body=body,
                         attributes={Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version,
                                     Attr.PREDICTION_ID: pid})
        return pid

    def labels(self, model: str, version: str, ids: Sequence[str], labels: Sequence) -> None:
        self.logger.emit(event_name=EventName.GROUND_TRUTH,
                         body={Body.PREDICTION_IDS: list(ids), Body.LABELS: _plain(labels)},
                         attributes={Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version})

    def flush(self, timeout_s: float = 20) -> bool:
        return self.provider.force_flush(int(timeout_s * 1000))

    def close(self) -> None:
        self.provider.shutdown()


def _plain(values) -> list:
    if isinstance(values, np.ndarray):
        return values.tolist()
    return [v.item() if isinstance(v, np.generic) else v for v in values]
