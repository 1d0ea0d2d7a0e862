"""Export: gauges from evaluations on a real Prometheus endpoint, promtool-clean, OTLP push."""

from __future__ import annotations

import gzip
import subprocess
import threading
import urllib.request
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from otel_ml.errors import UserError
from otel_ml.processor.config import ExportSettings
from otel_ml.processor.contracts import Point
from otel_ml.processor.export import GAUGE_SPECS, MetricsExport, processor_resource
from otel_ml.semconv import OVERFLOW_VALUE, Attr, Metric, metric_by_prometheus_name
from tests.support.http_sink import HttpSink
from tests.support.procs import promtool
from tests.support.waiting import wait_until

MV = {Attr.MODEL_NAME: "iris", Attr.MODEL_VERSION: "3"}


def drift(feature: str, method: str, value: float) -> Point:
    return Point(Metric.DRIFT_SCORE, value, {**MV, Attr.FEATURE_NAME: feature, Attr.DRIFT_METHOD: method,
                                              Attr.DRIFT_SUBJECT: "feature", Attr.WINDOW: "count"})


@pytest.fixture
def export():
    exp = MetricsExport(ExportSettings(metrics_endpoint="127.0.0.1:0"))
    exp.start()
    yield exp
    exp.shutdown()


def scrape(exp: MetricsExport) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{exp.metrics_port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def samples(text: str, name: str) -> dict[str, float]:
    """Sample lines of ``name`` (exact series name) -> value, keyed by their label text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            out[labels[len(name):]] = float(value)
    return out


def test_gauges_follow_the_last_evaluation(export):
    assert export.metrics_port > 0
    export.publish([drift("petal", "ks", 0.42), drift("sepal", "ks", 0.03),
                    Point(Metric.DRIFT_P_VALUE, float("nan"), {**MV, Attr.FEATURE_NAME: "petal"})])
    text = scrape(export)
    scores = samples(text, "ml_drift_score")
    assert len(scores) == 2
    (petal,) = [v for k, v in scores.items() if 'ml_feature_name="petal"' in k]
    assert petal == 0.42
    assert all('ml_model_name="iris"' in k and 'ml_drift_method="ks"' in k for k in scores)
    assert samples(text, "ml_drift_p_value") == {}  # NaN is left out, not exported as NaN

    export.publish([drift("sepal", "ks", 0.5)])  # petal disappeared from the evaluation
    scores = samples(scrape(export), "ml_drift_score")
    assert list(scores.values()) == [0.5] and 'ml_feature_name="sepal"' in next(iter(scores))


def test_every_series_name_is_the_semconv_translation(export):
    points = [Point(spec, 0.5, dict(MV)) for spec in GAUGE_SPECS]
    export.publish(points)
    export.receiver_stats.received("logs", "ml.inference", 3)
    export.receiver_stats.rejected("logs", "malformed", 1)
    export.record_evaluation(0.01, 1700000000.0)
    export.record_checkpoint(1700000001.0)
    export.observe_queue(lambda: 7, 100)
    text = scrape(export)
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    names.discard("target_info")
    unknown = {n for n in names if metric_by_prometheus_name(n) is None}
    assert not unknown, f"series the semconv translation does not predict: {unknown}"
    expected = {s for spec in GAUGE_SPECS for s in spec.prometheus_series}
    for spec in (Metric.PROC_EVENTS_RECEIVED, Metric.PROC_EVENTS_REJECTED, Metric.PROC_QUEUE_DEPTH,
                 Metric.PROC_QUEUE_CAPACITY, Metric.PROC_EVALUATION_DURATION, Metric.PROC_LAST_EVALUATION,
                 Metric.PROC_LAST_CHECKPOINT):
        expected.update(spec.prometheus_series)
    assert expected <= names, expected - names
    assert list(samples(text, Metric.PROC_QUEUE_DEPTH.prometheus_name).values()) == [7]
    assert list(samples(text, Metric.PROC_QUEUE_CAPACITY.prometheus_name).values()) == [100]
    assert list(samples(text, Metric.PROC_LAST_CHECKPOINT.prometheus_name).values()) == [1700000001.0]
    received = samples(text, Metric.PROC_EVENTS_RECEIVED.prometheus_name)
    assert [v for k, v in received.items() if 'event_name="ml.inference"' in k and 'ml_signal="logs"' in k] == [3]


def test_scrape_is_promtool_clean(export):
    export.publish([drift("petal", "ks", 0.42), drift("petal", "psi", 0.3),
                    Point(Metric.PERFORMANCE, 0.91, {**MV, Attr.METRIC_NAME: "accuracy", Attr.SEGMENT: "",
                                                    Attr.METRIC_AVERAGE: "none", Attr.WINDOW: "count"}),
                    Point(Metric.PERFORMANCE_TREND, -0.01, {**MV, Attr.METRIC_NAME: "accuracy"}),
                    Point(Metric.LABELS_PENDING, 12, dict(MV))])
    export.receiver_stats.received("logs", "ml.inference", 5)
    export.receiver_stats.rejected("logs", "malformed", 2)
    export.record_evaluation(0.003, 1700000000.0)
    export.observe_queue(lambda: 0, 1000)
    assert promtool_problems(scrape(export)) == ""


def promtool_problems(text: str) -> str:
    result = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60)
    return "" if result.returncode == 0 and not (result.stdout + result.stderr).strip() \
        else result.stdout + result.stderr


def test_every_gauge_name_passes_promtool(export):
    export.publish([Point(spec, 0.5, dict(MV)) for spec in GAUGE_SPECS])
    assert promtool_problems(scrape(export)) == ""


def test_receiver_counter_labels_are_capped(export):
    for i in range(40):
        export.receiver_stats.received("logs", f"foreign.event.{i}", 1)
    received = samples(scrape(export), Metric.PROC_EVENTS_RECEIVED.prometheus_name)
    assert len(received) == 33  # 32 distinct names, then everything else in one overflow series
    (overflow,) = [v for k, v in received.items() if f'event_name="{OVERFLOW_VALUE}"' in k]
    assert overflow == 8


def test_resource_defaults_and_honours_otel_env(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert processor_resource().attributes["service.name"] == "otel-ml-processor"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=from-attrs")
    res = processor_resource().attributes
    assert res["service.name"] == "from-attrs" and res["deployment.environment"] == "prod"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shard-2")
    assert processor_resource().attributes["service.name"] == "shard-2"

    exp = MetricsExport(ExportSettings(metrics_endpoint="127.0.0.1:0"))
    exp.start()
    try:
        exp.publish([drift("a", "ks", 0.1)])
        info = samples(scrape(exp), "target_info")
        assert len(info) == 1 and 'service_name="shard-2"' in next(iter(info))
    finally:
        exp.shutdown()


def test_port_in_use_is_a_user_error_naming_the_key(export):
    busy = ExportSettings(metrics_endpoint=f"127.0.0.1:{export.metrics_port}")
    other = MetricsExport(busy)
    with pytest.raises(UserError, match=r"export\.metrics_endpoint: cannot listen on 127\.0\.0\.1:\d+"):
        other.start()
    other.shutdown()


def test_shutdown_is_idempotent_and_frees_the_port():
    exp = MetricsExport(ExportSettings(metrics_endpoint="127.0.0.1:0"))
    exp.start()
    port = exp.metrics_port
    exp.shutdown()
    exp.shutdown()
    again = MetricsExport(ExportSettings(metrics_endpoint=f"127.0.0.1:{port}"))
    again.start()
    again.shutdown()


class _MetricsCollector(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self):
        self.requests: list = []
        self.lock = threading.Lock()

    def Export(self, request, context):
        with self.lock:
            self.requests.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


def _gauge_values(requests, name: str) -> list[float]:
    out = []
    for req in requests:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        out.extend(p.as_double for p in m.gauge.data_points)
    return out


def test_otlp_grpc_push_reaches_a_real_grpc_server(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    collector = _MetricsCollector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    exp = MetricsExport(ExportSettings(metrics_endpoint=None, otlp_endpoint=f"http://127.0.0.1:{port}",
                                       otlp_protocol="grpc", export_interval_s=0.2))
    try:
        exp.publish([drift("petal", "ks", 0.42)])
        wait_until(lambda: 0.42 in _gauge_values(collector.requests, Metric.DRIFT_SCORE.name), timeout=20,
                   message="an OTLP export carrying ml.drift.score")
        resource = {kv.key: kv.value.string_value for kv in collector.requests[-1].resource_metrics[0].resource.attributes}
        assert resource["service.name"] == "otel-ml-processor"
    finally:
        exp.shutdown()
        server.stop(0)


def test_otlp_http_push_posts_protobuf_to_v1_metrics():
    with HttpSink() as sink:
        exp = MetricsExport(ExportSettings(metrics_endpoint=None, otlp_endpoint=sink.url,
                                           otlp_protocol="http/protobuf", export_interval_s=0.2))
        try:
            exp.publish([drift("petal", "psi", 0.31)])

            def pushed():
                reqs = []
                for r in sink.received("/v1/metrics"):
                    body = gzip.decompress(r.body) if r.headers.get("Content-Encoding") == "gzip" else r.body
                    req = metrics_service_pb2.ExportMetricsServiceRequest()
                    req.ParseFromString(body)
                    reqs.append(req)
                return 0.31 in _gauge_values(reqs, Metric.DRIFT_SCORE.name)

            wait_until(pushed, timeout=20, message="an OTLP/HTTP export carrying ml.drift.score")
            headers = {k.lower(): v for k, v in sink.received("/v1/metrics")[0].headers.items()}
            assert headers["content-type"] == "application/x-protobuf"
        finally:
            exp.shutdown()
