"""What both transports do with a parsed OTLP export request: decode, count, submit, answer.

Logs are decoded into otel_ml events and handed to the ``EventSink`` in one ``submit`` per
request; metrics and traces are accepted and counted only. A full sink raises
``Overloaded``, which the transports turn into UNAVAILABLE / 503 with a retry delay.

Every refused record is answered in the response's ``partial_success`` (count and message)
and counted on ``ml.processor.events.rejected`` by reason: invalid records and over-long
prediction ids at decode, and the events the sink's admission step refuses (a model or
version past its cap: ``unknown_model`` / ``cardinality``). Value caps that are full for an
accepted model version come back as a warning (``rejected_log_records`` 0, a message), as the
OTLP specification allows. Both transports answer from the same response object.
"""

from __future__ import annotations

from collections import Counter
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

from otel_ml.processor.contracts import Event, EventSink, InferenceBatch, Overloaded, ReceiverStats
from otel_ml.processor.receiver.decode import (
    DEFAULT_MAX_PREDICTION_ID_LENGTH, ID_TOO_LONG, decode_logs,
)

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
    "REASON_ID_TOO_LONG",
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
REASON_ID_TOO_LONG = ID_TOO_LONG
# decode reasons counted under their own name; every other decode refusal is invalid_event
_OWN_DECODE_REASONS = frozenset((ID_TOO_LONG,))

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
                 retry_after_s: float = 1.0,
                 max_prediction_id_length: int = DEFAULT_MAX_PREDICTION_ID_LENGTH):
        self._sink = sink
        self._stats = stats
        self._merge = merge
        self._retry_after_s = retry_after_s
        self._max_id = max_prediction_id_length
        self._count_predictions = getattr(stats, "predictions", None)

    @property
    def max_prediction_id_length(self) -> int:
        """``receiver.max_prediction_id_length``: longer ids are rejected on every route."""
        return self._max_id

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

    def submit(self, signal: str, events: Sequence[Event], items: int):
        """Hand ``events`` (from ``items`` received items) to the sink; counts an overload.

        Returns what the sink's admission step refused (``admission.Admission``) or None.
        """
        if not events:
            return None
        try:
            return self._sink.submit(events)
        except Overloaded:
            self._stats.rejected(signal, REASON_OVERLOADED, items)
            raise

    def logs(self, request: ExportLogsServiceRequest) -> ExportLogsServiceResponse:
        result = decode_logs(request, merge=self._merge, max_id_length=self._max_id)
        for name, count in result.received.items():
            self._stats.received(SIGNAL_LOGS, name, count)
        if self._count_predictions is not None:
            predictions = sum(e.n for e in result.events if isinstance(e, InferenceBatch))
            if predictions:
                self._count_predictions(SIGNAL_LOGS, predictions)
        for reason, count in result.reasons.items():
            self._stats.rejected(SIGNAL_LOGS, reason if reason in _OWN_DECODE_REASONS
                                 else REASON_INVALID_EVENT, count)
        accepted = sum(result.received.values()) - result.rejected
        admission = self.submit(SIGNAL_LOGS, result.events, accepted)
        rejected = result.rejected
        messages = [result.error_message] if result.error_message else []
        if admission is not None:
            refused: Counter[str] = Counter()
            for index, reason in admission.refused.items():
                refused[reason] += result.records[index]
            for reason, count in refused.items():
                self._stats.rejected(SIGNAL_LOGS, reason, count)
            if refused:
                total = sum(refused.values())
                rejected += total
                messages.append(f"refused {total} log records: " + "; ".join(admission.messages))
            if admission.warnings:
                messages.append("accepted, with values folded by a cap: " + "; ".join(admission.warnings))
        if not messages:
            return ExportLogsServiceResponse()
        return ExportLogsServiceResponse(partial_success=ExportLogsPartialSuccess(
            rejected_log_records=rejected, error_message=" | ".join(messages)))

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
