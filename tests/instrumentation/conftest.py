"""In-memory OTel SDK pipelines for the instrumentation tests: spans, metrics and log records."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_ml.instrumentation import Settings


@dataclass
class Otel:
    """Providers to inject plus what they exported."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    span_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    log_exporter: InMemoryLogRecordExporter

    @property
    def providers(self) -> dict:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider,
                "logger_provider": self.logger_provider}

    def spans(self):
        return list(self.span_exporter.get_finished_spans())

    def logs(self):
        return [d.log_record for d in self.log_exporter.get_finished_logs()]

    def metrics(self) -> dict:
        """metric name -> list of data points (one collection)."""
        out: dict[str, list] = {}
        data = self.reader.get_metrics_data()
        for rm in (data.resource_metrics if data else []):
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


def points(metrics: dict, name: str, **attrs) -> list:
    """Data points of ``name`` whose attributes include ``attrs`` (keys with dots as given)."""
    return [p for p in metrics.get(name, []) if all(p.attributes.get(k) == v for k, v in attrs.items())]


def point_map(metrics: dict, name: str, key: str) -> dict:
    """{attribute value of ``key``: point value} for a sum / gauge metric."""
    return {p.attributes.get(key): p.value for p in metrics.get(name, [])}


@pytest.fixture
def otel():
    tp = TracerProvider()
    spans = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    lp = LoggerProvider()
    logs = InMemoryLogRecordExporter()
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    yield Otel(tp, mp, lp, spans, reader, logs)
    tp.shutdown()
    mp.shutdown()
    lp.shutdown()


@pytest.fixture
def settings() -> Settings:
    """Defaults with events and feature capture on (what the processor needs)."""
    return Settings(capture_features=True)


def reset_otel_globals() -> None:
    """Forget the global OTel providers (as opentelemetry-test-utils does) and otel_ml's caches."""
    from opentelemetry import trace
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.util._once import Once

    from otel_ml.instrumentation import wrappers
    from otel_ml.instrumentation.telemetry import reset_default_telemetry

    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    trace._PROXY_TRACER_PROVIDER = trace.ProxyTracerProvider()
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    metrics_internal._PROXY_METER_PROVIDER = metrics_internal._ProxyMeterProvider()
    logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
    logs_internal._LOGGER_PROVIDER = None
    logs_internal._PROXY_LOGGER_PROVIDER = logs_internal.ProxyLoggerProvider()
    reset_default_telemetry()
    wrappers._settings = None


@pytest.fixture
def global_otel(otel, monkeypatch):
    """``otel`` installed as the global providers, reset before and after the test."""
    from opentelemetry import _logs, metrics, trace

    for var in [v for v in __import__("os").environ if v.startswith("OTEL_")]:
        monkeypatch.delenv(var)
    reset_otel_globals()
    trace.set_tracer_provider(otel.tracer_provider)
    metrics.set_meter_provider(otel.meter_provider)
    _logs.set_logger_provider(otel.logger_provider)
    yield otel
    reset_otel_globals()


@pytest.fixture
def clean_globals(monkeypatch):
    """No global providers and no OTEL_* variables, before and after the test."""
    for var in [v for v in __import__("os").environ if v.startswith("OTEL_")]:
        monkeypatch.delenv(var)
    reset_otel_globals()
    yield
    reset_otel_globals()
