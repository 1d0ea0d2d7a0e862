"""What both transports do with a parsed OTLP export request: decode, count, submit, answer.

Logs are decoded into otel_ml events and handed to the ``EventSink`` in one ``submit`` per
request; metrics and traces are accepted and counted only. A full sink raises
``Overloaded``, which the transports turn into UNAVAILABLE / 503 with a retry delay.
"""

from __future__ import annotations

from typing import Sequence

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_ml.processor.contracts import Event, EventSink, Overloaded, ReceiverStats
from otel_ml.processor.receiver.decode import decode_logs

__all__ = [
    "ExportHandler",
    "SIGNAL_LOGS",
    "SIGNAL_METRICS",
    "SIGNAL_TRACES",
    "SIGNAL_LABELS",
    "REASON_MALFORMED",
    "REASON_INVALID_EVENT",
    "REASON_OVERLOADED",
    "REASON_TOO_LARGE",
    "REASON_UNAUTHENTICATED",
    "REASON_UNSUPPORTED_MEDIA_TYPE",
    "count_data_points",
    "count_spans",
]

SIGNAL_LOGS = "logs"
SIGNAL_METRICS = "metrics"
SIGNAL_TRACES = "traces"
SIGNAL_LABELS = "labels"  # POST /v1/labels

REASON_MALFORMED = "malformed"
REASON_INVALID_EVENT = "invalid_event"
REASON_OVERLOADED = "overloaded"
REASON_TOO_LARGE = "too_large"
REASON_UNAUTHENTICATED = "unauthenticated"
REASON_UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"

_METRIC_DATA = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def count_data_points(request: ExportMetricsServiceRequest) -> int:
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind in _METRIC_DATA:
                    total += len(getattr(metric, kind).data_points)
    return total


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


class ExportHandler:
    """Shared by the gRPC and HTTP receivers; knows the sink and the stats, nothing else."""

    def __init__(self, sink: EventSink, stats: ReceiverStats, merge: bool = True,
                 retry_after_s: float = 1.0):
        self._sink = sink
        self._stats = stats
        self._merge = merge
        self._retry_after_s = retry_after_s

    @property
    def stats(self) -> ReceiverStats:
        return self._stats

    @property
    def retry_after_s(self) -> float:
        """The configured delay suggested to clients (``retry_delay`` may suggest a longer one)."""
        return self._retry_after_s

    def retry_delay(self, exc: Overloaded) -> float:
        """Seconds clients should wait: the sink's suggestion, at least the configured delay."""
        return max(self._retry_after_s, float(getattr(exc, "retry_after_s", 0.0) or 0.0))

    def submit(self, signal: str, events: Sequence[Event], items: int) -> None:
        """Hand ``events`` (from ``items`` received items) to the sink; counts an overload."""
        if not events:
            return
        try:
            self._sink.submit(events)
        except Overloaded:
            self._stats.rejected(signal, REASON_OVERLOADED, items)
            raise

    def logs(self, request: ExportLogsServiceRequest) -> ExportLogsServiceResponse:
        result = decode_logs(request, merge=self._merge)
        for name, count in result.received.items():
            self._stats.received(SIGNAL_LOGS, name, count)
        if result.rejected:
            self._stats.rejected(SIGNAL_LOGS, REASON_INVALID_EVENT, result.rejected)
        accepted = sum(result.received.values()) - result.rejected
        self.submit(SIGNAL_LOGS, result.events, accepted)
        if not result.rejected:
            return ExportLogsServiceResponse()
        return ExportLogsServiceResponse(partial_success=ExportLogsPartialSuccess(
            rejected_log_records=result.rejected, error_message=result.error_message))

    def metrics(self, request: ExportMetricsServiceRequest) -> ExportMetricsServiceResponse:
        count = count_data_points(request)
        if count:
            self._stats.received(SIGNAL_METRICS, "", count)
        return ExportMetricsServiceResponse()

    def traces(self, request: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
        count = count_spans(request)
        if count:
            self._stats.received(SIGNAL_TRACES, "", count)
        return ExportTraceServiceResponse()
