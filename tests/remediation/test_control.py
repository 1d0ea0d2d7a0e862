"""The in-app RoutingClient against a real remediation service over loopback HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from otel_ml import semconv
from otel_ml.errors import ConfigError
from otel_ml.remediation.control import RoutingClient
from tests.support.http_sink import HttpSink
from tests.support.waiting import free_port, wait_until

from .conftest import TOKEN, counter_values, http, key, make_alert, make_notification

POLICY = {"rules": [{"name": "fb", "alertname": "MLInferenceErrorRate", "action": "fallback", "cooldown": 0},
                    {"name": "rb", "alertname": "MLAccuracyBelowThreshold", "action": "rollback"}]}
FAILURES = semconv.Metric.ROUTING_FETCH_FAILURES.name


def _send(svc, *alerts):
    status, _, _ = http("POST", svc.url + "/v1/alerts", make_notification(*alerts))
    assert status == 200


def _failures(reader) -> dict:
    return counter_values(reader, FAILURES)


def test_client_follows_the_service_in_the_background(service_factory, metrics):
    svc = service_factory(POLICY)
    meter, _ = metrics
    err = make_alert("MLInferenceErrorRate", ml_model_name="iris")
    acc = make_alert("MLAccuracyBelowThreshold", ml_model_name="fraud")
    with RoutingClient(svc.url, interval_s=0.05, timeout_s=2, token=TOKEN, meter=meter) as client:
        wait_until(lambda: client.last_success is not None, timeout=10, message="first fetch")
        assert client.variant_for("iris") == semconv.VARIANT_PRIMARY
        _send(svc, err, acc)
        wait_until(lambda: client.variant_for("iris") == semconv.VARIANT_FALLBACK, timeout=10,
                   message="iris on fallback")
        assert client.variant_for("fraud") == semconv.VARIANT_PREVIOUS
        assert client.variant_for("never-mentioned") == semconv.VARIANT_PRIMARY
        _send(svc, {**err, "status": "resolved"})
        wait_until(lambda: client.variant_for("iris") == semconv.VARIANT_PRIMARY, timeout=10,
                   message="iris back on primary")
        assert client.routing == {"fraud": semconv.VARIANT_PREVIOUS}


def test_unreachable_service_keeps_last_routing_and_counts_failures(service_factory, metrics):
    svc = service_factory(POLICY)
    meter, reader = metrics
    _send(svc, make_alert("MLInferenceErrorRate", ml_model_name="iris"))
    client = RoutingClient(svc.url, timeout_s=2, token=TOKEN, meter=meter)
    assert client.refresh() is True
    assert client.refresh() is True  # unchanged: the service answers 304 and the routing stays
    assert client.variant_for("iris") == semconv.VARIANT_FALLBACK
    svc.stop()
    assert client.refresh() is False
    assert client.refresh() is False
    assert client.variant_for("iris") == semconv.VARIANT_FALLBACK
    assert _failures(reader) == {key({semconv.Attr.ERROR_TYPE: "connection_error"}): 2}


def test_wrong_token_is_a_counted_failure(service_factory, metrics):
    svc = service_factory(POLICY)
    meter, reader = metrics
    client = RoutingClient(svc.url, timeout_s=2, token="wrong", meter=meter)
    assert client.refresh() is False and client.last_success is None
    assert client.variant_for("iris") == semconv.VARIANT_PRIMARY
    assert _failures(reader) == {key({semconv.Attr.ERROR_TYPE: "401"}): 1}


def test_garbage_answer_keeps_the_routing(metrics):
    meter, reader = metrics
    with HttpSink() as sink:  # answers {} to everything: no 'models'
        client = RoutingClient(sink.url, timeout_s=2, token="t", meter=meter)
        assert client.refresh() is False
        (req,) = sink.received("/v1/routing")
        assert req.headers["Authorization"] == "Bearer t"
    assert _failures(reader) == {key({semconv.Attr.ERROR_TYPE: "invalid_response"}): 1}


def test_a_silent_service_times_out(metrics):
    meter, reader = metrics
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        client = RoutingClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.3, meter=meter)
        assert client.refresh() is False
    assert _failures(reader) == {key({semconv.Attr.ERROR_TYPE: "timeout"}): 1}


def test_url_forms():
    assert RoutingClient("http://h:9095").url == "http://h:9095/v1/routing"
    assert RoutingClient("http://h:9095/").url == "http://h:9095/v1/routing"
    assert RoutingClient("https://h/remediate/v1/routing").url == "https://h/remediate/v1/routing"


@pytest.mark.parametrize("kwargs, bad_key", [
    ({"url": "ftp://h"}, "url"), ({"url": "h:9095"}, "url"),
    ({"url": "http://h", "interval_s": 0}, "interval_s"), ({"url": "http://h", "timeout_s": -1}, "timeout_s"),
    ({"url": "http://h", "interval_s": "2"}, "interval_s"), ({"url": "http://h", "token": " "}, "token"),
])
def test_bad_configuration_names_the_key(kwargs, bad_key):
    url = kwargs.pop("url")
    with pytest.raises(ConfigError) as info:
        RoutingClient(url, **kwargs)
    assert info.value.key == bad_key


def test_stop_ends_the_thread(metrics):
    meter, _ = metrics
    client = RoutingClient(f"http://127.0.0.1:{free_port()}", interval_s=0.05, timeout_s=0.2, meter=meter)
    client.start()
    thread = client._thread
    client.stop()
    assert not thread.is_alive()
    client.stop()  # idempotent


def test_client_module_pulls_in_no_sdk_yaml_or_server_code():
    code = ("import sys, otel_ml.remediation.control as c; "
            "heavy = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'yaml', 'prometheus_client', "
            "'grpc', 'otel_ml.remediation.server', 'otel_ml.remediation.policy', 'numpy'))]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
