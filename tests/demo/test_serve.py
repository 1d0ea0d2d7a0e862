"""`otel-ml demo serve`, the compose example app, as its own process.

Its OTLP goes to a local OTLP/HTTP receiver that decodes what the real SDK exporters send; its
routing comes from a real in-process remediation service with the demo policy. Checked: spans,
inference events carrying the features, ground truth joined to those events' prediction ids,
RED metrics on its /metrics, a remediation switching it to the fallback, a clean SIGTERM.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import urllib.request
from importlib import resources
from pathlib import Path

import pytest

from otel_ml.demo.model import FALLBACK_VERSION, MODEL_NAME
from otel_ml._support.metrics_text import scrape, select
from otel_ml.demo.serve import ServeOptions
from otel_ml.remediation.auth import Credentials
from otel_ml.remediation.policy import load_policy
from otel_ml.remediation.service import RemediationService
from otel_ml.semconv import Attr, Body, EventName, Metric
from tests.support.otlp_http_sink import OtlpHttpSink, any_value, attributes
from tests.support.waiting import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "serve-test-token"  # admin: posts the alerts
ROUTING_TOKEN = "serve-test-routing-token"  # read-only: all the app gets


@pytest.fixture
def remediate(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(resources.files("otel_ml.demo").joinpath("remediation-policy.yaml").read_text())
    svc = RemediationService(load_policy(policy), state_dir=tmp_path / "state",
                             credentials=Credentials(token=TOKEN.encode(), routing_token=ROUTING_TOKEN.encode()), host="127.0.0.1", port=0).start()
    yield svc
    svc.stop()


def post_alert(url: str, status: str) -> None:
    now = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    labels = {"alertname": "MLFeatureDrift", "severity": "critical", "remediation": "retrain",
              "ml_model_name": MODEL_NAME, "ml_model_version": "2.1.0", "ml_feature_name": "mean_texture"}
    body = {"version": "4", "status": status, "receiver": "otel-ml-remediate", "groupKey": "g",
            "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {},
            "externalURL": "http://am", "alerts": [{
                "status": status, "labels": labels, "annotations": {}, "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": "", "fingerprint": "0123456789abcdef"}]}
    req = urllib.request.Request(url + "/v1/alerts", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def inference_events(sink: OtlpHttpSink) -> list:
    return [r for r in sink.log_records() if r.event_name == EventName.INFERENCE]


def test_serve_exports_otlp_serves_metrics_and_follows_routing(tmp_path, remediate):
    metrics_port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(ROUTING_TOKEN + "\n")
    with OtlpHttpSink() as sink:
        log = open(tmp_path / "serve.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "otel_ml.cli", "demo", "serve", "--otlp-endpoint", sink.endpoint,
             "--otlp-protocol", "http/protobuf", "--metrics-host", "127.0.0.1", "--metrics-port", str(metrics_port),
             "--routing-url", remediate.url, "--routing-token-file", str(token_file), "--rate", "20"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "OTEL_BLRP_SCHEDULE_DELAY": "200", "OTEL_BSP_SCHEDULE_DELAY": "200"})
        try:
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            requests = Metric.INFERENCE_REQUESTS.prometheus_name

            def served(variant):
                return sum(s.value for s in select(scrape(metrics_url), requests, ml_variant=variant))

            wait_until(lambda: served("primary") >= 20, timeout=60, message="RED metrics on the app's /metrics")
            events = wait_until(lambda: inference_events(sink), timeout=30, message="inference events over OTLP")
            body = any_value(events[0].body)
            assert set(body[Body.FEATURES]) >= {"mean_texture", "mean_radius"}
            assert attributes(events[0].attributes)[Attr.MODEL_NAME] == MODEL_NAME
            assert wait_until(lambda: sink.spans(), timeout=30, message="inference spans over OTLP")

            # ground truth arrives later and names predictions the events carried
            def label_ids():
                out = set()
                for r in sink.log_records():
                    if r.event_name == EventName.GROUND_TRUTH:
                        out.update(any_value(r.body)[Body.PREDICTION_IDS])
                return out

            labelled = wait_until(label_ids, timeout=30, message="ground-truth events")
            predicted = set()
            for r in inference_events(sink):
                b, a = any_value(r.body), attributes(r.attributes)
                predicted.update(b.get(Body.PREDICTION_IDS) or [a.get(Attr.PREDICTION_ID)])
            assert labelled and labelled <= predicted

            # a remediation switches the app to its fallback, visible by ml_variant on /metrics
            post_alert(remediate.url, "firing")
            wait_until(lambda: served("fallback") >= 10, timeout=30, message="requests served by the fallback")
            fallback_version = {s.get("ml_model_version") for s in select(scrape(metrics_url), requests,
                                                                          ml_variant="fallback")}
            assert fallback_version == {FALLBACK_VERSION}

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "otel-ml demo serve: serving breast-cancer" in output and "Traceback" not in output


def test_routing_token_comes_from_the_file_else_the_routing_token_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_ML_REMEDIATE_ROUTING_TOKEN", raising=False)
    monkeypatch.setenv("OTEL_ML_REMEDIATE_TOKEN", "admin-token")
    options = ServeOptions(otlp_endpoint="http://localhost:4317")
    assert options.routing_token() is None  # never the admin token
    monkeypatch.setenv("OTEL_ML_REMEDIATE_ROUTING_TOKEN", " read-only \n")
    assert options.routing_token() == "read-only"
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert ServeOptions(otlp_endpoint="http://localhost:4317", routing_token_file=str(token_file)).routing_token() \
        == "from-file"
