"""``otel_ml.configure()``: the OTel SDK in one call, for applications that have no OTel set-up.

Usage::

    import otel_ml
    handle = otel_ml.configure(service_name="fraud-api")              # OTLP to localhost:4317
    handle = otel_ml.configure(endpoint="http://collector:4318", protocol="http/protobuf",
                               prometheus_port=9465)                   # + a /metrics endpoint
    ...
    handle.shutdown()                                                  # flush and stop

Tracer, meter and logger providers with OTLP exporters; the standard variables are honoured
(OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT / PROTOCOL /
HEADERS / TIMEOUT, OTEL_{TRACES,METRICS,LOGS}_EXPORTER = otlp | console | none (metrics also
prometheus), OTEL_METRIC_EXPORT_INTERVAL, OTEL_TRACES_SAMPLER, ...); explicit arguments win
over them. A provider the application has already set is never replaced: configure() reuses it
and adds nothing to it. Also switched on: process CPU / memory (system-metrics
instrumentation) and GPU gauges (NVML), per OTEL_ML_PROCESS_METRICS / OTEL_ML_GPU_METRICS.
The SDK is imported here only, never by the instrumentation itself.

Bounded edges: every export has a deadline (``export_timeout_s``, default 2 s, or
OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT in seconds as the Python SDK reads it), and ``shutdown()``
stops the three providers concurrently, so an unreachable endpoint delays exit by about one
deadline, not by the SDK's 10 s retry loop per signal. The log exporter's batch is capped at
``LOG_EXPORT_BATCH`` records: with inference events split at ``EVENT_BYTE_BUDGET`` bytes (see
``instrumentation.events``), one export stays far below a receiver's 4 MiB gRPC default.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from opentelemetry import _logs, trace
from opentelemetry import metrics as otel_metrics

from otel_ml import telemetry_setup
from otel_ml.config_checks import check_int, env_value, parse_int
from otel_ml.errors import ConfigError, UserError
from otel_ml.instrumentation.events import EVENT_BYTE_BUDGET
from otel_ml.instrumentation.settings import Settings

__all__ = ["configure", "SdkHandle", "PrometheusSettings", "PROMETHEUS_ENV_VARS", "DEFAULT_PROMETHEUS_PORT",
           "LOG_EXPORT_BATCH"]

_log = logging.getLogger(__name__)
DEFAULT_PROMETHEUS_PORT = 9464
_PROTOCOLS = ("grpc", "http/protobuf")
#: Log records per export: LOG_EXPORT_BATCH x EVENT_BYTE_BUDGET = 2 MiB, half the 4 MiB a gRPC
#: receiver takes by default (room for the size estimate's error and the record envelopes).
LOG_EXPORT_BATCH = 64
assert LOG_EXPORT_BATCH * EVENT_BYTE_BUDGET <= 2 * 1024 * 1024
_EXPORTERS = {"traces": ("otlp", "console", "none"), "metrics": ("otlp", "console", "prometheus", "none"),
              "logs": ("otlp", "console", "none")}


@dataclass(frozen=True)
class PrometheusSettings:
    """Where ``configure()`` serves Prometheus ``/metrics`` (exporter settings: the SDK side's, not
    the instrumentation's). ``from_env()`` reads OTEL_ML_PROMETHEUS_PORT / OTEL_ML_PROMETHEUS_HOST."""

    prometheus_port: int | None = None
    prometheus_host: str = "0.0.0.0"

    def __post_init__(self) -> None:
        check_int("prometheus_port", self.prometheus_port, 0, 65535, allow_none=True)
        if not isinstance(self.prometheus_host, str) or not self.prometheus_host:
            raise ConfigError("prometheus_host", "must be a host name or address")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "PrometheusSettings":
        """From the environment; unset or empty variables keep the default. Errors name the variable."""
        env = os.environ if environ is None else environ
        values = {}
        for field_name, (var, parse) in PROMETHEUS_ENV_VARS.items():
            raw = env.get(var)
            if raw is not None and raw.strip():
                values[field_name] = env_value(var, raw.strip(), parse)
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(PROMETHEUS_ENV_VARS[exc.key][0], exc.problem) from None


#: field -> (environment variable, parser); docs/instrumentation.md lists them with the others.
PROMETHEUS_ENV_VARS: dict[str, tuple[str, Any]] = {
    "prometheus_port": ("OTEL_ML_PROMETHEUS_PORT", parse_int),
    "prometheus_host": ("OTEL_ML_PROMETHEUS_HOST", str),
}


@dataclass
class SdkHandle:
    """What ``configure()`` set up; ``shutdown()`` flushes and stops what it created (idempotent)."""

    tracer_provider: Any
    meter_provider: Any
    logger_provider: Any
    owned: tuple[str, ...] = ()  # signals whose provider configure() created
    prometheus_port: int | None = None
    gpu: Any = None
    process_metrics: Any = None
    _endpoints: list = field(default_factory=list)
    _push_readers: list = field(default_factory=list)
    _closed: bool = False
    #: the longest export deadline of the owned exporters: what shutdown() waits at most
    export_timeout_s: float = 2.0

    def force_flush(self, timeout_millis: int = 10_000) -> None:
        """Export what is pending now. Metrics: the push readers only; a Prometheus reader
        flushed outside a scrape would queue a second copy into the next scrape."""
        for signal in self.owned:
            if signal == "metrics":
                for reader in self._push_readers:
                    reader.force_flush(timeout_millis)
            else:
                getattr(self, _PROVIDER_ATTR[signal]).force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop. The providers stop concurrently, each final export bounded by the
        export deadline, so an unreachable endpoint costs about ``export_timeout_s`` in all."""
        if self._closed:
            return
        self._closed = True
        if self.gpu is not None:
            self.gpu.shutdown()
        if self.process_metrics is not None:
            self.process_metrics.uninstrument()
        for endpoint in self._endpoints:
            endpoint.close()
        threads = []
        for signal in self.owned:
            provider = getattr(self, _PROVIDER_ATTR[signal])
            thread = threading.Thread(target=_stop, args=(signal, provider, self.export_timeout_s),
                                      name=f"otel_ml-shutdown-{signal}", daemon=True)
            thread.start()
            threads.append(thread)
        deadline = time.monotonic() + self.export_timeout_s + 1.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            _log.warning("otel_ml: shutdown left %s exporting after %.1f s (their data may be lost)",
                         ", ".join(stuck), self.export_timeout_s + 1.0)


def _stop(signal: str, provider: Any, timeout_s: float) -> None:
    try:
        if signal == "metrics":
            provider.shutdown(timeout_millis=timeout_s * 1000)
        else:
            provider.shutdown()
    except Exception:  # noqa: BLE001 - one signal's failure must not keep the others from stopping
        _log.exception("otel_ml: shutting down the %s provider failed", signal)


_PROVIDER_ATTR = {"traces": "tracer_provider", "metrics": "meter_provider", "logs": "logger_provider"}


def _app_set(provider: Any) -> bool:
    """True when the application has installed a real provider (not the API's proxy / no-op)."""
    name = type(provider).__name__
    return not (name.startswith(("Proxy", "_Proxy", "NoOp", "_DefaultTracerProvider")))


def _protocol(signal: str, explicit: str | None) -> str:
    if explicit is not None:
        key, value = "protocol", explicit
    else:
        key = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
        value = os.environ.get(key)
        if not value:
            key, value = "OTEL_EXPORTER_OTLP_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    value = value.strip().lower()
    if value not in _PROTOCOLS:
        raise ConfigError(key, f"must be one of {', '.join(_PROTOCOLS)}, not {value!r}")
    return value


def _exporter_names(signal: str) -> list[str]:
    key = f"OTEL_{signal.upper()}_EXPORTER"
    names = [n.strip().lower() for n in os.environ.get(key, "otlp").split(",") if n.strip()]
    for name in names:
        if name not in _EXPORTERS[signal]:
            raise ConfigError(key, f"unsupported exporter {name!r} (use {', '.join(_EXPORTERS[signal])})")
    return [n for n in names if n != "none"]


def _export_timeout(signal: str, explicit: float | None, settings: Settings) -> float:
    """Seconds one export may take: the argument, else OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT (seconds,
    as the Python SDK reads it), else ``settings.export_timeout_s``."""
    if explicit is not None:
        return explicit
    for key in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        raw = os.environ.get(key, "").strip()
        if raw:
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(key, f"must be a number of seconds, not {raw!r}") from None
            if not value > 0:
                raise ConfigError(key, f"must be a positive number of seconds, not {raw!r}")
            return value
    return settings.export_timeout_s


def _otlp_exporter(signal: str, endpoint: str | None, protocol: str | None, headers: Mapping[str, str] | None,
                   timeout_s: float):
    proto = _protocol(signal, protocol)
    kwargs: dict[str, Any] = {"timeout": timeout_s}
    if headers:
        kwargs["headers"] = dict(headers)
    try:
        if proto == "grpc":
            if endpoint:
                kwargs["endpoint"] = endpoint
            if signal == "traces":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as cls
            elif signal == "metrics":
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as cls
            else:
                from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as cls
        else:
            if endpoint:
                kwargs["endpoint"] = f"{endpoint.rstrip('/')}/v1/{signal}"
            if signal == "traces":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as cls
            elif signal == "metrics":
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as cls
            else:
                from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as cls
    except ImportError as exc:
        raise UserError(f"OTLP/{proto} exporter missing ({exc.name}): pip install 'otel-ml[sdk]'") from None
    return cls(**kwargs)


def _check_endpoint(endpoint: str | None) -> None:
    if endpoint is None:
        return
    if not isinstance(endpoint, str) or "://" not in endpoint:
        raise ConfigError("endpoint", f"must be a URL such as http://localhost:4317, not {endpoint!r}")


def configure(service_name: str | None = None, endpoint: str | None = None, protocol: str | None = None,
              prometheus_port: int | None = None, *, prometheus_host: str | None = None,
              headers: Mapping[str, str] | None = None, traces: bool = True, metrics: bool = True,
              logs: bool = True, export_interval_ms: int | None = None, gpu_metrics: bool | None = None,
              process_metrics: bool | None = None, resource_attributes: Mapping[str, Any] | None = None,
              settings: Settings | None = None, set_global: bool = True,
              export_timeout_s: float | None = None) -> SdkHandle:
    """Set up the OTel SDK (see the module docstring); returns a handle with ``shutdown()``.

    ``prometheus_port`` (or OTEL_ML_PROMETHEUS_PORT, or OTEL_METRICS_EXPORTER=prometheus, which
    uses 9464) adds a Prometheus /metrics endpoint on ``prometheus_host`` (0.0.0.0 by default);
    port 0 picks a free one, reported in ``handle.prometheus_port``. ``set_global=False`` leaves
    the global providers alone (pass the handle's providers to the instrumentation instead).
    ``export_timeout_s`` bounds each export and so ``handle.shutdown()`` (default 2 s; see above).
    """
    try:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as exc:
        raise UserError(f"the OTel SDK is not installed ({exc.name}): pip install 'otel-ml[sdk]'") from None

    # as before the move: the environment's values when no Settings object is passed
    exporter = PrometheusSettings.from_env() if settings is None else PrometheusSettings()
    settings = settings or Settings.from_env()
    _check_endpoint(endpoint)
    if protocol is not None:
        _protocol("traces", protocol)
    if export_interval_ms is not None and (isinstance(export_interval_ms, bool) or
                                           not isinstance(export_interval_ms, int) or export_interval_ms <= 0):
        raise ConfigError("export_interval_ms", "must be a positive integer")
    if export_timeout_s is not None and (isinstance(export_timeout_s, bool) or
                                         not isinstance(export_timeout_s, (int, float)) or not export_timeout_s > 0):
        raise ConfigError("export_timeout_s", f"must be a positive number of seconds, not {export_timeout_s!r}")
    timeouts = {signal: _export_timeout(signal, export_timeout_s, settings) for signal in _EXPORTERS}
    if prometheus_port is not None or prometheus_host is not None:  # validates the arguments
        exporter = PrometheusSettings(
            exporter.prometheus_port if prometheus_port is None else prometheus_port,
            prometheus_host or exporter.prometheus_host)
    prometheus_port, host = exporter.prometheus_port, exporter.prometheus_host

    attributes = dict(resource_attributes or {})
    if service_name:
        attributes["service.name"] = service_name
    resource = Resource.create(attributes)
    handle = SdkHandle(trace.get_tracer_provider(), otel_metrics.get_meter_provider(), _logs.get_logger_provider(),
                       export_timeout_s=max(timeouts.values()))
    owned: list[str] = []

    # --- traces -------------------------------------------------------------------------
    if set_global and _app_set(handle.tracer_provider):
        _log.info("otel_ml.configure: keeping the application's tracer provider")
    elif traces:
        provider = TracerProvider(resource=resource)
        for name in _exporter_names("traces"):
            exporter = ConsoleSpanExporter() if name == "console" else \
                _otlp_exporter("traces", endpoint, protocol, headers, timeouts["traces"])
            provider.add_span_processor(BatchSpanProcessor(exporter,
                                                           export_timeout_millis=timeouts["traces"] * 1000))
        handle.tracer_provider = provider
        owned.append("traces")

    # --- metrics ------------------------------------------------------------------------
    if set_global and _app_set(handle.meter_provider):
        _log.info("otel_ml.configure: keeping the application's meter provider")
        if prometheus_port is not None:
            _log.warning("otel_ml.configure: prometheus_port ignored, the application set up metrics itself")
    elif metrics:
        readers = []
        names = _exporter_names("metrics")
        if "prometheus" in names and prometheus_port is None:
            prometheus_port = DEFAULT_PROMETHEUS_PORT
        bound_ms = timeouts["metrics"] * 1000
        for name in names:
            if name == "console":
                readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), export_timeout_millis=bound_ms,
                                                             export_interval_millis=export_interval_ms))
            elif name == "otlp":
                exporter = _otlp_exporter("metrics", endpoint, protocol, headers, timeouts["metrics"])
                readers.append(PeriodicExportingMetricReader(exporter, export_timeout_millis=bound_ms,
                                                             export_interval_millis=export_interval_ms))
        handle._push_readers = list(readers)
        if prometheus_port is not None:
            readers.append(_prometheus_reader(handle, host, prometheus_port))
        handle.meter_provider = telemetry_setup.meter_provider(resource, readers)
        owned.append("metrics")

    # --- logs (inference events) --------------------------------------------------------
    if set_global and _app_set(handle.logger_provider):
        _log.info("otel_ml.configure: keeping the application's logger provider")
    elif logs:
        provider = LoggerProvider(resource=resource)
        for name in _exporter_names("logs"):
            exporter = ConsoleLogRecordExporter() if name == "console" else \
                _otlp_exporter("logs", endpoint, protocol, headers, timeouts["logs"])
            batch = None if os.environ.get("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE") else LOG_EXPORT_BATCH
            provider.add_log_record_processor(BatchLogRecordProcessor(
                exporter, max_export_batch_size=batch, export_timeout_millis=timeouts["logs"] * 1000))
        handle.logger_provider = provider
        owned.append("logs")

    handle.owned = tuple(owned)
    if set_global:
        if "traces" in owned:
            trace.set_tracer_provider(handle.tracer_provider)
        if "metrics" in owned:
            otel_metrics.set_meter_provider(handle.meter_provider)
        if "logs" in owned:
            _logs.set_logger_provider(handle.logger_provider)

    if "metrics" in owned:
        meter_provider = handle.meter_provider
        if settings.process_metrics if process_metrics is None else process_metrics:
            from otel_ml.instrumentation.resources import enable_process_metrics
            handle.process_metrics = enable_process_metrics(meter_provider)
        if settings.gpu_metrics if gpu_metrics is None else gpu_metrics:
            from otel_ml.instrumentation.gpu import GpuMetrics
            gpu = GpuMetrics(meter_provider)
            handle.gpu = gpu if gpu.start() else None
    return handle


def _prometheus_reader(handle: SdkHandle, host: str, port: int):
    try:
        endpoint = telemetry_setup.PrometheusEndpoint()
    except ImportError as exc:
        raise UserError(f"Prometheus exporter missing ({exc.name}): pip install 'otel-ml[sdk]'") from None
    handle.prometheus_port = endpoint.serve(host, port, what="prometheus_port: cannot serve Prometheus metrics",
                                            server=telemetry_setup.STDLIB)
    handle._endpoints.append(endpoint)
    return endpoint.reader
