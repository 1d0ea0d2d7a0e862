"""decode_logs: OTLP log records -> otel_ml events, with per-record rejection."""

from __future__ import annotations

import math

from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch, OutcomeEvent
from otel_ml.processor.receiver.decode import OTHER_EVENT, decode_logs
from otel_ml.semconv import Attr, Body, EventName

from .otlp_builders import inference, record, request

T1, S1 = bytes(range(16)), bytes(range(8))
T2, S2 = bytes(range(1, 17)), bytes(range(1, 9))


def test_single_event_values_of_every_kind():
    rec = inference(
        features={"f_double": 1.5, "f_int": -7, "f_str": "red", "f_bool": True, "f_null": None,
                  "f_nan": float("nan")},
        prediction="cat", confidence=0.75, pid="p-1", probabilities={"cat": 0.75, "dog": 0.25},
        segment="eu", trace_id=T1, span_id=S1)
    rec.time_unix_nano = 123
    result = decode_logs(request(rec))
    assert result.rejected == 0 and result.error_message == ""
    assert result.received == {EventName.INFERENCE: 1}
    (batch,) = result.events
    assert isinstance(batch, InferenceBatch)
    assert (batch.model, batch.version, batch.variant, batch.n) == ("m", "1", None, 1)
    f = batch.features
    assert f["f_double"] == [1.5] and f["f_int"] == [-7] and f["f_str"] == ["red"]
    assert f["f_bool"] == [True] and f["f_null"] == [None]
    assert math.isnan(f["f_nan"][0])  # NaN is a data-quality matter, not a rejection
    assert batch.predictions == ["cat"] and batch.confidences == [0.75]
    assert batch.probabilities == {"cat": [0.75], "dog": [0.25]}
    assert batch.prediction_ids == ["p-1"] and batch.segments == ["eu"]
    assert (batch.time_unix_nano, batch.trace_id, batch.span_id) == (123, T1, S1)


def test_time_falls_back_to_observed_time():
    rec = inference()
    rec.observed_time_unix_nano = 999
    (batch,) = decode_logs(request(rec)).events
    assert batch.time_unix_nano == 999


def test_batch_form_columns():
    body = {
        Body.PREDICTION_IDS: ["a", "b", "c"],
        Body.FEATURES: {"x": [1.0, None, 3.5], "colour": ["r", "g", None], "n": [1, 2, 3],
                        "mixed": [1, 2.5, "s"]},
        Body.PREDICTION: [0, 1, 1],
        Body.CONFIDENCE: [0.9, 0.6, 1],
        Body.PROBABILITIES: {"0": [0.9, 0.4, 0.0], "1": [0.1, 0.6, 1.0]},
        Body.SEGMENT: "mobile",
    }
    rec = record(EventName.INFERENCE, body, {Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "2",
                                         Attr.VARIANT: "fallback"}, trace_id=T2, span_id=S2)
    result = decode_logs(request(rec))
    (batch,) = result.events
    assert batch.n == 3 and batch.variant == "fallback" and batch.version == "2"
    assert batch.prediction_ids == ["a", "b", "c"]
    assert batch.features == {"x": [1.0, None, 3.5], "colour": ["r", "g", None], "n": [1, 2, 3],
                              "mixed": [1, 2.5, "s"]}
    assert batch.predictions == [0, 1, 1]
    assert batch.confidences == [0.9, 0.6, 1.0] and isinstance(batch.confidences[2], float)
    assert batch.probabilities == {"0": [0.9, 0.4, 0.0], "1": [0.1, 0.6, 1.0]}
    assert batch.segments == ["mobile"] * 3
    assert (batch.trace_id, batch.span_id) == (T2, S2)


def test_batch_form_segment_list_and_missing_optional_columns():
    body = {Body.FEATURES: {"x": [1.0, 2.0]}, Body.PREDICTION: ["a", "b"], Body.SEGMENT: ["s1", None]}
    (batch,) = decode_logs(request(record(EventName.INFERENCE, body, {Attr.MODEL_NAME: "m"}))).events
    assert batch.segments == ["s1", None]
    assert batch.confidences is None and batch.prediction_ids is None and batch.probabilities is None
    assert batch.version == ""


def test_consecutive_singles_merge_in_order_with_missing_features_as_none():
    recs = [
        inference(features={"a": 1.0, "b": 2.0}, prediction=0, confidence=0.5, pid="1",
                  trace_id=T1, span_id=S1),
        inference(features={"a": 3.0}, prediction=1, confidence=None, pid="2",
                  trace_id=T2, span_id=S2),
        inference(features={"b": 4.0, "c": "z"}, prediction=1, confidence=0.8, pid="3",
                  trace_id=T2, span_id=S2),
    ]
    result = decode_logs(request(*recs, scopes=2))  # merging crosses scope boundaries
    (batch,) = result.events
    assert batch.n == 3
    assert batch.features == {"a": [1.0, 3.0, None], "b": [2.0, None, 4.0], "c": [None, None, "z"]}
    assert batch.predictions == [0, 1, 1]
    assert batch.confidences == [0.5, None, 0.8]
    assert batch.prediction_ids == ["1", "2", "3"]
    assert batch.trace_id == b"" and batch.span_id == b""  # items came from different spans


