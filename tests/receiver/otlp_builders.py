"""Hand-built OTLP protobuf log requests for the receiver tests (no otel_ml code involved)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs


def any_value(value: Any) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(
            values=[KeyValue(key=k, value=any_value(v)) for k, v in value.items()]))
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    raise TypeError(type(value))


def record(event_name: str = "", body: Any = None, attributes: dict | None = None, *,
           legacy_name: bool = False, trace_id: bytes = b"", span_id: bytes = b"",
           time_unix_nano: int = 0, observed_time_unix_nano: int = 0) -> LogRecord:
    attrs = dict(attributes or {})
    if legacy_name:
        attrs["event.name"] = event_name
    rec = LogRecord(
        event_name="" if legacy_name else event_name,
        attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()],
        trace_id=trace_id, span_id=span_id, time_unix_nano=time_unix_nano,
        observed_time_unix_nano=observed_time_unix_nano)
    if body is not None:
        rec.body.CopyFrom(any_value(body))
    return rec


def request(*records: LogRecord, scopes: int = 1) -> ExportLogsServiceRequest:
    """Records split over ``scopes`` ScopeLogs of one ResourceLogs, in order."""
    per = -(-len(records) // scopes) if records else 0
    chunks = [records[i:i + per] for i in range(0, len(records), per)] if records else []
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        scope_logs=[ScopeLogs(log_records=list(chunk)) for chunk in chunks])])


def inference(model: str = "m", version: str = "1", features: dict | None = None,
              prediction: Any = 1, confidence: Any = 0.9, pid: str | None = None, **extra) -> LogRecord:
    attrs = {"ml.model.name": model, "ml.model.version": version}
    if pid is not None:
        attrs["ml.prediction.id"] = pid
    trace = extra.pop("trace_id", b"")
    span = extra.pop("span_id", b"")
    body = {"features": features if features is not None else {"x": 1.0},
            "prediction": prediction, "confidence": confidence, **extra}
    return record("ml.inference", body, attrs, trace_id=trace, span_id=span)
