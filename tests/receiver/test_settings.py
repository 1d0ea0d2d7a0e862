"""ReceiverSettings: defaults, and every invalid key named in the error (table-driven)."""

from __future__ import annotations

import pytest

from otel_ml.config_checks import from_mapping
from otel_ml.errors import ConfigError
from otel_ml.processor.receiver import ReceiverSettings


def test_defaults_listen_on_loopback():
    s = from_mapping(ReceiverSettings, {}, "receiver")
    assert (s.grpc_endpoint, s.http_endpoint) == ("127.0.0.1:4317", "127.0.0.1:4318")
    assert s.max_request_bytes == 32 * 1024 * 1024 and s.token() is None and not s.tls_enabled
    assert (s.max_concurrent_requests, s.max_connections) == (16, 256)


def test_valid_mapping(tmp_path):
    cert, key, token = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "token"
    cert.write_text("c")
    key.write_text("k")
    token.write_text("  s3cret\n")
    s = from_mapping(ReceiverSettings, {
        "grpc_endpoint": "[::1]:0", "http_endpoint": "", "max_request_bytes": 1024,
        "tls_cert_file": str(cert), "tls_key_file": str(key), "bearer_token_file": str(token),
        "retry_after_s": 0.5, "merge_events": False}, "receiver")
    assert s.grpc_endpoint == "[::1]:0" and s.http_endpoint == "" and s.tls_enabled
    assert s.token() == "s3cret" and s.retry_after_s == 0.5 and s.merge_events is False


def test_null_endpoint_disables():
    assert from_mapping(ReceiverSettings, {"http_endpoint": None}, "receiver").http_endpoint == ""


INVALID = [
    ({"grcp_endpoint": "x:1"}, "receiver.grcp_endpoint", "unknown key"),
    ({"grpc_endpoint": "4317"}, "receiver.grpc_endpoint", "host:port"),
    ({"grpc_endpoint": ":4317"}, "receiver.grpc_endpoint", "host is missing"),
    ({"http_endpoint": "localhost:http"}, "receiver.http_endpoint", "port must be"),
    ({"http_endpoint": "localhost:70000"}, "receiver.http_endpoint", "port must be"),
    ({"http_endpoint": "::1:4318"}, "receiver.http_endpoint", "brackets"),
    ({"max_request_bytes": 0}, "receiver.max_request_bytes", "integer"),
    ({"max_request_bytes": "4MiB"}, "receiver.max_request_bytes", "integer"),
    ({"max_request_bytes": True}, "receiver.max_request_bytes", "integer"),
    ({"retry_after_s": -1}, "receiver.retry_after_s", "seconds"),
    ({"merge_events": "yes"}, "receiver.merge_events", "true or false"),
    ({"max_concurrent_requests": 0}, "receiver.max_concurrent_requests", "integer in 1..4096"),
    ({"max_concurrent_requests": "16"}, "receiver.max_concurrent_requests", "integer"),
    ({"max_concurrent_requests": True}, "receiver.max_concurrent_requests", "integer"),
    ({"max_connections": 0}, "receiver.max_connections", "integer in 1..65536"),
    ({"max_connections": 2.5}, "receiver.max_connections", "integer"),
    ({"tls_cert_file": "/nonexistent/c.pem", "tls_key_file": "/nonexistent/k.pem"},
     "receiver.tls_cert_file", "file not found"),
    ({"tls_key_file": "/etc/hostname"}, "receiver.tls_cert_file", "together"),
    ({"bearer_token_file": "/nonexistent/token"}, "receiver.bearer_token_file", "file not found"),
    ({"bearer_token": "a", "bearer_token_file": "/etc/hostname"}, "receiver.bearer_token", "not both"),
    ({"bearer_token": "  "}, "receiver.bearer_token", "non-empty"),
]


@pytest.mark.parametrize("data,key,problem", INVALID, ids=[c[1] + ":" + c[2] for c in INVALID])
def test_invalid_mapping_names_the_key(data, key, problem):
    with pytest.raises(ConfigError) as info:
        from_mapping(ReceiverSettings, data, "receiver")
    assert info.value.key == key
    assert problem in info.value.problem


def test_prefix_and_empty_token_file(tmp_path):
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(ConfigError) as info:
        from_mapping(ReceiverSettings, {"bearer_token_file": str(empty)}, "processor.receiver")
    assert info.value.key == "processor.receiver.bearer_token_file" and "empty" in info.value.problem


def test_not_a_mapping():
    with pytest.raises(ConfigError) as info:
        from_mapping(ReceiverSettings, ["grpc_endpoint"], "receiver")
    assert info.value.key == "receiver"


def test_direct_construction_validates_too():
    with pytest.raises(ConfigError) as info:
        ReceiverSettings(http_endpoint="nope")
    assert info.value.key == "http_endpoint"