def test_merge_keeps_span_when_shared_and_splits_on_model_change():
    recs = [
        inference(model="a", pid="1", trace_id=T1, span_id=S1),
        inference(model="a", pid="2", trace_id=T1, span_id=S1),
        inference(model="b", pid="3", trace_id=T1, span_id=S1),
        inference(model="a", pid="4", trace_id=T1, span_id=S1),
    ]
    events = decode_logs(request(*recs)).events
    assert [(e.model, e.prediction_ids) for e in events] == [
        ("a", ["1", "2"]), ("b", ["3"]), ("a", ["4"])]
    assert all((e.trace_id, e.span_id) == (T1, S1) for e in events)


def test_no_merge_keeps_each_event_with_its_own_ids():
    recs = [inference(pid="1", trace_id=T1, span_id=S1), inference(pid="2", trace_id=T2, span_id=S2)]
    events = decode_logs(request(*recs), merge=False).events
    assert [(e.prediction_ids, e.trace_id, e.span_id) for e in events] == [
        (["1"], T1, S1), (["2"], T2, S2)]


def test_ground_truth_between_inferences_keeps_order():
    recs = [
        inference(pid="1"),
        record(EventName.GROUND_TRUTH, {Body.LABEL: 1}, {Attr.PREDICTION_ID: "1"}),
        inference(pid="2"),
    ]
    events = decode_logs(request(*recs)).events
    assert [type(e).__name__ for e in events] == ["InferenceBatch", "GroundTruthEvent", "InferenceBatch"]


def test_event_name_from_legacy_attribute():
    rec = record(EventName.INFERENCE, {Body.FEATURES: {"x": 2.0}, Body.PREDICTION: 1},
                 {Attr.MODEL_NAME: "m"}, legacy_name=True)
    result = decode_logs(request(rec))
    assert result.received == {EventName.INFERENCE: 1}
    assert result.events[0].features == {"x": [2.0]}


def test_other_records_are_counted_and_ignored():
    recs = [record("", "plain log line"), record("app.click", {"x": 1}), inference()]
    result = decode_logs(request(*recs))
    assert result.received == {OTHER_EVENT: 2, EventName.INFERENCE: 1}
    assert result.rejected == 0 and len(result.events) == 1


def test_empty_request_is_nothing():
    result = decode_logs(request())
    assert (result.events, result.rejected, result.received) == ([], 0, {})


def test_invalid_records_are_rejected_alone_with_reasons():
    good = [inference(pid=str(i)) for i in range(3)]
    bad = [
        record(EventName.INFERENCE, None, {Attr.MODEL_NAME: "m"}),  # no body
        record(EventName.INFERENCE, "text", {Attr.MODEL_NAME: "m"}),  # body not a map
        record(EventName.INFERENCE, {Body.FEATURES: {"x": 1.0}, Body.PREDICTION: 1}, {}),  # no model
        record(EventName.INFERENCE, {"extra": 1}, {Attr.MODEL_NAME: "m"}),  # no features, no prediction
        record(EventName.INFERENCE, {Body.FEATURES: {"x": [1.0]}, Body.PREDICTION: [1, 2]},
               {Attr.MODEL_NAME: "m"}),  # column length mismatch
        record(EventName.INFERENCE, {Body.FEATURES: {"x": {"nested": 1}}, Body.PREDICTION: 1},
               {Attr.MODEL_NAME: "m"}),  # non-scalar feature
        record(EventName.INFERENCE, {Body.FEATURES: {"x": 1.0}, Body.CONFIDENCE: "high"},
               {Attr.MODEL_NAME: "m"}),  # non-numeric confidence
    ]
    recs = [good[0], *bad[:4], good[1], *bad[4:], good[2]]
    result = decode_logs(request(*recs))
    assert result.rejected == len(bad)
    assert result.reasons == {"missing_body": 1, "body_not_map": 1, "missing_model_name": 1,
                              "missing_features": 1, "column_length_mismatch": 1, "invalid_value": 2}
    ids = [pid for e in result.events for pid in e.prediction_ids]
    assert ids == ["0", "1", "2"]
    assert result.error_message.startswith(f"rejected {len(bad)} of {len(recs)} log records")
    assert "log record 1 (ml.inference): body is missing" in result.error_message
    assert "and 2 more" in result.error_message  # five listed, the rest counted


