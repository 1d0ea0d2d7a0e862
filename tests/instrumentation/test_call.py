"""The context manager: one span and exact RED / output data points per call; errors pass through."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_ml import semconv
from otel_ml.errors import InvalidTelemetryError
from otel_ml.instrumentation import Settings, inference
from otel_ml.semconv import Attr, Metric

from .conftest import point_map, points

M = Metric


def test_one_span_with_the_model_attributes(otel, settings):
    with inference("fraud", "3", endpoint="/predict", settings=settings, **otel.providers) as call:
        call.record_outputs([1, 0, 1])
    [span] = otel.spans()
    assert span.name == "ml.inference" and span.kind is SpanKind.INTERNAL
    assert dict(span.attributes) == {Attr.MODEL_NAME: "fraud", Attr.MODEL_VERSION: "3", Attr.ENDPOINT: "/predict",
                                     Attr.VARIANT: "primary", Attr.STATUS: "ok", Attr.BATCH_SIZE: 3}
    assert span.status.status_code is StatusCode.UNSET


def test_server_span_kind_from_settings(otel):
    with inference("m", "1", settings=Settings(span_kind="server"), **otel.providers):
        pass
    assert otel.spans()[0].kind is SpanKind.SERVER


def test_red_metrics_are_exact(otel, settings):
    for _ in range(3):
        with inference("fraud", "3", settings=settings, **otel.providers) as call:
            call.record_outputs(["a", "b"])
    m = otel.metrics()
    [requests] = m[M.INFERENCE_REQUESTS.name]
    assert requests.value == 3
    assert dict(requests.attributes) == {Attr.MODEL_NAME: "fraud", Attr.MODEL_VERSION: "3",
                                         Attr.STATUS: semconv.STATUS_OK, Attr.VARIANT: "primary"}
    [duration] = m[M.INFERENCE_DURATION.name]
    assert duration.count == 3 and duration.explicit_bounds == semconv.LATENCY_BUCKETS_S
    assert sum(duration.bucket_counts) == 3 and 0 < duration.sum < 5
    [batch] = m[M.BATCH_SIZE.name]
    assert batch.count == 3 and batch.sum == 6 and batch.explicit_bounds == semconv.BATCH_SIZE_BUCKETS
    assert batch.bucket_counts[semconv.BATCH_SIZE_BUCKETS.index(2)] == 3
    [active] = m[M.INFERENCE_ACTIVE.name]
    assert active.value == 0
    assert point_map(m, M.PREDICTIONS.name, Attr.MODEL_NAME) == {"fraud": 6}
    assert point_map(m, M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS) == {"a": 3, "b": 3}


def test_in_flight_counter_is_one_inside_the_call(otel, settings):
    with inference("m", "1", settings=settings, **otel.providers):
        inside = otel.metrics()[M.INFERENCE_ACTIVE.name][0].value
    assert inside == 1
    assert otel.metrics()[M.INFERENCE_ACTIVE.name][0].value == 0


def test_exception_passes_through_as_the_same_object(otel, settings):
    boom = KeyError("feature 'age' missing")
    with pytest.raises(KeyError) as caught:
        with inference("m", "1", settings=settings, **otel.providers):
            raise boom
    assert caught.value is boom
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[Attr.STATUS] == "error" and span.attributes[Attr.ERROR_TYPE] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"] == "KeyError"
    m = otel.metrics()
    [req] = m[M.INFERENCE_REQUESTS.name]
    assert req.value == 1 and req.attributes[Attr.STATUS] == "error" and req.attributes[Attr.ERROR_TYPE] == "KeyError"
    assert m[M.INFERENCE_ACTIVE.name][0].value == 0


def test_error_type_is_module_qualified_for_non_builtins(otel, settings):
    class ModelTimeout(Exception):
        pass
    with pytest.raises(ModelTimeout):
        with inference("m", "1", settings=settings, **otel.providers):
            raise ModelTimeout()
    etype = otel.spans()[0].attributes[Attr.ERROR_TYPE]
    assert etype == f"{__name__}.test_error_type_is_module_qualified_for_non_builtins.<locals>.ModelTimeout"


def test_confidence_low_confidence_and_classes(otel):
    s = Settings(low_confidence_threshold=0.6, events_enabled=False)
    proba = np.array([[0.9, 0.1], [0.45, 0.55], [0.2, 0.8], [0.5, 0.5]])
    with inference("m", "1", settings=s, **otel.providers) as call:
        call.record_outputs(probabilities=proba, classes=["no", "yes"])
    m = otel.metrics()
    assert point_map(m, M.LOW_CONFIDENCE.name, Attr.MODEL_NAME) == {"m": 2}  # 0.55 and 0.5
    assert point_map(m, M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS) == {"no": 2, "yes": 2}
    [hist] = m[M.CONFIDENCE.name]
    cumulative = dict(zip([*hist.explicit_bounds, float("inf")], np.cumsum(hist.bucket_counts).tolist()))
    assert cumulative[0.5] == 1 and cumulative[0.6] == 2 and cumulative[0.8] == 3 and cumulative[0.9] == 4
    assert hist.count == 4 and hist.min == 0.5 and hist.max == 0.9
    assert hist.sum == pytest.approx(0.9 + 0.55 + 0.8 + 0.5)


def test_class_cardinality_cap_folds_new_classes_into_overflow(otel):
    s = Settings(class_cardinality_limit=2, events_enabled=False)
    with inference("m", "1", settings=s, **otel.providers) as call:
        call.record_outputs(["a", "b", "c", "d", "a"])
    with inference("m", "1", settings=s, **otel.providers) as call:
        call.record_outputs(["e", "b"])
    got = point_map(otel.metrics(), M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS)
    assert got == {"a": 2, "b": 2, semconv.OVERFLOW_VALUE: 3}


def _assert_call_ok(otel):
    [span] = otel.spans()
    assert span.status.status_code is not StatusCode.ERROR
    assert span.attributes[Attr.STATUS] == semconv.STATUS_OK and Attr.ERROR_TYPE not in span.attributes
    [req] = otel.metrics()[M.INFERENCE_REQUESTS.name]
    assert req.value == 1 and req.attributes[Attr.STATUS] == semconv.STATUS_OK


def test_bad_confidences_inside_the_block_are_counted_and_the_call_stays_ok(otel, settings):
    with inference("m", "1", settings=settings, **otel.providers) as call:
        ids = call.record_outputs(["a", "b", "c"], confidences=[0.9, float("nan"), "x"])
        reached = True
    assert reached
    _assert_call_ok(otel)
    m = otel.metrics()
    assert point_map(m, M.INVALID_TELEMETRY.name, Attr.REJECT_REASON) == {"invalid_confidence": 2}
    assert point_map(m, M.PREDICTIONS.name, Attr.MODEL_NAME) == {"m": 3}  # the valid parts still count
    assert [p.count for p in m[M.CONFIDENCE.name]] == [1]
    assert len(ids) == 3 and [p.reason for p in call.problems] == ["invalid_confidence"]
    assert "2 of 3 confidences" in call.problems[0].message


def test_bad_telemetry_is_logged_once_per_model_and_reason(otel, settings, caplog):
    caplog.set_level("DEBUG", logger="otel_ml.instrumentation.call")
    for _ in range(3):
        with inference("logged-once", "1", settings=settings, **otel.providers) as call:
            call.record_outputs(["a", "b"], confidences=[0.9, float("nan")])
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "logged-once" in r.getMessage()]
    assert len(warnings) == 1 and "invalid_confidence" in warnings[0].getMessage()
    assert point_map(otel.metrics(), M.INVALID_TELEMETRY.name, Attr.REJECT_REASON) == {"invalid_confidence": 3}


@pytest.mark.parametrize("kwargs,reason", [
    ({"predictions": []}, "empty_batch"),
    ({"predictions": [1, 2], "probabilities": [[0.5, 0.5]]}, "shape_mismatch"),
    ({"predictions": [1], "features": np.zeros((3, 2))}, "shape_mismatch"),
    ({"predictions": [1, 2], "prediction_ids": ["a"]}, "shape_mismatch"),
])
def test_bad_shapes_inside_the_block_are_counted_not_raised(otel, settings, kwargs, reason):
    with inference("m", "1", settings=settings, **otel.providers) as call:
        call.record_outputs(**kwargs)
    _assert_call_ok(otel)
    assert points(otel.metrics(), M.INVALID_TELEMETRY.name, **{Attr.REJECT_REASON: reason})
    assert reason in [p.reason for p in call.problems]


async def test_bad_confidences_inside_async_with_do_not_fail_the_call(otel, settings):
    async with inference("m", "1", settings=settings, **otel.providers) as call:
        call.record_outputs([1, 2], confidences=[float("nan"), 0.5])
    _assert_call_ok(otel)
    assert point_map(otel.metrics(), M.INVALID_TELEMETRY.name, Attr.REJECT_REASON) == {"invalid_confidence": 1}


def test_record_outputs_outside_the_block_is_an_error(otel, settings):
    call = inference("m", "1", settings=settings, **otel.providers)
    with pytest.raises(InvalidTelemetryError, match="outside the inference block"):
        call.record_outputs([1])


@pytest.mark.parametrize("kwargs,key", [({"span_kind": "client"}, "span_kind"), ({"task": "ranking"}, "task")])
def test_bad_call_options_name_the_key(kwargs, key):
    from otel_ml.errors import ConfigError
    from otel_ml.instrumentation import instrument_inference
    with pytest.raises(ConfigError) as err:
        inference("m", "1", **kwargs)
    assert err.value.key == key
    with pytest.raises(ConfigError):
        instrument_inference(model_name="m", **kwargs)


def test_model_name_is_required():
    from otel_ml.errors import ConfigError
    with pytest.raises(ConfigError, match="model_name"):
        inference(settings=Settings())


def test_model_name_and_version_from_settings(otel):
    with inference(settings=Settings(model_name="env-model", model_version="9"), **otel.providers):
        pass
    attrs = otel.spans()[0].attributes
    assert attrs[Attr.MODEL_NAME] == "env-model" and attrs[Attr.MODEL_VERSION] == "9"


async def test_async_with(otel, settings):
    async with inference("m", "1", settings=settings, **otel.providers) as call:
        await asyncio.sleep(0)
        call.record_outputs([1, 2])
    [span] = otel.spans()
    assert span.attributes[Attr.BATCH_SIZE] == 2


def test_confidence_is_an_otel_histogram(otel):
    s = Settings(events_enabled=False)
    with inference("m", "1", settings=s, **otel.providers) as call:
        call.record_outputs(["a", "b"], confidences=[0.3, 0.95])
    m = otel.metrics()
    [hist] = m[M.CONFIDENCE.name]
    assert hist.count == 2 and hist.sum == pytest.approx(1.25) and hist.min == 0.3 and hist.max == 0.95
    assert tuple(hist.explicit_bounds) == tuple(semconv.CONFIDENCE_BUCKETS)
    assert point_map(m, M.LOW_CONFIDENCE.name, Attr.MODEL_NAME) == {"m": 1}


def test_the_latency_histogram_keeps_exemplars_that_link_to_the_trace(otel):
    with inference("m", "1", settings=Settings(events_enabled=False), **otel.providers) as call:
        call.record_outputs(["a"], confidences=[0.9])
    [span] = otel.spans()
    [duration] = otel.metrics()[M.INFERENCE_DURATION.name]
    [exemplar] = duration.exemplars
    assert exemplar.trace_id == span.context.trace_id and exemplar.span_id == span.context.span_id
    assert exemplar.value == duration.sum
