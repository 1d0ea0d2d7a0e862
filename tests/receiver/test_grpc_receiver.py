"""OTLP/gRPC receiver over real sockets, with the real OTel SDK exporters as clients."""

from __future__ import annotations

import socket

import grpc
import pytest
from grpc import Compression
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.sdk._logs.export import LogRecordExportResult

from otel_ml.errors import OtelMlError
from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch, OutcomeEvent
from otel_ml.processor.receiver import Receivers, ReceiverSettings
from otel_ml.processor.receiver.grpc_server import GrpcBindError
from otel_ml.semconv import Attr, Body
from otel_ml.semconv import EventName
from tests.support.waiting import wait_until

from .otlp_builders import inference, record, request
from .sdk_clients import InferenceTraffic, export_logs, export_metrics, export_spans

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def _raw_export(port: int, payload: bytes, metadata=()):
    """Call LogsService/Export with arbitrary bytes; returns (response bytes, call)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        return call.with_call(payload, metadata=metadata, timeout=10)


def _stub_export(port: int, req, metadata=()):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return logs_service_pb2_grpc.LogsServiceStub(channel).Export(req, metadata=metadata, timeout=10)


def test_sdk_log_exporter_delivers_exact_events(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="", merge_events=False)
    traffic = InferenceTraffic(n=3)
    export_logs(OTLPLogExporter(endpoint=f"127.0.0.1:{receivers.grpc_port}", insecure=True), traffic)
    events = wait_until(lambda: sink.snapshot() if len(sink.snapshot()) >= 6 else None, timeout=10)
    assert len(events) == 6
    singles, batch, label, outcome = events[:3], events[3], events[4], events[5]
    for i, single in enumerate(singles):
        traffic.check_single(single, f"pred-{i}")
    assert isinstance(batch, InferenceBatch) and batch.prediction_ids == ["b-0", "b-1"]
    assert batch.features == {"age": [40.0, 41.0], "plan": ["pro", None]}
    assert batch.predictions == [1, 0] and batch.confidences == [0.99, 0.51]
    assert batch.probabilities == {"0": [0.01, 0.51], "1": [0.99, 0.49]}
    assert isinstance(label, GroundTruthEvent)
    assert (label.prediction_id, label.label, label.model) == ("pred-0", 1, "churn")
    assert isinstance(outcome, OutcomeEvent) and (outcome.prediction_id, outcome.value) == ("pred-1", 1.0)
    assert stats.received_counts[("logs", EventName.INFERENCE)] == 4
    assert stats.received_counts[("logs", EventName.GROUND_TRUTH)] == 1
    assert stats.received_counts[("logs", "other")] == 1
    assert not stats.rejected_counts


def test_sdk_metric_and_span_exporters_are_accepted_and_counted(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="")
    endpoint = f"127.0.0.1:{receivers.grpc_port}"
    points = export_metrics(OTLPMetricExporter(endpoint=endpoint, insecure=True))
    export_spans(OTLPSpanExporter(endpoint=endpoint, insecure=True), n=4)
    wait_until(lambda: stats.received_counts[("traces", "")] == 4, timeout=10)
    assert stats.received_counts[("metrics", "")] == points
    assert sink.snapshot() == []


def test_partial_success_rejects_only_invalid_records(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="")
    req = request(
        inference(pid="ok-1"),
        record(EventName.INFERENCE, None, {Attr.MODEL_NAME: "m"}),  # no body
        record(EventName.INFERENCE, {Body.FEATURES: {"x": 1.0}}, {}),  # no model name
        inference(pid="ok-2", features={"x": float("nan")}),  # NaN is accepted
    )
    response = _stub_export(receivers.grpc_port, req)
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_log_records == 2
    assert "body is missing" in response.partial_success.error_message
    assert Attr.MODEL_NAME in response.partial_success.error_message
    (batch,) = sink.snapshot()
    assert batch.prediction_ids == ["ok-1", "ok-2"]
    assert stats.rejected_counts == {("logs", "invalid_event"): 2}


def test_full_success_and_empty_request_leave_partial_success_unset(start_receivers, sink):
    receivers = start_receivers(http_endpoint="")
    assert not _stub_export(receivers.grpc_port, request(inference())).HasField("partial_success")
    assert not _stub_export(receivers.grpc_port, request()).HasField("partial_success")
    assert sink.submits == 1


def test_malformed_protobuf_is_invalid_argument_and_stream_goes_on(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="")
    with pytest.raises(grpc.RpcError) as info:
        _raw_export(receivers.grpc_port, b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid protobuf" in info.value.details()
    assert stats.rejected_counts == {("logs", "malformed"): 1}
    good = request(inference(pid="after")).SerializeToString()
    _raw_export(receivers.grpc_port, good)
    assert [e.prediction_ids for e in sink.snapshot()] == [["after"]]


def test_oversized_message_is_refused_counted_and_the_next_accepted(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="", max_request_bytes=64 * 1024)
    big = request(*[inference(pid=str(i), features={f"f{j}": 1.0 for j in range(50)})
                    for i in range(100)])
    assert big.ByteSize() > 64 * 1024
    with pytest.raises(grpc.RpcError) as info:
        _stub_export(receivers.grpc_port, big)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "receiver.max_request_bytes (65536)" in info.value.details()
    assert stats.rejected_counts == {("logs", "too_large"): 1}
    _stub_export(receivers.grpc_port, request(inference(pid="small")))
    assert [e.prediction_ids for e in sink.snapshot()] == [["small"]]


def test_sdk_exporter_batch_over_the_limit_is_counted_too_large(start_receivers, sink, stats):
    """The real exporter's oversized batch is refused in the handler (so counted), not by gRPC."""
    receivers = start_receivers(http_endpoint="", max_request_bytes=256 * 1024)
    # the Python exporter retries RESOURCE_EXHAUSTED until its timeout: every attempt is counted
    exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{receivers.grpc_port}", insecure=True, timeout=1.5)
    results = []
    original = exporter.export
    exporter.export = lambda batch: results.append(original(batch)) or results[-1]

    def emit(logger):
        for i in range(400):  # ~1.5 KiB each: over 256 KiB in one batch (of at most 512)
            logger.emit(event_name=EventName.INFERENCE, body={Body.FEATURES: {f"feature_{j}": 0.5 * j for j in range(64)},
                                                            Body.PREDICTION: 1},
                        attributes={Attr.MODEL_NAME: "m", Attr.PREDICTION_ID: f"id-{i}"})

    export_logs(exporter, emit)
    assert results == [LogRecordExportResult.FAILURE]
    assert set(stats.rejected_counts) == {("logs", "too_large")}
    assert stats.rejected_counts[("logs", "too_large")] >= 1
    assert sink.snapshot() == []


