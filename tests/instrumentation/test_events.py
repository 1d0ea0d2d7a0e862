"""Inference events (OTLP log records) and the ground-truth / outcome API (I5, I9)."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest

from otel_ml.errors import InvalidTelemetryError
from otel_ml.instrumentation import (
    Settings,
    inference,
    last_prediction_ids,
    record_ground_truth,
    record_ground_truths,
    record_outcome,
)
from otel_ml.instrumentation.capture import column_values, feature_columns, new_prediction_ids
from otel_ml.instrumentation.telemetry import telemetry_for
from otel_ml.semconv import Attr, Body, EventName, Metric

from .conftest import point_map

M = Metric


def test_batch_event_is_columnar_and_linked_to_the_span(otel, settings):
    features = {"age": np.array([31, 45, 27]), "city": np.array(["Oslo", None, "Lima"], dtype=object),
                "income": np.array([5.5, np.nan, 3.0])}
    with inference("m", "2", settings=settings, **otel.providers) as call:
        ids = call.record_outputs(["yes", "no", "yes"], confidences=[0.9, 0.6, 0.8], features=features,
                                  segment=["eu", "latam", "latam"])
    [span] = otel.spans()
    [event] = otel.logs()
    assert event.event_name == EventName.INFERENCE
    assert event.trace_id == span.context.trace_id and event.span_id == span.context.span_id
    assert dict(event.attributes) == {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "2", Attr.VARIANT: "primary",
                                      Attr.EVENT_NAME: EventName.INFERENCE}
    body = dict(event.body)
    income = body[Body.FEATURES].pop("income")
    assert income[0] == 5.5 and math.isnan(income[1]) and income[2] == 3.0
    assert body == {Body.PREDICTION_IDS: ids, Body.FEATURES: {"age": [31, 45, 27], "city": ["Oslo", None, "Lima"]},
                    Body.PREDICTION: ["yes", "no", "yes"], Body.CONFIDENCE: [0.9, 0.6, 0.8],
                    Body.SEGMENT: ["eu", "latam", "latam"]}
    assert ids == call.prediction_ids == last_prediction_ids()
    assert all(uuid.UUID(i).version == 4 for i in ids) and len(set(ids)) == 3
    assert point_map(otel.metrics(), M.INFERENCE_EVENTS.name, Attr.MODEL_NAME) == {"m": 3}


def test_single_item_event_uses_scalars_and_the_id_attribute(otel, settings):
    with inference("m", "2", settings=settings, **otel.providers) as call:
        call.record_outputs(probabilities=[[0.25, 0.75]], classes=["no", "yes"], features={"age": 40},
                            prediction_ids=["req-17"], segment="mobile")
    [event] = otel.logs()
    assert event.attributes[Attr.PREDICTION_ID] == "req-17"
    assert dict(event.body) == {Body.FEATURES: {"age": 40}, Body.PREDICTION: "yes", Body.CONFIDENCE: 0.75,
                                Body.PROBABILITIES: {"no": 0.25, "yes": 0.75}, Body.SEGMENT: "mobile"}
    assert call.prediction_ids == ["req-17"]


def test_invalid_confidences_travel_as_null(otel, settings):
    with inference("m", "1", settings=settings, **otel.providers) as call:
        call.record_outputs(["a", "b"], confidences=[0.5, float("nan")])
    assert otel.logs()[0].body[Body.CONFIDENCE] == [0.5, None]


def test_features_off_by_default(otel):
    with inference("m", "1", settings=Settings(), **otel.providers) as call:
        call.record_outputs([1, 2], features=np.ones((2, 2)))
    [event] = otel.logs()
    assert Body.FEATURES not in event.body and event.body[Body.PREDICTION] == [1, 2]


def test_events_off(otel):
    with inference("m", "1", settings=Settings(events_enabled=False), **otel.providers) as call:
        assert call.record_outputs([1]) == [None]
    assert otel.logs() == []


def test_ids_never_leak_from_the_previous_call_when_events_are_off(otel, settings):
    with inference("m", "1", settings=settings, **otel.providers) as call:
        first = call.record_outputs(["a", "b"])
    assert last_prediction_ids() == first and None not in first
    with inference("m", "1", settings=Settings(events_enabled=False), **otel.providers) as call:
        assert call.record_outputs(["c", "d", "e"]) == [None, None, None]
    assert last_prediction_ids() == [None, None, None] == call.prediction_ids
    with inference("m", "1", settings=Settings(events_enabled=False), **otel.providers) as call:
        assert call.record_outputs(["f"], prediction_ids=["req-1"]) == ["req-1"]
    assert last_prediction_ids() == ["req-1"]


def test_ids_never_leak_from_the_previous_call_when_no_logger_listens(otel, settings):
    from opentelemetry.sdk._logs import LoggerProvider

    with inference("m", "1", settings=settings, **otel.providers) as call:
        call.record_outputs(["a", "b"])
    silent = {**otel.providers, "logger_provider": LoggerProvider()}  # no processor: enabled() is False
    with inference("m", "1", settings=settings, **silent) as call:
        assert call.record_outputs(["c", "d"]) == [None, None]
    assert last_prediction_ids() == [None, None]
    with inference("m", "1", settings=settings, **silent) as call:
        assert call.record_outputs(["c", "d"], prediction_ids=["r1", "r2"]) == ["r1", "r2"]
    assert last_prediction_ids() == ["r1", "r2"]


def test_a_call_without_outputs_leaves_no_stale_ids(otel, settings):
    with inference("m", "1", settings=settings, **otel.providers) as call:
        call.record_outputs(["a"])
    assert len(last_prediction_ids()) == 1
    with inference("m", "1", settings=settings, **otel.providers):
        pass
    assert last_prediction_ids() == []


def test_sampling_is_per_item_with_a_numpy_mask(otel):
    telemetry = telemetry_for(otel.tracer_provider, otel.meter_provider, otel.logger_provider)
    telemetry.rng = np.random.default_rng(123)
    expected_mask = np.random.default_rng(123).random(1000) < 0.3
    X = np.arange(1000.0).reshape(-1, 1)
    with inference("m", "1", settings=Settings(capture_features=True, capture_sample_rate=0.3),
                   **otel.providers) as call:
        ids = call.record_outputs(np.arange(1000), features=X)
    [event] = otel.logs()
    assert event.body[Body.FEATURES]["x0"] == X[expected_mask, 0].tolist()
    assert event.body[Body.PREDICTION] == np.arange(1000)[expected_mask].tolist()
    assert [i is not None for i in ids] == expected_mask.tolist()
    assert event.body[Body.PREDICTION_IDS] == [i for i in ids if i is not None]
    assert point_map(otel.metrics(), M.INFERENCE_EVENTS.name, Attr.MODEL_NAME) == {"m": int(expected_mask.sum())}
    assert point_map(otel.metrics(), M.PREDICTIONS.name, Attr.MODEL_NAME) == {"m": 1000}  # metrics see all


def test_sample_rate_zero_emits_nothing(otel):
    with inference("m", "1", settings=Settings(capture_sample_rate=0.0), **otel.providers) as call:
        assert call.record_outputs([1, 2]) == [None, None]
    assert otel.logs() == []


def test_sample_rate_zero_returns_the_callers_own_ids(otel):
    with inference("m", "1", settings=Settings(capture_sample_rate=0.0), **otel.providers) as call:
        assert call.record_outputs([1, 2], prediction_ids=["r1", "r2"]) == ["r1", "r2"]
    assert last_prediction_ids() == ["r1", "r2"] == call.prediction_ids
    assert otel.logs() == []


def test_bad_features_are_left_out_and_the_rest_is_sent(otel, settings):
    with inference("m", "1", settings=settings, **otel.providers) as call:
        call.record_outputs([1, 2], features=np.zeros((5, 2)))
    assert "features have shape" in call.problems[0].message
    [event] = otel.logs()
    assert Body.FEATURES not in event.body and event.body[Body.PREDICTION] == [1, 2]


def test_feature_inputs_and_value_types():
    frame_like = type("Frame", (), {"columns": ["a", "b"],
                                    "__getitem__": lambda self, c: {"a": [1, 2], "b": ["x", "y"]}[c]})()
    assert {k: v.tolist() for k, v in feature_columns(frame_like, 2).items()} == {"a": [1, 2], "b": ["x", "y"]}
    assert list(feature_columns(np.zeros((2, 3)), 2, ["p", "q", "r"])) == ["p", "q", "r"]
    assert list(feature_columns([1.0, 2.0, 3.0], 1)) == ["x0", "x1", "x2"]  # one item's vector
    mixed = np.array([1, 2.5, None, np.int64(4)], dtype=object)
    assert column_values(mixed) == [1.0, 2.5, None, 4.0]
    assert column_values(np.array([1, None, np.int64(4)], dtype=object)) == [1, None, 4]
    cats = np.array(["a", None, 3, float("nan")], dtype=object)
    assert column_values(cats) == ["a", None, "3", None]
    assert column_values(np.array([True, False])) == [True, False]
    assert all(type(v) is int for v in column_values(np.array([1, 2], dtype=np.int64)))


def test_prediction_ids_are_uuid4_hex():
    ids = new_prediction_ids(500)
    assert len(set(ids)) == 500
    assert all(len(i) == 32 and uuid.UUID(hex=i).version == 4 and uuid.UUID(hex=i).hex == i for i in ids)


def test_ground_truth_event(otel):
    record_ground_truth("abc", "spam", model_name="m", model_version="2", **otel.providers)
    record_ground_truth("def", np.int64(3), **otel.providers)
    first, second = otel.logs()
    assert first.event_name == EventName.GROUND_TRUTH and dict(first.body) == {Body.LABEL: "spam"}
    assert dict(first.attributes) == {Attr.EVENT_NAME: EventName.GROUND_TRUTH, Attr.MODEL_NAME: "m",
                                      Attr.MODEL_VERSION: "2", Attr.PREDICTION_ID: "abc"}
    assert second.body == {Body.LABEL: 3} and type(second.body[Body.LABEL]) is int


@pytest.mark.parametrize("pid,label", [("", "x"), (None, "x"), ("id", None), ("id", float("nan")), ("id", [1])])
def test_bad_ground_truth_raises_and_is_counted(otel, pid, label):
    with pytest.raises(InvalidTelemetryError):
        record_ground_truth(pid, label, model_name="m", **otel.providers)
    assert otel.logs() == []
    assert point_map(otel.metrics(), M.INVALID_TELEMETRY.name, Attr.REJECT_REASON) == {"invalid_label": 1}


def test_batched_ground_truths_send_the_valid_pairs(otel):
    with pytest.raises(InvalidTelemetryError, match="2 of 5 labels"):
        record_ground_truths(["a", "b", "", "d", "e"], [1, 0, 1, None, 1], model_name="m", **otel.providers)
    [event] = otel.logs()
    assert dict(event.body) == {Body.PREDICTION_IDS: ["a", "b", "e"], Body.LABELS: [1, 0, 1]}
    assert all(type(v) is int for v in event.body[Body.LABELS])
    with pytest.raises(InvalidTelemetryError, match="3 prediction ids for 2 labels"):
        record_ground_truths(["a", "b", "c"], ["x", "y"], **otel.providers)


def test_outcome_event_and_histogram(otel):
    with inference("m", "1", settings=Settings(), **otel.providers) as call:
        [pid] = call.record_outputs(["buy"])
    record_outcome(pid, "revenue", 12.5, model_name="m", model_version="1", **otel.providers)
    record_outcome(pid, "revenue", -3.0, model_name="m", model_version="1", **otel.providers)  # a refund
    events = [e for e in otel.logs() if e.event_name == EventName.OUTCOME]
    assert [dict(e.body) for e in events] == [{"name": "revenue", "value": 12.5}, {"name": "revenue", "value": -3.0}]
    assert events[0].attributes[Attr.PREDICTION_ID] == pid and events[0].attributes[Attr.OUTCOME_NAME] == "revenue"
    [hist] = otel.metrics()[M.OUTCOME_VALUE.name]
    assert hist.count == 1 and hist.sum == 12.5
    assert dict(hist.attributes) == {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "1", Attr.OUTCOME_NAME: "revenue"}


@pytest.mark.parametrize("args", [("", "click", 1), ("p", "", 1), ("p", "click", float("inf")), ("p", "click", "1")])
def test_bad_outcomes_raise(otel, args):
    with pytest.raises(InvalidTelemetryError):
        record_outcome(*args, **otel.providers)
    assert otel.logs() == []
