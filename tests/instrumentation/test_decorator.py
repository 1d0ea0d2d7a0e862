"""The decorator on sync and async functions and methods: results and exceptions pass through."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from opentelemetry.trace import StatusCode

from otel_ml.instrumentation import Settings, instrument_inference
from otel_ml.semconv import Attr, Metric

from .conftest import point_map

M = Metric


def test_sync_result_is_the_same_object_and_outputs_are_read(otel, settings):
    result = np.array([1, 0, 1, 1])

    @instrument_inference(model_name="churn", model_version="2", settings=settings, **otel.providers)
    def predict(x):
        return result

    assert predict(np.zeros((4, 3))) is result
    assert predict.__name__ == "predict"
    [span] = otel.spans()
    assert span.attributes[Attr.MODEL_NAME] == "churn" and span.attributes[Attr.BATCH_SIZE] == 4
    m = otel.metrics()
    assert point_map(m, M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS) == {"0": 1, "1": 3}
    [event] = otel.logs()
    assert event.body["features"] == {"x0": [0.0] * 4, "x1": [0.0] * 4, "x2": [0.0] * 4}


def test_probability_matrix_result_gives_confidences(otel):
    @instrument_inference(model_name="m", settings=Settings(events_enabled=False), **otel.providers)
    def predict_proba(x):
        return np.array([[0.2, 0.8], [0.6, 0.4]])

    predict_proba([[1], [2]])
    m = otel.metrics()
    [hist] = m[M.CONFIDENCE.name]
    assert hist.count == 2 and np.cumsum(hist.bucket_counts)[list(hist.explicit_bounds).index(0.6)] == 1
    assert point_map(m, M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS) == {"0": 1, "1": 1}


def test_bare_decorator_uses_globals_and_the_function_name(global_otel):
    @instrument_inference
    def score(x):
        return x

    assert score([1.5]) == [1.5]
    [span] = global_otel.spans()
    assert span.attributes[Attr.MODEL_NAME] == "test_bare_decorator_uses_globals_and_the_function_name.<locals>.score"
    assert span.attributes[Attr.MODEL_VERSION] == "unknown"


def test_decorated_before_the_sdk_is_set_up_exports_after(clean_globals, otel):
    from opentelemetry import _logs, metrics, trace

    @instrument_inference(model_name="early", settings=Settings(capture_features=True))
    def predict(x):
        return np.asarray(x) * 2

    predict([1.0])  # no SDK yet: the API's no-op providers
    trace.set_tracer_provider(otel.tracer_provider)
    metrics.set_meter_provider(otel.meter_provider)
    _logs.set_logger_provider(otel.logger_provider)
    predict([2.0, 3.0])
    assert [s.attributes[Attr.BATCH_SIZE] for s in otel.spans()] == [2]
    assert point_map(otel.metrics(), M.PREDICTIONS.name, Attr.MODEL_NAME) == {"early": 2}
    assert [r.body["prediction"] for r in otel.logs()] == [[4.0, 6.0]]


def test_exception_is_reraised_unchanged(otel, settings):
    boom = RuntimeError("model not loaded")

    @instrument_inference(model_name="m", settings=settings, **otel.providers)
    def predict(x):
        raise boom

    with pytest.raises(RuntimeError) as caught:
        predict([1])
    assert caught.value is boom
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.ERROR and span.attributes[Attr.ERROR_TYPE] == "RuntimeError"


def test_method_features_skip_self(otel, settings):
    class Service:
        @instrument_inference(model_name="svc", settings=settings, **otel.providers)
        def predict(self, rows):
            return ["yes"] * len(rows["age"])

    assert Service().predict({"age": [30, 40]}) == ["yes", "yes"]
    [event] = otel.logs()
    assert event.body["features"] == {"age": [30, 40]} and event.body["prediction"] == ["yes", "yes"]


def test_unreadable_result_records_no_outputs_and_never_raises(otel, settings):
    @instrument_inference(model_name="m", settings=settings, **otel.providers)
    def predict(x):
        return {"label": "a"}

    assert predict(np.zeros((3, 1))) == {"label": "a"}
    assert otel.spans()[0].attributes[Attr.BATCH_SIZE] == 3
    assert M.PREDICTIONS.name not in otel.metrics()


def test_bad_outputs_in_the_serving_path_are_counted_not_raised(otel, settings):
    @instrument_inference(model_name="m", settings=settings, outputs=lambda r: {"predictions": r,
                                                                                "confidences": [7.0] * len(r)},
                          **otel.providers)
    def predict(x):
        return [1, 2]

    assert predict([0, 0]) == [1, 2]
    assert point_map(otel.metrics(), M.INVALID_TELEMETRY.name, Attr.REJECT_REASON) == {"invalid_confidence": 2}


def test_a_failing_output_hook_does_not_break_the_call(otel, settings, caplog):
    def hook(result):
        raise ZeroDivisionError("hook bug")

    @instrument_inference(model_name="m", settings=settings, outputs=hook, **otel.providers)
    def predict(x):
        return [1]

    assert predict([0]) == [1]
    assert otel.spans()[0].status.status_code is StatusCode.UNSET
    assert "recording outputs failed" in caplog.text


async def test_async_function(otel, settings):
    @instrument_inference(model_name="m", settings=settings, **otel.providers)
    async def predict(x):
        await asyncio.sleep(0)
        return np.array(["a", "b"])

    result = await predict(np.zeros((2, 1)))
    assert result.tolist() == ["a", "b"]
    [span] = otel.spans()
    assert span.attributes[Attr.BATCH_SIZE] == 2
    [event] = otel.logs()
    assert event.span_id == span.context.span_id and event.trace_id == span.context.trace_id


async def test_async_exception_and_concurrency(otel, settings):
    @instrument_inference(model_name="m", settings=settings, **otel.providers)
    async def predict(x):
        await asyncio.sleep(0)
        if x == "bad":
            raise ValueError(x)
        return [x]

    results = await asyncio.gather(predict("a"), predict("bad"), predict("b"), return_exceptions=True)
    assert results[0] == ["a"] and isinstance(results[1], ValueError) and results[2] == ["b"]
    spans = otel.spans()
    assert len(spans) == 3 and len({s.context.trace_id for s in spans}) == 3  # no cross-talk between tasks
    assert sorted(s.attributes[Attr.STATUS] for s in spans) == ["error", "ok", "ok"]
    assert otel.metrics()[M.INFERENCE_ACTIVE.name][0].value == 0