def test_default_limit_takes_what_the_shipped_collector_config_sends(start_receivers, sink, stats):
    """collector-config/gateway.yaml batches up to send_batch_max_size 16384 log records; with
    16-feature single-form inferences that is 9-14 MiB, over gRPC's 4 MiB default."""
    receivers = start_receivers(http_endpoint="")
    one = inference(pid="p", features={f"feature_{j}": 0.123456789 * j for j in range(16)})
    req = request(*[one] * 16384)
    assert req.ByteSize() > 2 * 4 * 2**20  # twice gRPC's 4 MiB default
    response = _stub_export(receivers.grpc_port, req)
    assert not response.HasField("partial_success") and not stats.rejected_counts
    assert sum(e.n for e in sink.snapshot()) == 16384


def test_predictions_are_counted_beside_records(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="")
    exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{receivers.grpc_port}", insecure=True, timeout=10)
    n = 1000

    def emit(logger):
        logger.emit(event_name=EventName.INFERENCE, attributes={Attr.MODEL_NAME: "m"},
                    body={Body.PREDICTION_IDS: [f"b{i}" for i in range(n)],
                          Body.FEATURES: {"x": [float(i) for i in range(n)]}, Body.PREDICTION: [1] * n})
        logger.emit(event_name=EventName.INFERENCE, attributes={Attr.MODEL_NAME: "m"},
                    body={Body.FEATURES: {"x": 1.0}, Body.PREDICTION: 0})

    export_logs(exporter, emit)
    assert stats.received_counts[("logs", EventName.INFERENCE)] == 2
    assert stats.predictions_counts == {"logs": n + 1}


def test_long_prediction_ids_are_rejected_and_counted(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="", max_prediction_id_length=64)
    long_id = "x" * 65
    req = request(
        inference(pid="ok"),
        inference(pid=long_id),
        record(EventName.INFERENCE, {Body.PREDICTION_IDS: ["a", long_id], Body.FEATURES: {"x": [1.0, 2.0]},
                                     Body.PREDICTION: [0, 1]}, {Attr.MODEL_NAME: "m"}),
        record(EventName.GROUND_TRUTH, {Body.LABEL: 1}, {Attr.PREDICTION_ID: long_id}),
        inference(pid="y" * 64),
    )
    response = _stub_export(receivers.grpc_port, req)
    assert response.partial_success.rejected_log_records == 3
    assert "65 characters, over receiver.max_prediction_id_length (64)" in response.partial_success.error_message
    assert stats.rejected_counts == {("logs", "prediction_id_too_long"): 3}
    ids = [pid for e in sink.snapshot() for pid in e.prediction_ids]
    assert ids == ["ok", "y" * 64]


