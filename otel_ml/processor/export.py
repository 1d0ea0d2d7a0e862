"""Derived gauges and self-metrics out through the OTel SDK (P8).

A ``MeterProvider`` with the processor's ``Resource`` feeds a ``PrometheusMetricReader`` on
its own ``CollectorRegistry`` (``telemetry_setup.PrometheusEndpoint``, as the app and the
remediation service do), served on the configured endpoint with the optional bearer token and
TLS, and optionally a periodic OTLP exporter. Every gauge instrument in
``semconv`` becomes one ``ObservableGauge`` whose callback returns the last evaluation's
points for it, so a series that an evaluation no longer produces stops being exported.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import ObservableGauge
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, OTELResourceDetector, Resource
from prometheus_client import generate_latest

from otel_ml.semconv_instruments import create_instrument
from otel_ml.processor.config import ExportSettings
from otel_ml.processor.contracts import Point
from otel_ml.processor.receiver.auth import BearerAuth, server_tls_context
from otel_ml.processor.receiver.settings import read_token_file
from otel_ml.semconv import (
    LATENCY_BUCKETS_S,
    OVERFLOW_VALUE,
    PROCESSOR_SCOPE,
    SCHEMA_URL,
    ALL_METRICS,
    Attr,
    Metric,
    MetricKind,
    MetricSpec,
)
from otel_ml.telemetry_setup import PrometheusEndpoint, meter_provider
from otel_ml.version import __version__

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "GAUGE_SPECS",
    "MetricsExport",
    "ReceiverCounters",
    "processor_resource",
]

_log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "otel-ml-processor"

#: The gauges components report through ``Point``s (semconv's synchronous-gauge specs).
GAUGE_SPECS: tuple[MetricSpec, ...] = tuple(s for s in ALL_METRICS if s.kind is MetricKind.GAUGE)

# Distinct values kept per label of the receiver counters; the rest count as OVERFLOW_VALUE.
_COUNTER_LABEL_CAP = 32


def processor_resource() -> Resource:
    """service.name 'otel-ml-processor' unless OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say otherwise."""
    from_env = OTELResourceDetector().detect().attributes
    defaults = {SERVICE_NAME: DEFAULT_SERVICE_NAME, SERVICE_VERSION: __version__}
    # attributes passed to Resource.create win over the environment's: pass only what it lacks
    return Resource.create({k: v for k, v in defaults.items() if not from_env.get(k)})


class _CappedValues:
    """Keeps the first ``cap`` distinct values of one label; later ones become OVERFLOW_VALUE."""

    def __init__(self, cap: int):
        self._cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._cap:
                self._seen.add(value)
                return value
        return OVERFLOW_VALUE


class ReceiverCounters:
    """``contracts.ReceiverStats`` recording PROC_EVENTS_RECEIVED / PROC_EVENTS_REJECTED."""

    def __init__(self, meter: Meter):
        self._received = create_instrument(meter, Metric.PROC_EVENTS_RECEIVED)
        self._rejected = create_instrument(meter, Metric.PROC_EVENTS_REJECTED)
        self._predictions = create_instrument(meter, Metric.PROC_PREDICTIONS_RECEIVED)
        self._event_names = _CappedValues(_COUNTER_LABEL_CAP)
        self._reasons = _CappedValues(_COUNTER_LABEL_CAP)
        self._signals = _CappedValues(8)

    def received(self, signal: str, event_name: str, count: int) -> None:
        if count > 0:
            self._received.add(count, {Attr.SIGNAL: self._signals(signal),
                                       Attr.EVENT_NAME: self._event_names(event_name or "")})

    def rejected(self, signal: str, reason: str, count: int) -> None:
        if count > 0:
            self._rejected.add(count, {Attr.SIGNAL: self._signals(signal),
                                       Attr.REJECT_REASON: self._reasons(reason)})

    def predictions(self, signal: str, count: int) -> None:
        """Predictions received (rows of ml.inference records), beside the records counter."""
        if count > 0:
            self._predictions.add(count, {Attr.SIGNAL: self._signals(signal)})


class MetricsExport:
    """The processor's MeterProvider, its Prometheus endpoint and optional OTLP push."""

    def __init__(self, settings: ExportSettings, resource: Resource | None = None):
        self.settings = settings
        limits = {ObservableGauge: settings.max_series_per_metric}
        self._endpoint = PrometheusEndpoint(cardinality_limits=limits)
        self.registry = self._endpoint.registry
        self._readers: list[MetricReader] = [self._endpoint.reader]
        if settings.otlp_endpoint:
            self._readers.append(PeriodicExportingMetricReader(
                _otlp_exporter(settings.otlp_endpoint, settings.otlp_protocol, settings.otlp_timeout_s),
                export_interval_millis=settings.export_interval_s * 1000.0,
                export_timeout_millis=settings.otlp_timeout_s * 1000.0,
                cardinality_limits=limits))
        self.provider = meter_provider(resource or processor_resource(), self._readers)
        self.meter: Meter = self.provider.get_meter(PROCESSOR_SCOPE, __version__, schema_url=SCHEMA_URL)
        self.receiver_stats = ReceiverCounters(self.meter)

        self._lock = threading.Lock()
        self._points: dict[str, list[Observation]] = {}
        self._unknown_specs: set[str] = set()
        for spec in GAUGE_SPECS:
            create_instrument(self.meter, spec, callbacks=[self._gauge_callback(spec.name)])

        self._queue_depth: Callable[[], int] = lambda: 0
        self._queue_capacity = 0
        self._last_evaluation: float | None = None
        self._last_checkpoint: float | None = None
        self._self_gauge(Metric.PROC_QUEUE_DEPTH, lambda: self._queue_depth())
        self._self_gauge(Metric.PROC_QUEUE_CAPACITY, lambda: self._queue_capacity or None)
        self._self_gauge(Metric.PROC_LAST_EVALUATION, lambda: self._last_evaluation)
        self._self_gauge(Metric.PROC_LAST_CHECKPOINT, lambda: self._last_checkpoint)
        self._evaluation_duration = create_instrument(
            self.meter, Metric.PROC_EVALUATION_DURATION, explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S)

        self.metrics_port: int | None = None
        self._shut = False

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Bind the Prometheus endpoint (port 0 picks a free port, see ``metrics_port``)."""
        if self.metrics_port is not None or self.settings.metrics_endpoint is None:
            return
        s = self.settings
        host, port = s.metrics_address
        token = read_token_file(s.metrics_bearer_token_file, "export.metrics_bearer_token_file")
        context = None
        if s.metrics_tls_cert_file is not None:
            context = server_tls_context(s.metrics_tls_cert_file, s.metrics_tls_key_file,
                                         "export.metrics_tls_cert_file")
        self.metrics_port = self._endpoint.serve(host, port, what="export.metrics_endpoint",
                                                 auth=BearerAuth(token) if token else None,
                                                 ssl_context=context)

    @property
    def metrics_tls(self) -> bool:
        """Whether /metrics is served over TLS (https)."""
        return self.settings.metrics_tls_cert_file is not None

    def shutdown(self) -> None:
        """Stop serving and flush/stop the readers; safe to call twice."""
        if self._shut:
            return
        self._shut = True
        self._endpoint.close()
        # bounded: an unreachable OTLP endpoint must not hold up SIGTERM
        started = time.monotonic()
        try:
            self.provider.shutdown(timeout_millis=self.settings.shutdown_timeout_s * 1000.0)
        except Exception as exc:  # noqa: BLE001 - the SDK raises a bare Exception for a failed reader
            _log.warning("the final OTLP push failed: %s", str(exc).splitlines()[-1])
        else:
            if time.monotonic() - started >= self.settings.shutdown_timeout_s:
                _log.warning("the final OTLP push did not finish within export.shutdown_timeout_s=%gs; "
                             "abandoned", self.settings.shutdown_timeout_s)

    # -- inputs ------------------------------------------------------------------------
    def publish(self, points: Iterable[Point]) -> None:
        """Replace the exported gauges with ``points`` (one evaluation's complete result).

        NaN values are left out (an undefined statistic exports no series rather than NaN).
        """
        grouped: dict[str, list[Observation]] = {}
        for point in points:
            value = float(point.value)
            if math.isnan(value):
                continue
            if point.spec.kind is not MetricKind.GAUGE:
                if point.spec.name not in self._unknown_specs:
                    self._unknown_specs.add(point.spec.name)
                    _log.warning("ignoring points for %s: only gauge instruments are exported "
                                 "from evaluations", point.spec.name)
                continue
            grouped.setdefault(point.spec.name, []).append(Observation(value, dict(point.attributes)))
        with self._lock:
            self._points = grouped

    def observe_queue(self, depth: Callable[[], int], capacity: int) -> None:
        self._queue_depth = depth
        self._queue_capacity = capacity

    def record_evaluation(self, duration_s: float, finished_at: float) -> None:
        self._evaluation_duration.record(duration_s)
        self._last_evaluation = finished_at

    def record_checkpoint(self, at: float) -> None:
        self._last_checkpoint = at

    def collect_text(self) -> str:
        """The Prometheus exposition text the endpoint serves (for tests and debugging)."""
        return generate_latest(self.registry).decode("utf-8")

    # -- callbacks ---------------------------------------------------------------------
    def _gauge_callback(self, name: str):
        def callback(_options: CallbackOptions) -> Sequence[Observation]:
            with self._lock:
                return self._points.get(name, [])
        return callback

    def _self_gauge(self, spec: MetricSpec, read: Callable[[], float | None]) -> None:
        def callback(_options: CallbackOptions) -> Sequence[Observation]:
            value = read()
            return [] if value is None else [Observation(value)]
        create_instrument(self.meter, spec, callbacks=[callback])


def _otlp_exporter(endpoint: str, protocol: str, timeout_s: float):
    """An OTLP metric exporter whose every export (retries included) ends within ``timeout_s``;
    the standard OTEL_EXPORTER_OTLP_* variables still apply (headers, certificates...)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        insecure = urlsplit(endpoint).scheme in ("http", "")
        return OTLPMetricExporter(endpoint=endpoint, insecure=insecure, timeout=timeout_s)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/metrics"
    return OTLPMetricExporter(endpoint=endpoint, timeout=timeout_s)
