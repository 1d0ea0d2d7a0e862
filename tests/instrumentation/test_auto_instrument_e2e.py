"""End to end: ``opentelemetry-instrument python app.py`` on an app with no otel_ml import exports the
scikit-learn inference spans, RED metrics and inference events over OTLP/HTTP to a real receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from otel_ml.semconv import Attr, EventName, Metric
from tests.support.otlp_http_sink import OtlpHttpSink, any_value, attributes
from tests.support.waiting import wait_until

M = Metric
APP = textwrap.dedent("""
    # A plain serving script: scikit-learn only, no OpenTelemetry or otel_ml import.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    labels = clf.predict(X[:10])
    proba = clf.predict_proba(X[50:70])
    print("served", len(labels) + len(proba))
""")


@pytest.fixture
def sink():
    with OtlpHttpSink() as s:
        yield s


def test_opentelemetry_instrument_exports_sklearn_telemetry(tmp_path: Path, sink: OtlpHttpSink):
    try:  # opentelemetry-instrument configures the SDK through the distro's configurator
        version("opentelemetry-distro")
    except PackageNotFoundError:
        pytest.fail("opentelemetry-distro is not installed: pip install 'otel-ml[dev]'", pytrace=False)
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({
        "OTEL_SERVICE_NAME": "iris-app",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        # only the instrumentor under test: keeps the subprocess fast and the output exact
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "torch,onnxruntime,system_metrics",
        "OTEL_ML_MODEL_VERSION": "2024-06",
        "OTEL_ML_CAPTURE_FEATURES": "true",
    })
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    proc = subprocess.run([str(instrument), sys.executable, str(app)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "served 30" in proc.stdout

    # the SDK flushes at exit; the receiver has the data once the process is gone
    spans = wait_until(lambda: [s for s in sink.spans() if s.name == "ml.inference"], timeout=10,
                       message="ml.inference spans")
    got = sorted((attributes(s.attributes)[Attr.BATCH_SIZE], attributes(s.attributes)[Attr.MODEL_NAME],
                  attributes(s.attributes)[Attr.MODEL_VERSION], attributes(s.attributes)[Attr.STATUS]) for s in spans)
    assert got == [(10, "LogisticRegression", "2024-06", "ok"), (20, "LogisticRegression", "2024-06", "ok")]
    assert {r.get("service.name") for r in sink.resources("/v1/traces")} == {"iris-app"}

    metrics = {m.name: m for m in sink.metrics()}
    requests = metrics[M.INFERENCE_REQUESTS.name].sum
    assert requests.is_monotonic and sum(p.as_int for p in requests.data_points) == 2
    assert {attributes(p.attributes)[Attr.STATUS] for p in requests.data_points} == {"ok"}
    duration = metrics[M.INFERENCE_DURATION.name].histogram
    assert sum(p.count for p in duration.data_points) == 2
    assert list(duration.data_points[0].explicit_bounds)[:3] == [0.0001, 0.00025, 0.0005]
    batch = metrics[M.BATCH_SIZE.name].histogram
    assert sum(p.sum for p in batch.data_points) == 30
    assert sum(p.as_int for p in metrics[M.PREDICTIONS.name].sum.data_points) == 30

    events = [r for r in sink.log_records() if r.event_name == EventName.INFERENCE]
    assert len(events) == 2
    by_span = {s.span_id: s for s in spans}
    for record in events:
        assert record.span_id in by_span and record.trace_id == by_span[record.span_id].trace_id
        body = any_value(record.body)
        assert len(body["prediction_ids"]) == len(body["prediction"]) == len(body["features"]["x0"])
    assert sorted(len(any_value(r.body)["prediction"]) for r in events) == [10, 20]