def test_ground_truth_single_and_batch():
    recs = [
        record(EventName.GROUND_TRUTH, {Body.LABEL: "cat"},
               {Attr.PREDICTION_ID: "p1", Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "3"},
               time_unix_nano=5),
        record(EventName.GROUND_TRUTH, {Body.PREDICTION_IDS: ["p2", "p3"], Body.LABELS: [0, 1]}, {}),
        record(EventName.GROUND_TRUTH, {Body.LABEL: 1}, {}),  # no prediction id
        record(EventName.GROUND_TRUTH, {Body.PREDICTION_IDS: ["p4"], Body.LABELS: [1, 0]}, {}),
    ]
    result = decode_logs(request(*recs))
    assert result.events == [
        GroundTruthEvent("p1", "cat", "m", "3", 5),
        GroundTruthEvent("p2", 0, None, None, 0),
        GroundTruthEvent("p3", 1, None, None, 0),
    ]
    assert result.reasons == {"missing_prediction_id": 1, "column_length_mismatch": 1}


def test_outcome_single_and_batch():
    recs = [
        record(EventName.OUTCOME, {Body.OUTCOME_NAME: "click", Body.OUTCOME_VALUE: 1},
               {Attr.PREDICTION_ID: "p1", Attr.MODEL_NAME: "m"}),
        record(EventName.OUTCOME, {Body.OUTCOME_VALUE: 9.5},
               {Attr.PREDICTION_ID: "p2", Attr.OUTCOME_NAME: "revenue"}),
        record(EventName.OUTCOME, {Body.OUTCOME_NAME: "click", Body.PREDICTION_IDS: ["a", "b"],
                               Body.OUTCOME_VALUE: [0, 1.0]}, {}),
        record(EventName.OUTCOME, {Body.OUTCOME_NAME: "click"}, {Attr.PREDICTION_ID: "p3"}),  # no value
    ]
    result = decode_logs(request(*recs))
    assert result.events == [
        OutcomeEvent("p1", "click", 1.0, "m", None, 0),
        OutcomeEvent("p2", "revenue", 9.5, None, None, 0),
        OutcomeEvent("a", "click", 0.0, None, None, 0),
        OutcomeEvent("b", "click", 1.0, None, None, 0),
    ]
    assert result.reasons == {"missing_value": 1}


def test_default_values_keep_their_kind():
    """0.0, 0, "" and False are what any unset AnyValue reads as: they must still decode exactly."""
    feats = {"d0": 0.0, "neg0": -0.0, "i0": 0, "s0": "", "b0": False, "none": None, "d": 2.0}
    (batch,) = decode_logs(request(inference(features=feats, prediction=0, confidence=0.0))).events
    got = {k: v[0] for k, v in batch.features.items()}
    assert got == feats
    assert [type(v) for v in got.values()] == [type(v) for v in feats.values()]
    assert batch.predictions == [0] and batch.confidences == [0.0]


def test_batch_columns_with_defaults_and_gaps():
    columns = {
        "d": [0.0, 1.5, None],  # unset in a double column reads 0.0: must come back None
        "i": [3, 0, None],
        "s": ["", "x", None],
        "b": [True, False, None],
        "mixed": [0, "a", 2.5],
        "d_then_int": [1.0, 0, 2.0],  # an int 0 in a double column is not 0.0's kind
    }
    body = {Body.FEATURES: columns, Body.PREDICTION: [None, "b", 0]}
    (batch,) = decode_logs(request(record(EventName.INFERENCE, body, {Attr.MODEL_NAME: "m"}))).events
    assert batch.features == columns
    assert [type(x) for x in batch.features["d_then_int"]] == [float, int, float]
    assert batch.predictions == [None, "b", 0]


def test_events_without_features_still_carry_predictions():
    """Feature capture off: the prediction, confidence and id still count (drift of outputs, labels)."""
    single = record(EventName.INFERENCE, {Body.PREDICTION: "a", Body.CONFIDENCE: 0.7},
                    {Attr.MODEL_NAME: "m", Attr.PREDICTION_ID: "p1"})
    batch = record(EventName.INFERENCE, {Body.PREDICTION_IDS: ["p2", "p3"], Body.PREDICTION: ["b", "c"]},
                   {Attr.MODEL_NAME: "m"})
    not_a_map = record(EventName.INFERENCE, {Body.FEATURES: [1.0], Body.PREDICTION: "a"},
                       {Attr.MODEL_NAME: "m"})
    result = decode_logs(request(single, batch, not_a_map))
    first, second = result.events
    assert (first.features, first.predictions, first.confidences, first.prediction_ids) == (
        {}, ["a"], [0.7], ["p1"])
    assert (second.features, second.predictions, second.prediction_ids) == ({}, ["b", "c"], ["p2", "p3"])
    assert result.reasons == {"missing_features": 1}
