"""OTLP/HTTP receiver over real sockets: the SDK's HTTP exporters, hand-written OTLP/JSON, bad input."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import ssl
import tracemalloc

import pytest
from google.rpc import code_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from otel_ml.errors import UserError
from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch
from otel_ml.processor.receiver import Receivers, ReceiverSettings
from otel_ml.semconv import Attr, Body
from otel_ml.semconv import EventName

from .http_client import JS, PB, post, rpc_status
from .otlp_builders import inference, record, request
from .sdk_clients import InferenceTraffic, export_logs, export_metrics, export_spans


# --- the SDK's HTTP exporters --------------------------------------------------------------


def test_sdk_http_log_exporter_with_gzip(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", merge_events=False)
    traffic = InferenceTraffic(n=3)
    exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{receivers.http_port}/v1/logs",
                               compression=Compression.Gzip)
    export_logs(exporter, traffic)
    events = sink.snapshot()
    assert len(events) == 6
    for i in range(3):
        traffic.check_single(events[i], f"pred-{i}")
    assert events[3].prediction_ids == ["b-0", "b-1"]
    assert isinstance(events[4], GroundTruthEvent)
    assert stats.received_counts[("logs", EventName.INFERENCE)] == 4


def test_merged_singles_over_http(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="")
    traffic = InferenceTraffic(n=4)
    export_logs(OTLPLogExporter(endpoint=f"http://127.0.0.1:{receivers.http_port}/v1/logs"), traffic)
    merged = sink.snapshot()[0]
    assert isinstance(merged, InferenceBatch) and merged.n == 4
    assert merged.prediction_ids == [f"pred-{i}" for i in range(4)]
    assert merged.features["plan"] == ["basic", "pro", "basic", "pro"]
    assert merged.features["income"][1] is None
    assert merged.confidences == [traffic.expected[f"pred-{i}"]["confidence"] for i in range(4)]
    assert merged.trace_id == b""  # four spans: no single span stands for the batch


def test_sdk_http_metric_and_span_exporters(start_receivers, stats):
    receivers = start_receivers(grpc_endpoint="")
    base = f"http://127.0.0.1:{receivers.http_port}"
    points = export_metrics(OTLPMetricExporter(endpoint=base + "/v1/metrics"))
    export_spans(OTLPSpanExporter(endpoint=base + "/v1/traces", compression=Compression.Gzip), n=5)
    assert stats.received_counts[("metrics", "")] == points
    assert stats.received_counts[("traces", "")] == 5


# --- OTLP/JSON -----------------------------------------------------------------------------

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"


def json_logs_payload() -> dict:
    """Per the OTLP/JSON spec: hex ids, int64 as strings, lowerCamelCase, integer enums."""
    return {
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "someFutureField": {"ignored": True},
            "scopeLogs": [{
                "scope": {"name": "manual"},
                "logRecords": [
                    {
                        "timeUnixNano": "1700000000000000000",
                        "severityNumber": 9,
                        "eventName": "ml.inference",
                        "traceId": TRACE_HEX,
                        "spanId": SPAN_HEX,
                        "attributes": [
                            {"key": "ml.model.name", "value": {"stringValue": "fraud"}},
                            {"key": "ml.model.version", "value": {"stringValue": "3"}},
                            {"key": "ml.prediction.id", "value": {"stringValue": "j-1"}},
                        ],
                        "body": {"kvlistValue": {"values": [
                            {"key": "features", "value": {"kvlistValue": {"values": [
                                {"key": "amount", "value": {"doubleValue": 12.5}},
                                {"key": "count", "value": {"intValue": "9007199254740993"}},
                                {"key": "country", "value": {"stringValue": "FR"}},
                                {"key": "missing", "value": {}},
                                {"key": "ratio", "value": {"doubleValue": "NaN"}},
                            ]}}},
                            {"key": "prediction", "value": {"intValue": "1"}},
                            {"key": "confidence", "value": {"doubleValue": 0.8}},
                        ]}},
                    },
                    {  # legacy event.name attribute, snake_case keys are accepted too
                        "attributes": [
                            {"key": "event.name", "value": {"stringValue": "ml.ground_truth"}},
                            {"key": "ml.prediction.id", "value": {"stringValue": "j-0"}},
                        ],
                        "body": {"kvlistValue": {"values": [
                            {"key": "label", "value": {"stringValue": "fraud"}}]}},
                        "observed_time_unix_nano": "5",
                    },
                ],
            }],
        }],
    }


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_otlp_json_by_hand(start_receivers, sink, gzipped):
    receivers = start_receivers(grpc_endpoint="")
    body = json.dumps(json_logs_payload()).encode()
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    status, hdrs, resp = post(receivers.http_port, "/v1/logs", gzip.compress(body) if gzipped else body,
                              JS, headers)
    assert status == 200 and hdrs["Content-Type"] == JS
    assert json.loads(resp) == {}  # full success: partialSuccess unset
    batch, label = sink.snapshot()
    assert batch.trace_id == bytes.fromhex(TRACE_HEX) and batch.span_id == bytes.fromhex(SPAN_HEX)
    assert batch.time_unix_nano == 1_700_000_000_000_000_000
    assert batch.features["amount"] == [12.5] and batch.features["country"] == ["FR"]
    assert batch.features["count"] == [9007199254740993]  # int64 beyond double precision
    assert batch.features["missing"] == [None]
    assert batch.features["ratio"][0] != batch.features["ratio"][0]  # NaN kept
    assert (batch.model, batch.version, batch.predictions, batch.prediction_ids) == (
        "fraud", "3", [1], ["j-1"])
    assert (label.prediction_id, label.label, label.time_unix_nano) == ("j-0", "fraud", 5)


def test_otlp_json_partial_success(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="")
    doc = json_logs_payload()
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    no_body = json.loads(json.dumps(records[0]))
    del no_body["body"]
    records.insert(0, no_body)
    status, _, resp = post(receivers.http_port, "/v1/logs", json.dumps(doc).encode(), JS)
    assert status == 200
    partial = json.loads(resp)["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 1 and "body is missing" in partial["errorMessage"]
    assert [type(e).__name__ for e in sink.snapshot()] == ["InferenceBatch", "GroundTruthEvent"]
    assert stats.rejected_counts == {("logs", "invalid_event"): 1}


def test_protobuf_partial_success(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="")
    req = request(inference(pid="a"), record(EventName.INFERENCE, {Body.FEATURES: {"x": 1.0}}, {}))
    status, hdrs, resp = post(receivers.http_port, "/v1/logs", req.SerializeToString())
    assert status == 200 and hdrs["Content-Type"] == PB
    parsed = ExportLogsServiceResponse.FromString(resp)
    assert parsed.partial_success.rejected_log_records == 1
    assert Attr.MODEL_NAME in parsed.partial_success.error_message
    assert sink.snapshot()[0].prediction_ids == ["a"]


@pytest.mark.parametrize("bad_id,problem", [("zz" * 16, "not valid hex"), ("abcd", "16 bytes")])
def test_otlp_json_bad_trace_id_is_400(start_receivers, sink, stats, bad_id, problem):
    receivers = start_receivers(grpc_endpoint="")
    doc = json_logs_payload()
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = bad_id
    status, _, resp = post(receivers.http_port, "/v1/logs", json.dumps(doc).encode(), JS)
    assert status == 400
    body = json.loads(resp)
    assert body["code"] == code_pb2.INVALID_ARGUMENT and problem in body["message"]
    assert sink.snapshot() == [] and stats.rejected_counts == {("logs", "malformed"): 1}


# --- bad input -----------------------------------------------------------------------------


def test_malformed_payloads_are_400_with_status(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="")
    port = receivers.http_port
    status, hdrs, resp = post(port, "/v1/logs", b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert status == 400 and hdrs["Content-Type"] == PB
    assert rpc_status(resp).code == code_pb2.INVALID_ARGUMENT
    status, hdrs, resp = post(port, "/v1/logs", b"{not json", JS)
    assert status == 400 and json.loads(resp)["code"] == code_pb2.INVALID_ARGUMENT
    status, _, _ = post(port, "/v1/traces", b"[1, 2]", JS)
    assert status == 400
    status, _, resp = post(port, "/v1/logs", b"\x1f\x8b not gzip", PB, {"Content-Encoding": "gzip"})
    assert status == 400 and "gzip" in rpc_status(resp).message
    assert stats.rejected_counts == {("logs", "malformed"): 3, ("traces", "malformed"): 1}
    assert post(port, "/v1/logs", request(inference(pid="next")).SerializeToString())[0] == 200
    assert sink.snapshot()[0].prediction_ids == ["next"]


def test_content_type_path_and_method_errors(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="")
    port = receivers.http_port
    payload = request(inference()).SerializeToString()
    assert post(port, "/v1/logs", payload, "text/plain")[0] == 415
    assert post(port, "/v1/logs", payload, PB, {"Content-Encoding": "br"})[0] == 415
    assert post(port, "/v1/lgos", payload)[0] == 404
    status, hdrs, _ = post(port, "/v1/logs", b"", method="GET")
    assert status == 405 and hdrs["Allow"] == "POST"
    assert post(port, "/v1/logs", payload, "application/x-protobuf; charset=binary")[0] == 200
    assert len(sink.snapshot()) == 1
    assert stats.rejected_counts == {("logs", "unsupported_media_type"): 2}


def test_oversized_body_refused_before_reading(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", max_request_bytes=10_000)
    conn = http.client.HTTPConnection("127.0.0.1", receivers.http_port, timeout=10)
    try:  # declare a huge body and send none of it: the answer must not wait for it
        conn.putrequest("POST", "/v1/logs")
        conn.putheader("Content-Type", PB)
        conn.putheader("Content-Length", str(10**9))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413
        assert rpc_status(resp.read()).code == code_pb2.RESOURCE_EXHAUSTED
    finally:
        conn.close()
    assert stats.rejected_counts == {("logs", "too_large"): 1}


def test_oversized_body_with_expect_100_continue_is_refused_before_the_body(start_receivers, stats):
    receivers = start_receivers(grpc_endpoint="", max_request_bytes=10_000)
    with socket.create_connection(("127.0.0.1", receivers.http_port), timeout=10) as conn:
        conn.sendall(b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50000\r\nExpect: 100-continue\r\n\r\n")
        reply = conn.makefile("rb").read()  # the server answers and closes; no body was sent
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"100 Continue" not in head
    assert json.loads(body)["code"] == code_pb2.RESOURCE_EXHAUSTED
    assert stats.rejected_counts == {("logs", "too_large"): 1}


def test_oversized_body_sent_in_full_gets_413(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="", max_request_bytes=10_000)
    status, _, _ = post(receivers.http_port, "/v1/logs", b"\0" * 200_000)
    assert status == 413
    assert post(receivers.http_port, "/v1/logs", request(inference()).SerializeToString())[0] == 200


def test_gzip_bomb_is_413_and_the_next_request_works(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", max_request_bytes=1 << 20)
    bomb = gzip.compress(b"\0" * (16 << 20), compresslevel=9)  # 16 MiB from ~16 KiB
    assert len(bomb) < (1 << 20)
    tracemalloc.start()
    try:
        status, _, resp = post(receivers.http_port, "/v1/logs", bomb, PB, {"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413 and "decompressed" in rpc_status(resp).message
    assert peak < 8 << 20  # inflating stopped just past the 1 MiB limit, not at 16 MiB
    assert stats.rejected_counts == {("logs", "too_large"): 1}
    ok = gzip.compress(request(inference(pid="fine")).SerializeToString())
    assert post(receivers.http_port, "/v1/logs", ok, PB, {"Content-Encoding": "gzip"})[0] == 200
    assert sink.snapshot()[0].prediction_ids == ["fine"]


def test_chunked_body_is_read_and_bounded(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="", max_request_bytes=10_000)
    payload = request(inference(pid="chunked")).SerializeToString()

    def send_chunked(chunks):
        conn = http.client.HTTPConnection("127.0.0.1", receivers.http_port, timeout=10)
        try:
            conn.request("POST", "/v1/logs", body=iter(chunks), headers={"Content-Type": PB},
                         encode_chunked=True)
            return conn.getresponse().status
        finally:
            conn.close()

    assert send_chunked([payload[:10], payload[10:]]) == 200
    assert sink.snapshot()[0].prediction_ids == ["chunked"]

    # Oversized: the whole chunked request goes out in one write (it fits the socket buffers), so
    # the server's early 413-and-close cannot break the client's send before it reads the answer.
    chunk = b"\0" * 8000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2)) + b"0\r\n\r\n"
    head = (f"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {PB}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", receivers.http_port), timeout=10) as raw:
        raw.sendall(head + body)
        status_line = raw.makefile("rb").readline()
    assert status_line.split()[1] == b"413", status_line


def test_overload_is_503_with_retry_after(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", retry_after_s=1.0)
    sink.refuse = 1
    sink.retry_after_s = 2.2  # the sink's own suggestion wins when longer
    payload = request(inference(pid="a")).SerializeToString()
    status, hdrs, resp = post(receivers.http_port, "/v1/logs", payload)
    assert status == 503 and hdrs["Retry-After"] == "3"
    assert rpc_status(resp).code == code_pb2.UNAVAILABLE
    assert stats.rejected_counts == {("logs", "overloaded"): 1}
    assert post(receivers.http_port, "/v1/logs", payload)[0] == 200
    assert sink.snapshot()[0].prediction_ids == ["a"]


def test_bearer_token(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", bearer_token="tok-1")
    port = receivers.http_port
    payload = request(inference(pid="x")).SerializeToString()
    status, hdrs, _ = post(port, "/v1/logs", payload)
    assert status == 401 and hdrs["WWW-Authenticate"].startswith("Bearer")
    assert post(port, "/v1/logs", payload, headers={"Authorization": "Bearer tok-2"})[0] == 401
    assert stats.rejected_counts == {("logs", "unauthenticated"): 2}
    assert sink.snapshot() == []
    exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs",
                               headers={"Authorization": "Bearer tok-1"})
    export_logs(exporter, InferenceTraffic(n=1))
    assert sink.snapshot()[0].prediction_ids == ["pred-0"]


def test_tls_with_self_signed_certificate(start_receivers, sink, tls_files, monkeypatch):
    cert, key = tls_files
    # requests lets these variables override the exporter's own CA file
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    receivers = start_receivers(grpc_endpoint="", tls_cert_file=str(cert), tls_key_file=str(key))
    exporter = OTLPLogExporter(endpoint=f"https://localhost:{receivers.http_port}/v1/logs",
                               certificate_file=str(cert))
    export_logs(exporter, InferenceTraffic(n=1))
    assert sink.snapshot()[0].prediction_ids == ["pred-0"]
    context = ssl.create_default_context(cafile=str(cert))
    payload = request(inference(pid="tls-2")).SerializeToString()
    assert post(receivers.http_port, "/v1/logs", payload, tls=context)[0] == 200
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        post(receivers.http_port, "/v1/logs", payload)  # plaintext on the TLS port


def test_keep_alive_connection_serves_several_requests(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="")
    conn = http.client.HTTPConnection("127.0.0.1", receivers.http_port, timeout=10)
    try:
        for i in range(3):
            conn.request("POST", "/v1/logs", body=request(inference(pid=str(i))).SerializeToString(),
                         headers={"Content-Type": PB})
            assert conn.getresponse().read() == b""  # empty ExportLogsServiceResponse
        conn.request("GET", "/v1/logs")
        refused = conn.getresponse()
        assert refused.status == 405 and json.loads(refused.read())["code"] == code_pb2.UNIMPLEMENTED
        conn.request("POST", "/v1/logs", body=request(inference(pid="3")).SerializeToString(),
                     headers={"Content-Type": PB})
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert [e.prediction_ids[0] for e in sink.snapshot()] == ["0", "1", "2", "3"]


def test_stop_closes_idle_keep_alive_connections(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="")
    conn = http.client.HTTPConnection("127.0.0.1", receivers.http_port, timeout=10)
    try:
        conn.request("POST", "/v1/logs", body=request(inference()).SerializeToString(),
                     headers={"Content-Type": PB})
        assert conn.getresponse().read() == b""
        receivers.stop(grace=0.5)  # must not wait for the idle connection's 30 s timeout
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("POST", "/v1/logs", body=b"", headers={"Content-Type": PB})
            conn.getresponse()
    finally:
        conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", receivers.http_port), timeout=5).close()


def test_port_in_use_is_a_user_error(sink, stats):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        receivers = Receivers(ReceiverSettings(grpc_endpoint="127.0.0.1:0",
                                               http_endpoint=f"127.0.0.1:{port}"), sink, stats)
        with pytest.raises(UserError, match=f"OTLP/HTTP on 127.0.0.1:{port}"):
            receivers.start()
    assert receivers.grpc_port  # the gRPC side had started and was stopped again
    receivers.stop()