def test_unresolvable_host_is_a_named_bind_error(sink, stats):
    receivers = Receivers(ReceiverSettings(grpc_endpoint="no-such-host.invalid:4317", http_endpoint=""),
                          sink, stats)
    with pytest.raises(GrpcBindError, match="cannot resolve host 'no-such-host.invalid'"):
        receivers.start()
    assert isinstance(GrpcBindError("x"), OtelMlError)


def test_address_of_another_host_is_a_named_bind_error(sink, stats):
    receivers = Receivers(ReceiverSettings(grpc_endpoint="192.0.2.1:4317", http_endpoint=""), sink, stats)
    with pytest.raises(GrpcBindError, match="192.0.2.1:4317: .*is 192.0.2.1 an address of this host"):
        receivers.start()


def test_overload_is_unavailable_with_retry_info(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="", retry_after_s=2.5)
    sink.refuse = 1
    sink.retry_after_s = 0.5  # the setting is the floor
    with pytest.raises(grpc.RpcError) as info:
        _stub_export(receivers.grpc_port, request(inference(pid="a"), inference(pid="b")))
    err = info.value
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    retry = dict(err.trailing_metadata())["google.rpc.retryinfo-bin"]
    parsed = RetryInfo.FromString(retry)
    assert (parsed.retry_delay.seconds, parsed.retry_delay.nanos) == (2, 500_000_000)
    assert stats.rejected_counts == {("logs", "overloaded"): 2}
    _stub_export(receivers.grpc_port, request(inference(pid="c")))
    assert [e.prediction_ids for e in sink.snapshot()] == [["c"]]


def test_sdk_exporter_retries_after_retry_info(start_receivers, sink):
    """The real exporter reads our RetryInfo, waits, resends, and the events arrive once."""
    receivers = start_receivers(http_endpoint="", retry_after_s=0.05)
    sink.refuse = 1
    exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{receivers.grpc_port}", insecure=True, timeout=10,
                               compression=Compression.Gzip)
    traffic = InferenceTraffic(n=2)
    results = []
    original = exporter.export
    exporter.export = lambda batch: results.append(original(batch)) or results[-1]
    export_logs(exporter, traffic)
    assert results == [LogRecordExportResult.SUCCESS]
    assert sink.refuse == 0
    ids = [pid for e in sink.snapshot() if isinstance(e, InferenceBatch) for pid in e.prediction_ids]
    assert ids == ["pred-0", "pred-1", "b-0", "b-1"]


def test_bearer_token(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="", bearer_token="s3cret")
    req = request(inference(pid="x"))
    for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", "s3cret"),)):
        with pytest.raises(grpc.RpcError) as info:
            _stub_export(receivers.grpc_port, req, metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert sink.snapshot() == [] and stats.rejected_counts == {("logs", "unauthenticated"): 3}
    exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{receivers.grpc_port}", insecure=True,
                               headers={"authorization": "Bearer s3cret"})
    export_logs(exporter, InferenceTraffic(n=1))
    assert sink.snapshot()[0].prediction_ids == ["pred-0"]


def test_tls_with_self_signed_certificate(start_receivers, sink, tls_files):
    cert, key = tls_files
    receivers = start_receivers(http_endpoint="", tls_cert_file=str(cert), tls_key_file=str(key))
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    export_logs(OTLPLogExporter(endpoint=f"localhost:{receivers.grpc_port}", credentials=credentials),
                InferenceTraffic(n=1))
    assert sink.snapshot()[0].prediction_ids == ["pred-0"]
    with pytest.raises(grpc.RpcError):  # plaintext is not served on a TLS port
        _stub_export(receivers.grpc_port, request(inference()))


def test_port_in_use_is_a_user_error(sink, stats):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        receivers = Receivers(ReceiverSettings(grpc_endpoint=f"127.0.0.1:{port}", http_endpoint=""),
                              sink, stats)
        with pytest.raises(GrpcBindError, match=f"OTLP/gRPC on 127.0.0.1:{port}: port {port} is already in use"):
            receivers.start()
        receivers.stop()  # idempotent after a failed start


def test_stop_is_idempotent_and_frees_the_port(start_receivers, sink, stats):
    receivers = start_receivers(http_endpoint="")
    port = receivers.grpc_port
    receivers.stop()
    receivers.stop()
    again = Receivers(ReceiverSettings(grpc_endpoint=f"127.0.0.1:{port}", http_endpoint=""), sink, stats)
    again.start()
    try:
        assert again.grpc_port == port
    finally:
        again.stop()
