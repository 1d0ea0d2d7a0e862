"""telemetry_setup.PrometheusEndpoint: the one registry + reader + /metrics server of app, processor
and remediation; plain HTTP, or the aiohttp server when a token is asked for; bind errors name the key."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from opentelemetry.sdk.resources import Resource
from prometheus_client.parser import text_string_to_metric_families

from otel_ml.errors import UserError
from otel_ml.processor.receiver.auth import BearerAuth
from otel_ml.telemetry_setup import AIOHTTP, STDLIB, PrometheusEndpoint, meter_provider


def _scrape(port: int, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.mark.parametrize("server, token", [(STDLIB, None), (AIOHTTP, None), (AIOHTTP, "s3cret")])
def test_a_counter_reaches_the_endpoint_and_close_stops_serving(server, token):
    endpoint = PrometheusEndpoint()
    provider = meter_provider(Resource.create({"service.name": "t"}), [endpoint.reader])
    try:
        port = endpoint.serve("127.0.0.1", 0, what="test", server=server, auth=BearerAuth(token) if token else None)
        assert endpoint.serve("127.0.0.1", 0, what="test") == port  # already serving
        provider.get_meter("t").create_counter("plumb.checks").add(3, {"k": "v"})
        if token:
            assert _scrape(port)[0] == 401
        status, text = _scrape(port, token)
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "plumb_checks_total"]
        assert status == 200 and [(s.value, s.labels["k"]) for s in samples] == [(3.0, "v")]
    finally:
        endpoint.close()
        endpoint.close()  # idempotent
        provider.shutdown()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.parametrize("server, token", [(STDLIB, None), (AIOHTTP, "s3cret")])
def test_a_busy_port_is_one_user_error_naming_the_key(server, token):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        endpoint = PrometheusEndpoint()
        with pytest.raises(UserError, match=rf"^export\.metrics_endpoint: cannot listen on 127\.0\.0\.1:{port}: "):
            endpoint.serve("127.0.0.1", port, what="export.metrics_endpoint", server=server,
                           auth=BearerAuth(token) if token else None)
        assert endpoint.port is None


def test_the_stdlib_server_takes_no_token():
    with pytest.raises(ValueError, match="server="):
        PrometheusEndpoint().serve("127.0.0.1", 0, what="test", server=STDLIB, auth=BearerAuth("t"))


def test_two_endpoints_in_one_process_keep_their_series_apart():
    a, b = PrometheusEndpoint(), PrometheusEndpoint()
    pa = meter_provider(Resource.create({}), [a.reader])
    pb = meter_provider(Resource.create({}), [b.reader])
    try:
        pa.get_meter("t").create_counter("only.in.a").add(1)
        names_b = {s.name for f in b.registry.collect() for s in f.samples}
        names_a = {s.name for f in a.registry.collect() for s in f.samples}
        assert "only_in_a_total" in names_a and "only_in_a_total" not in names_b
    finally:
        pa.shutdown()
        pb.shutdown()
