"""otel_ml.configure(): real OTLP/HTTP export to a receiver on 127.0.0.1, a Prometheus endpoint that
promtool accepts, the standard OTEL_* variables, and never replacing an application's providers."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request

import numpy as np
import pytest
from opentelemetry import trace

from otel_ml import configure
from otel_ml.errors import ConfigError, UserError
from otel_ml.instrumentation import Settings, inference
from otel_ml.semconv import Attr, EventName, Metric
from tests.support.otlp_http_sink import OtlpHttpSink, attributes
from tests.support.procs import promtool
from tests.support.waiting import wait_until

M = Metric


def _serve_one(handle, settings=None):
    with inference("fraud", "3", settings=settings or Settings(capture_features=True),
                   tracer_provider=handle.tracer_provider, meter_provider=handle.meter_provider,
                   logger_provider=handle.logger_provider) as call:
        call.record_outputs(probabilities=np.array([[0.9, 0.1], [0.35, 0.65]]), classes=["ok", "fraud"],
                            features={"amount": [12.0, 990.0]})


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def test_otlp_http_export_and_prometheus_endpoint(monkeypatch):
    for var in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
                "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    with OtlpHttpSink() as sink:
        handle = configure(service_name="fraud-api", endpoint=sink.endpoint, protocol="http/protobuf",
                           prometheus_port=0, prometheus_host="127.0.0.1", set_global=False,
                           gpu_metrics=False, process_metrics=True, export_interval_ms=60_000)
        try:
            assert handle.owned == ("traces", "metrics", "logs") and handle.prometheus_port
            _serve_one(handle)
            handle.force_flush()
            [span] = wait_until(lambda: sink.spans(), timeout=10, message="span")
            assert span.name == "ml.inference" and attributes(span.attributes)[Attr.MODEL_NAME] == "fraud"
            assert {r["service.name"] for r in sink.resources("/v1/traces")} == {"fraud-api"}
            names = wait_until(lambda: sink.metric_names() if M.INFERENCE_REQUESTS.name in sink.metric_names()
                               else None, timeout=10, message="metrics")
            assert {M.INFERENCE_DURATION.name, M.CONFIDENCE.name, "process.cpu.time"} <= names
            [event] = wait_until(lambda: sink.log_records(), timeout=10, message="inference event")
            assert event.event_name == EventName.INFERENCE and event.span_id == span.span_id

            text = _scrape(handle.prometheus_port)
            for spec in (M.INFERENCE_REQUESTS, M.INFERENCE_ACTIVE, M.PREDICTIONS, M.PREDICTION_CLASS,
                         M.LOW_CONFIDENCE):
                assert f"\n{spec.prometheus_name}{{" in text, spec.prometheus_name
            for series in (M.INFERENCE_DURATION.prometheus_series + M.BATCH_SIZE.prometheus_series
                           + M.CONFIDENCE.prometheus_series):
                assert f"\n{series}{{" in text, series
            assert "# TYPE ml_prediction_confidence histogram" in text and "ml_confidence_le" not in text
            assert 'ml_prediction_confidence_bucket{' in text and 'le="+Inf"' in text
            assert "process_cpu_time_seconds_total" in text
            check = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                                   timeout=30)
            assert check.returncode == 0, check.stdout + check.stderr
        finally:
            handle.shutdown()
        handle.shutdown()  # idempotent
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", handle.prometheus_port), timeout=1).close()


def test_standard_variables_are_honoured(clean_globals, monkeypatch):
    with OtlpHttpSink() as sink:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
        monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
        monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
        handle = configure(gpu_metrics=False, process_metrics=False)
        try:
            assert trace.get_tracer_provider() is handle.tracer_provider  # set as the global
            with inference("m", "1", settings=Settings()):
                pass
            handle.force_flush()
            wait_until(lambda: sink.spans(), timeout=10, message="span via OTEL_EXPORTER_OTLP_ENDPOINT")
            [resource] = sink.resources("/v1/traces")
            assert resource["service.name"] == "from-env" and resource["deployment.environment"] == "staging"
            assert sink.requests["/v1/metrics"] == [] and sink.requests["/v1/logs"] == []
        finally:
            handle.shutdown()


def test_an_application_provider_is_never_replaced(clean_globals):
    from opentelemetry.sdk.trace import TracerProvider
    app_provider = TracerProvider()
    trace.set_tracer_provider(app_provider)
    handle = configure(endpoint="http://127.0.0.1:9", gpu_metrics=False, process_metrics=False,
                       metrics=False, logs=False)
    try:
        assert handle.owned == () and handle.tracer_provider is app_provider
        assert trace.get_tracer_provider() is app_provider
    finally:
        handle.shutdown()
        app_provider.shutdown()


@pytest.mark.parametrize("kwargs,env,key", [
    ({"protocol": "http/json"}, {}, "protocol"),
    ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ({}, {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
    ({"endpoint": "localhost:4317"}, {}, "endpoint"),
    ({"export_interval_ms": 0}, {}, "export_interval_ms"),
    ({"prometheus_port": 99999}, {}, "prometheus_port"),
    ({}, {"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
    ({}, {"OTEL_ML_PROMETHEUS_PORT": "http"}, "OTEL_ML_PROMETHEUS_PORT"),
    ({"export_timeout_s": 0}, {}, "export_timeout_s"),
    ({}, {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
    ({}, {"OTEL_ML_EXPORT_TIMEOUT_S": "-1"}, "OTEL_ML_EXPORT_TIMEOUT_S"),
])
def test_bad_configuration_names_the_key(clean_globals, monkeypatch, kwargs, env, key):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        configure(set_global=False, gpu_metrics=False, process_metrics=False, **kwargs)
    assert err.value.key == key


def test_prometheus_port_in_use_is_a_user_error(clean_globals):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UserError, match=f"127.0.0.1:{port}"):
            configure(prometheus_port=port, prometheus_host="127.0.0.1", set_global=False, traces=False,
                      logs=False, gpu_metrics=False, process_metrics=False)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_shutdown_with_an_unreachable_endpoint_is_bounded(clean_globals, monkeypatch, protocol):
    """Every signal has data queued and nobody listens: the SDK alone retries ~10 s per signal."""
    for var in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
                "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_ML_EXPORT_TIMEOUT_S"):
        monkeypatch.delenv(var, raising=False)
    handle = configure(endpoint=f"http://127.0.0.1:{_closed_port()}", protocol=protocol, set_global=False,
                       gpu_metrics=False, process_metrics=False)
    assert handle.export_timeout_s == 2.0
    _serve_one(handle)
    started = time.monotonic()
    handle.shutdown()
    took = time.monotonic() - started
    assert took < 5.0, f"shutdown took {took:.1f} s"  # a behaviour bound, not a benchmark (~1-2 s)


def test_the_export_deadline_follows_the_argument_then_the_standard_variable(clean_globals, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7")
    handle = configure(set_global=False, gpu_metrics=False, process_metrics=False, metrics=False)
    try:
        assert handle.export_timeout_s == 7.0
    finally:
        handle.shutdown()
    handle = configure(set_global=False, gpu_metrics=False, process_metrics=False, metrics=False,
                       export_timeout_s=0.5)
    try:
        assert handle.export_timeout_s == 0.5
    finally:
        handle.shutdown()


def test_prometheus_variables_apply_unless_a_settings_object_is_passed(clean_globals, monkeypatch):
    """OTEL_ML_PROMETHEUS_PORT/_HOST are read on the SDK side now, as they were: from the
    environment only when configure() builds its own settings."""
    monkeypatch.setenv("OTEL_ML_PROMETHEUS_PORT", "0")
    monkeypatch.setenv("OTEL_ML_PROMETHEUS_HOST", "127.0.0.1")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    options = dict(set_global=False, traces=False, logs=False, gpu_metrics=False, process_metrics=False)
    handle = configure(**options)
    try:
        assert handle.prometheus_port
        handle.meter_provider.get_meter("t").create_counter("plumb.env").add(1)
        assert re.search(r"^plumb_env_total(\{[^}]*\})? 1\.0$", _scrape(handle.prometheus_port), re.M)
    finally:
        handle.shutdown()
    handle = configure(settings=Settings(), **options)
    try:
        assert handle.prometheus_port is None
    finally:
        handle.shutdown()
