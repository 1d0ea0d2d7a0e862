"""Full caps are answered and counted: a real processor, the real OTel SDK gRPC log exporter
(its responses captured), a raw OTLP/HTTP request, and the Prometheus scrape."""

from __future__ import annotations

import itertools
import urllib.request

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otel_ml.semconv import Attr, Body, EventName, Metric
from tests.receiver.otlp_builders import record, request
from tests.service.in_process import rejected, running_processor, scrape
from tests.service.processor_process import sample, total
from tests.service.reference_data import MODEL, VERSION, build_reference
from tests.support.waiting import wait_until

_ids = itertools.count()


class _Recorded:
    """Wraps the exporter's gRPC stub: every ``Export`` response is kept."""

    def __init__(self, stub, responses: list):
        self._stub = stub
        self._responses = responses

    def Export(self, *args, **kwargs):  # noqa: N802 - the stub's method name
        response = self._stub.Export(*args, **kwargs)
        self._responses.append(response)
        return response


class Sender:
    """The SDK's OTLP/gRPC log exporter, one request per emitted event, responses kept."""

    def __init__(self, port: int):
        exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=10)
        self.responses: list[ExportLogsServiceResponse] = []
        exporter._client = _Recorded(exporter._client, self.responses)
        self.provider = LoggerProvider()
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        self.logger = self.provider.get_logger("otel_ml.instrumentation")

    def batch(self, model: str, version: str, features: dict, predictions) -> ExportLogsServiceResponse:
        n = len(predictions)
        body = {Body.PREDICTION_IDS: [f"id{next(_ids)}" for _ in range(n)],
                Body.FEATURES: {k: np.asarray(v).tolist() for k, v in features.items()},
                Body.PREDICTION: np.asarray(predictions).tolist()}
        self.logger.emit(event_name=EventName.INFERENCE, body=body,
                         attributes={Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version})
        return self.responses[-1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return build_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture
def processor(tmp_path, reference):
    # one model slot is reserved for the profiled model, so one is left for the rest
    with running_processor("windows: {count_size: 1000, min_events: 50}\n"
                           "limits: {max_models: 2, max_versions_per_model: 2, max_features: 30}\n",
                           tmp_path, reference.profile_path) as p:
        yield p


def test_full_caps_are_answered_counted_and_a_profiled_model_is_still_admitted(processor, reference):
    p = processor
    rng = np.random.default_rng(5)
    sender = Sender(p.grpc_port)
    try:
        junk = {"x": rng.normal(size=40)}
        preds = np.zeros(40, dtype=int)
        assert not sender.batch("junk-0", "1", junk, preds).HasField("partial_success")
        assert not sender.batch("junk-0", "2", junk, preds).HasField("partial_success")
        # models cap: the one unreserved slot is taken
        refused_model = sender.batch("junk-1", "1", junk, preds)
        # versions cap of junk-0
        refused_version = sender.batch("junk-0", "3", junk, preds)
        # the profiled model is never refused for space
        accepted = [sender.batch(MODEL, VERSION, *reference.rows(100, rng, shift_sd=0)[:2])
                    for _ in range(2)]
    finally:
        sender.provider.shutdown()

    assert refused_model.partial_success.rejected_log_records == 1
    assert "limits.max_models (2)" in refused_model.partial_success.error_message
    assert "'junk-1'" in refused_model.partial_success.error_message
    assert refused_version.partial_success.rejected_log_records == 1
    assert "limits.max_versions_per_model (2)" in refused_version.partial_success.error_message
    assert not any(r.HasField("partial_success") for r in accepted)

    # the same refusal over OTLP/HTTP: answered from the same handler result
    body = request(record(EventName.INFERENCE, {Body.PREDICTION_IDS: ["h0", "h1"], Body.FEATURES: {"x": [1.0, 2.0]},
                                            Body.PREDICTION: [0, 1]},
                          {Attr.MODEL_NAME: "junk-2", Attr.MODEL_VERSION: "1"})).SerializeToString()
    req = urllib.request.Request(f"http://127.0.0.1:{p.http_port}/v1/logs", data=body,
                                 headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(req, timeout=5) as r:
        http_response = ExportLogsServiceResponse.FromString(r.read())
    assert http_response.partial_success.rejected_log_records == 1
    assert "limits.max_models" in http_response.partial_success.error_message

    assert p.queue.drain(20)
    fill = Metric.PROC_WINDOW_FILL.prometheus_name

    def applied():
        text = scrape(p)
        return text if sample(text, fill, ml_model_name=MODEL, ml_window="count") == 0.2 else None

    text = wait_until(applied, timeout=30, message="both batches of the profiled model in its window")
    assert rejected(text, "unknown_model") == 2  # junk-1 over gRPC, junk-2 over HTTP (records)
    assert rejected(text, "cardinality") == 1
    overflow = Metric.PROC_CARDINALITY_OVERFLOW.prometheus_name
    # each refused prediction counted once (not once per component)
    assert sample(text, overflow, ml_cardinality_kind="model") == 40 + 2
    assert sample(text, overflow, ml_cardinality_kind="version") == 40
    # predictions beside records: 7 inference records of 40 / 100 / 2 rows
    assert total(text, Metric.PROC_EVENTS_RECEIVED.prometheus_name, event_name=EventName.INFERENCE) == 7
    assert total(text, Metric.PROC_PREDICTIONS_RECEIVED.prometheus_name) == 4 * 40 + 2 * 100 + 2
    assert not [line for line in text.splitlines() if 'ml_model_name="junk-1"' in line]


def test_a_full_value_cap_comes_back_as_a_warning(processor, reference):
    p = processor
    rng = np.random.default_rng(6)
    sender = Sender(p.grpc_port)
    try:
        feats, preds, _ = reference.rows(60, rng, shift_sd=0)
        flood = {**feats, **{f"extra{i}": np.ones(60) for i in range(31)}}  # 30 extras fit the cap
        assert not sender.batch(MODEL, VERSION, flood, preds).HasField("partial_success")
        assert p.queue.drain(20)
        feats, preds, _ = reference.rows(60, rng, shift_sd=0)
        warned = sender.batch(MODEL, VERSION, feats, preds)
        again = sender.batch(MODEL, VERSION, feats, preds)  # at most once a minute
    finally:
        sender.provider.shutdown()
    assert warned.HasField("partial_success")
    assert warned.partial_success.rejected_log_records == 0
    assert "limits.max_features (30) is full" in warned.partial_success.error_message
    assert not again.HasField("partial_success")
    text = scrape(p)
    assert sample(text, Metric.PROC_CARDINALITY_OVERFLOW.prometheus_name, ml_cardinality_kind="feature") == 60
