"""POST /v1/labels: ground truth as JSON over the receiver's HTTP port."""

from __future__ import annotations

import gzip
import json

from otel_ml.processor.contracts import GroundTruthEvent
from otel_ml.processor.receiver.labels_api import MAX_LISTED_ERRORS, parse_labels
from otel_ml.semconv import EventName

from .http_client import JS, post


def post_labels(port, doc, **kwargs):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    status, headers, resp = post(port, "/v1/labels", body, kwargs.pop("content_type", JS), **kwargs)
    return status, headers, json.loads(resp)


def test_single_label(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="")
    status, _, body = post_labels(receivers.http_port,
                                  {"prediction_id": "p-1", "label": "cat", "model": "m", "version": "2"})
    assert (status, body) == (200, {"accepted": 1, "rejected": 0, "errors": []})
    (event,) = sink.snapshot()
    assert isinstance(event, GroundTruthEvent)
    assert (event.prediction_id, event.label, event.model, event.version) == ("p-1", "cat", "m", "2")
    assert event.time_unix_nano > 0
    assert stats.received_counts == {("labels", EventName.GROUND_TRUTH): 1}


def test_list_with_invalid_items_keeps_the_valid_ones(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="")
    doc = {"labels": [
        {"prediction_id": "a", "label": 1},
        {"label": 0},
        {"prediction_id": "b", "label": None},
        {"prediction_id": "c", "label": [1, 2]},
        {"prediction_id": 42, "label": 0.5},
        "not an object",
        {"prediction_id": "d", "label": True, "colour": "x"},
    ]}
    status, _, body = post_labels(receivers.http_port, doc)
    assert status == 200
    assert (body["accepted"], body["rejected"]) == (2, 5)
    assert body["errors"] == [
        "item 1: prediction_id missing",
        "item 2: label missing",
        "item 3: label must be a string, number or boolean",
        "item 5: must be an object",
        "item 6: unknown key 'colour'",
    ]
    assert [(e.prediction_id, e.label) for e in sink.snapshot()] == [("a", 1), ("42", 0.5)]
    assert stats.rejected_counts == {("labels", "invalid_event"): 5}


def test_a_prediction_id_over_the_length_cap_is_rejected_and_counted_apart(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", max_prediction_id_length=8)
    doc = {"labels": [{"prediction_id": "x" * 9, "label": 1}, {"prediction_id": "y" * 8, "label": 0},
                      {"label": 1}]}
    status, _, body = post_labels(receivers.http_port, doc)
    assert status == 200 and (body["accepted"], body["rejected"]) == (1, 2)
    assert body["errors"][0] == "item 0: prediction_id has 9 characters, over receiver.max_prediction_id_length (8)"
    assert [e.prediction_id for e in sink.snapshot()] == ["y" * 8]
    assert stats.rejected_counts == {("labels", "prediction_id_too_long"): 1, ("labels", "invalid_event"): 1}


def test_gzip_body(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="")
    raw = gzip.compress(json.dumps({"labels": [{"prediction_id": "z", "label": 3}]}).encode())
    status, _, body = post_labels(receivers.http_port, raw, headers={"Content-Encoding": "gzip"})
    assert status == 200 and body["accepted"] == 1
    assert sink.snapshot()[0].prediction_id == "z"


def test_nothing_valid_is_400(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="")
    port = receivers.http_port
    status, _, body = post_labels(port, {"labels": [{"label": 1}]})
    assert status == 400 and body == {"accepted": 0, "rejected": 1, "errors": ["item 0: prediction_id missing"]}
    status, _, body = post_labels(port, {"labels": []})
    assert status == 400 and body["errors"] == ["'labels' is empty"]
    status, _, body = post_labels(port, b"{broken")
    assert status == 400 and body["errors"][0].startswith("invalid JSON")
    status, _, body = post_labels(port, [1, 2])
    assert status == 400 and body["errors"] == ["body must be a JSON object"]
    assert sink.snapshot() == []


def test_wrong_content_type_token_and_overload(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", bearer_token="tk")
    port = receivers.http_port
    good = {"prediction_id": "p", "label": 1}
    auth = {"Authorization": "Bearer tk"}
    assert post_labels(port, good)[0] == 401
    assert post_labels(port, good, content_type="text/plain", headers=auth)[0] == 415
    sink.refuse = 1
    status, headers, body = post_labels(port, good, headers=auth)
    assert status == 503 and headers["Retry-After"] == "1" and "overloaded" in body["errors"][0]
    assert sink.snapshot() == []
    assert post_labels(port, good, headers=auth)[0] == 200
    assert [e.prediction_id for e in sink.snapshot()] == ["p"]
    assert stats.rejected_counts == {("labels", "unauthenticated"): 1,
                                     ("labels", "unsupported_media_type"): 1,
                                     ("labels", "overloaded"): 1}


def test_error_list_is_capped_but_counts_exact():
    result = parse_labels({"labels": [{"label": 1}] * (MAX_LISTED_ERRORS + 50)}, now_ns=1)
    assert result.rejected == MAX_LISTED_ERRORS + 50 and len(result.errors) == MAX_LISTED_ERRORS


def test_non_finite_label_is_refused():
    result = parse_labels({"prediction_id": "p", "label": float("inf")}, now_ns=1)
    assert result.events == [] and result.errors == ["item 0: label must be finite"]
