"""Auth wherever the processor listens: /metrics token and TLS, no non-loopback listener
without a token, ``https://`` in the banner, and a SIGTERM that an unreachable OTLP push
cannot hold up."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from otel_ml.errors import UserError
from otel_ml.processor.config import ExportSettings, load_config
from otel_ml.processor.export import MetricsExport
from otel_ml.processor.service import Processor
from otel_ml.semconv import Metric
from tests.support.tls import self_signed_certificate
from tests.support.waiting import wait_until

from .processor_process import OTEL_ML, ROOT, ProcessorProcess

TOKEN = "scrape-token-1"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "metrics-token"
    path.write_text(TOKEN + "\n")
    return path


def _get(url: str, token: str | None = None, context: ssl.SSLContext | None = None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _export(**settings) -> MetricsExport:
    export = MetricsExport(ExportSettings(metrics_endpoint="127.0.0.1:0", **settings))
    export.start()
    return export


def test_metrics_with_a_token_is_401_without_it_and_200_with_it(token_file):
    export = _export(metrics_bearer_token_file=str(token_file))
    try:
        url = f"http://127.0.0.1:{export.metrics_port}/metrics"
        status, headers, _ = _get(url)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert _get(url, "wrong")[0] == 401
        status, headers, body = _get(url, TOKEN)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert f"# TYPE {Metric.PROC_QUEUE_DEPTH.prometheus_name} gauge" in body
    finally:
        export.shutdown()


def test_metrics_without_a_token_is_open_on_loopback():
    export = _export()
    try:
        assert _get(f"http://127.0.0.1:{export.metrics_port}/metrics")[0] == 200
    finally:
        export.shutdown()


def test_metrics_over_tls_with_a_self_signed_certificate(tls, token_file):
    cert, key = tls
    export = _export(metrics_bearer_token_file=str(token_file), metrics_tls_cert_file=str(cert),
                     metrics_tls_key_file=str(key))
    try:
        assert export.metrics_tls
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://localhost:{export.metrics_port}/metrics"
        assert _get(url, context=context)[0] == 401
        status, _, body = _get(url, TOKEN, context)
        assert status == 200 and Metric.PROC_QUEUE_DEPTH.prometheus_name in body
        # plaintext on the TLS port gets no metrics
        conn = http.client.HTTPConnection("127.0.0.1", export.metrics_port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            conn.getresponse()
        conn.close()
    finally:
        export.shutdown()


@pytest.mark.parametrize("setting,value,names", [
    ("receiver.grpc_endpoint", "0.0.0.0:0", ("receiver.grpc_endpoint", "--grpc-endpoint",
                                             "receiver.bearer_token_file")),
    ("receiver.http_endpoint", "0.0.0.0:0", ("receiver.http_endpoint", "--http-endpoint",
                                             "receiver.bearer_token_file")),
    ("export.metrics_endpoint", "0.0.0.0:0", ("export.metrics_endpoint", "--metrics-endpoint",
                                              "export.metrics_bearer_token_file")),
])
def test_non_loopback_listener_without_a_token_is_refused(setting, value, names):
    overrides = {"receiver.grpc_endpoint": "127.0.0.1:0", "receiver.http_endpoint": "127.0.0.1:0",
                 "export.metrics_endpoint": "127.0.0.1:0", setting: value}
    processor = Processor(load_config(None, env={}, overrides=overrides))
    try:
        with pytest.raises(UserError) as raised:
            processor.start()
    finally:
        processor.stop(checkpoint=False)
    message = str(raised.value)
    assert "\n" not in message and all(name in message for name in names), message
    assert processor.grpc_port is None and processor.metrics_port is None  # nothing was bound


def test_cli_refuses_a_non_loopback_receiver_without_a_token_in_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([OTEL_ML, "processor", "--grpc-endpoint", "", "--metrics-endpoint", "",
                             "--http-endpoint", "0.0.0.0:0"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--http-endpoint" in lines[0] and "bearer_token_file" in lines[0], lines


def test_non_loopback_with_tokens_listens_and_the_banner_says_https(tmp_path, tls, token_file):
    cert, key = tls
    receiver_token = tmp_path / "receiver-token"
    receiver_token.write_text("ingest-token")
    config = tmp_path / "processor.yml"
    config.write_text(
        f"receiver: {{bearer_token_file: {receiver_token}, tls_cert_file: {cert}, tls_key_file: {key}}}\n"
        f"export: {{metrics_bearer_token_file: {token_file}, metrics_tls_cert_file: {cert}, "
        f"metrics_tls_key_file: {key}}}\n")
    proc = ProcessorProcess(tmp_path, ["--config", str(config), "--metrics-endpoint", "0.0.0.0:0"])
    try:
        banner = proc.banner
        assert any(line.startswith("otel-ml processor: OTLP/HTTP listening on https://")
                   for line in banner), banner
        assert any("metrics listening on https://0.0.0.0:" in line for line in banner), banner
        assert any("OTLP/gRPC listening on" in line and "(TLS)" in line for line in banner), banner
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://localhost:{proc.metrics_port}/metrics"
        assert _get(url, context=context)[0] == 401
        assert _get(url, TOKEN, context)[0] == 200
    finally:
        proc.stop()


def test_sigterm_is_not_held_up_by_an_unreachable_otlp_endpoint(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on: every push is refused and retried
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    proc = ProcessorProcess(tmp_path, [], env={"OTEL_ML_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}",
                                               "OTEL_ML_EXPORT_INTERVAL_S": "0.2"})
    # the push is failing and retrying when the signal comes
    wait_until(lambda: "Transient error" in proc.log(), timeout=30, message="a failing OTLP push")
    # export.shutdown_timeout_s is 2 s (the SDK's own default would be 30 s of retries)
    assert proc.terminate(timeout=10) == 0, proc.log()[-2000:]
