"""Bad input reaching the whole service (in-process Processor with its real components):
malformed protobuf, events without a model, a model past the cap, NaN features. Each is
answered per the OTLP spec and counted; the valid traffic around it still flows."""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from otel_ml.semconv import Body, EventName, Metric
from tests.service.otlp_clients import EventSender
from tests.service.in_process import rejected, running_processor, scrape
from tests.service.processor_process import sample, total
from tests.service.reference_data import MODEL, STEADY, VERSION, build_reference
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return build_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture
def processor(tmp_path, reference):
    with running_processor("windows: {count_size: 1000, min_events: 50}\nlimits: {max_models: 1}\n",
                           tmp_path, reference.profile_path) as p:
        yield p


def test_bad_input_is_refused_counted_and_the_rest_flows(processor, reference):
    p = processor
    rng = np.random.default_rng(3)
    sender = EventSender(p.grpc_port, "grpc")
    try:
        # valid traffic before
        sender.batch(MODEL, VERSION, *reference.rows(100, rng, shift_sd=0))
        assert sender.flush()

        # 1. malformed protobuf over HTTP: 400, counted
        req = urllib.request.Request(f"http://127.0.0.1:{p.http_port}/v1/logs", data=b"\x0a\xff\xff\xff garbage",
                                     headers={"Content-Type": "application/x-protobuf"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 400
        # 2. malformed protobuf over gRPC: INVALID_ARGUMENT, counted
        with grpc.insecure_channel(f"127.0.0.1:{p.grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                                         request_serializer=None,
                                         response_deserializer=logs_service_pb2.ExportLogsServiceResponse.FromString)
            with pytest.raises(grpc.RpcError) as rpc:
                export(b"\x0a\xff\xff\xff garbage", timeout=5)
            assert rpc.value.code() is grpc.StatusCode.INVALID_ARGUMENT

        # 3. an inference event without a model name (rejected alone: partial success)
        sender.logger.emit(event_name=EventName.INFERENCE, body={Body.FEATURES: {STEADY: 1.0}, Body.PREDICTION: 1})
        # 4. a second model past limits.max_models = 1
        other, _, _ = reference.rows(40, rng, shift_sd=0)
        sender.batch("unknown-model", "9", other, np.zeros(40, dtype=int))
        # 5. NaN in a feature: a data-quality finding, not a crash
        feats, preds, confs = reference.rows(100, rng, shift_sd=0)
        feats[STEADY][:30] = np.nan
        sender.batch(MODEL, VERSION, feats, preds, confs)
        # valid traffic after
        sender.batch(MODEL, VERSION, *reference.rows(100, rng, shift_sd=0))
        assert sender.flush()
    finally:
        sender.close()

    assert p.queue.drain(20)
    fill = Metric.PROC_WINDOW_FILL.prometheus_name

    def counted():
        text = scrape(p)
        return text if sample(text, fill, ml_model_name=MODEL, ml_window="count") == 0.3 else None

    text = wait_until(counted, timeout=30, message="300 valid events in the window")
    assert rejected(text, "malformed") == 2
    assert rejected(text, "invalid_event") == 1
    overflow = Metric.PROC_CARDINALITY_OVERFLOW.prometheus_name
    assert sample(text, overflow, ml_cardinality_kind="model") == 40
    nan = sample(text, Metric.DATA_QUALITY_COUNT.prometheus_name, ml_model_name=MODEL, ml_feature_name=STEADY,
                 ml_data_quality_check="missing", ml_window="count")
    assert nan == 30  # NaN is a missing value
    # drift is still computed for the feature with NaNs, from its valid values
    ks = sample(text, Metric.DRIFT_SCORE.prometheus_name, ml_model_name=MODEL, ml_feature_name=STEADY,
                ml_drift_method="ks", ml_window="count")
    assert ks is not None and ks < 0.2
    # the drift engine tracks no state for the model past its cap (limits.max_models)
    assert not [line for line in text.splitlines()
                if line.startswith(("ml_drift_", "ml_processor_window_fill", "ml_data_quality_"))
                and 'ml_model_name="unknown-model"' in line]
    received = total(text, Metric.PROC_EVENTS_RECEIVED.prometheus_name, event_name=EventName.INFERENCE)
    assert received == 5  # log records, the rejected one included: 3 batches of the model, 1 of the
    #                       unknown model, 1 without a model name
