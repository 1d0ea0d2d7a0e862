"""InstrumentedModel: unchanged results from a real scikit-learn model, routing between variants (R2),
model info and age (I8)."""

from __future__ import annotations

import datetime as dt
import logging
import time

import numpy as np
import pytest
from opentelemetry.trace import StatusCode
from sklearn.linear_model import LogisticRegression

from otel_ml import semconv
from otel_ml.errors import ConfigError
from otel_ml.instrumentation import InstrumentedModel, Settings, Variant, register_model_info
from otel_ml.semconv import Attr, Metric

from .conftest import point_map

M = Metric


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "spam", "ham")
    return X, y


@pytest.fixture(scope="module")
def clf(data):
    X, y = data
    return LogisticRegression().fit(X, y)


class Switch:
    """A router the test flips by hand."""

    def __init__(self, variant=semconv.VARIANT_PRIMARY):
        self.variant = variant
        self.asked = []

    def variant_for(self, model_name):
        self.asked.append(model_name)
        return self.variant


class Constant:
    def __init__(self, label):
        self.label = label

    def predict(self, X):
        return np.full(len(X), self.label)


def test_results_are_exactly_the_models(otel, settings, data, clf):
    X, _ = data
    model = InstrumentedModel(clf, name="spam", version="4", settings=settings, **otel.providers)
    assert np.array_equal(model.predict(X[:50]), clf.predict(X[:50]))
    proba = model.predict_proba(X[:50])
    assert np.array_equal(proba, clf.predict_proba(X[:50]))
    assert list(model.classes_) == list(clf.classes_)  # attributes come from the primary
    spans = otel.spans()
    assert [s.attributes[Attr.BATCH_SIZE] for s in spans] == [50, 50]
    m = otel.metrics()
    expected = dict(zip(*np.unique(clf.classes_[proba.argmax(axis=1)], return_counts=True)))
    counted = point_map(m, M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS)
    assert counted == {k: 2 * int(v) for k, v in expected.items()}  # predict + predict_proba
    assert [p.count for p in m[M.CONFIDENCE.name]] == [50]  # only predict_proba yields confidences
    low = int((proba.max(axis=1) < settings.low_confidence_threshold).sum())
    assert point_map(m, M.LOW_CONFIDENCE.name, Attr.MODEL_NAME).get("spam", 0) == low


def test_predict_with_confidence_from_proba(otel, data, clf):
    X, _ = data
    model = InstrumentedModel(clf, name="spam", version="4", confidence_from_proba=True,
                              settings=Settings(events_enabled=False), **otel.providers)
    assert np.array_equal(model.predict(X[:10]), clf.predict(X[:10]))
    [hist] = otel.metrics()[M.CONFIDENCE.name]
    assert hist.sum == pytest.approx(clf.predict_proba(X[:10]).max(axis=1).sum())


def test_events_carry_features_and_probabilities(otel, settings, data, clf):
    X, _ = data
    model = InstrumentedModel(clf, name="spam", version="4", feature_names=["a", "b", "c", "d"],
                              settings=settings, **otel.providers)
    proba = model.predict_proba(X[:3])
    [event] = otel.logs()
    assert event.body["features"]["c"] == X[:3, 2].tolist()
    assert event.body["probabilities"] == {"ham": proba[:, 0].tolist(), "spam": proba[:, 1].tolist()}
    assert event.body["prediction"] == clf.classes_[proba.argmax(axis=1)].tolist()
    assert event.attributes[Attr.MODEL_VERSION] == "4" and event.attributes[Attr.VARIANT] == "primary"


def test_router_switches_variants_and_telemetry_shows_which_served(otel, settings):
    router = Switch()
    model = InstrumentedModel(Constant("p"), name="iris", version="3", fallback=Variant(Constant("f"), "1-rules"),
                              previous=Variant(Constant("old"), "2"), router=router, settings=settings,
                              **otel.providers)
    X = np.zeros((2, 1))
    served = []
    for variant in ("primary", "fallback", "previous", "primary"):
        router.variant = variant
        served.append(model.predict(X)[0])
    assert served == ["p", "f", "old", "p"] and set(router.asked) == {"iris"}
    assert [(s.attributes[Attr.VARIANT], s.attributes[Attr.MODEL_VERSION]) for s in otel.spans()] == \
        [("primary", "3"), ("fallback", "1-rules"), ("previous", "2"), ("primary", "3")]
    m = otel.metrics()
    req = {(p.attributes[Attr.VARIANT], p.attributes[Attr.MODEL_VERSION]): p.value for p in m[M.INFERENCE_REQUESTS.name]}
    assert req == {("primary", "3"): 2, ("fallback", "1-rules"): 1, ("previous", "2"): 1}
    assert [e.attributes[Attr.VARIANT] for e in otel.logs()] == ["primary", "fallback", "previous", "primary"]
    router.variant = "fallback"
    active = {p.attributes[Attr.VARIANT]: p.value for p in otel.metrics()[M.ROUTING_VARIANT.name]
              if p.attributes[Attr.MODEL_NAME] == "iris"}
    assert active == {"primary": 0, "fallback": 1, "previous": 0}


def test_missing_variant_serves_primary_and_logs_once(otel, settings, caplog):
    router = Switch("previous")
    model = InstrumentedModel(Constant("p"), name="iris", version="3", router=router, settings=settings,
                              **otel.providers)
    with caplog.at_level(logging.WARNING, logger="otel_ml"):
        results = [model.predict(np.zeros((1, 1)))[0] for _ in range(3)]
    assert results == ["p", "p", "p"]
    assert [r.getMessage() for r in caplog.records].count("otel_ml: iris has no previous variant configured; "
                                                         "serving primary") == 1
    assert {s.attributes[Attr.VARIANT] for s in otel.spans()} == {"primary"}


def test_a_failing_router_serves_primary(otel, settings):
    class Broken:
        def variant_for(self, name):
            raise ConnectionError("remediation service down")

    model = InstrumentedModel(Constant("p"), name="m", version="1", fallback=Variant(Constant("f"), "0"),
                              router=Broken(), settings=settings, **otel.providers)
    assert model.predict(np.zeros((1, 1)))[0] == "p"


def test_bad_configuration_names_the_key():
    with pytest.raises(ConfigError, match="fallback"):
        InstrumentedModel(Constant("p"), name="m", fallback=Constant("f"))
    with pytest.raises(ConfigError, match="router"):
        InstrumentedModel(Constant("p"), name="m", router=object())
    with pytest.raises(ConfigError, match="previous.version"):
        InstrumentedModel(Constant("p"), name="m", previous=Variant(Constant("o"), ""))
    with pytest.raises(ConfigError, match="trained_at"):
        InstrumentedModel(Constant("p"), name="m", trained_at="last tuesday")


def test_model_errors_pass_through(otel, settings):
    class Failing:
        def predict(self, X):
            raise MemoryError("oom")

    model = InstrumentedModel(Failing(), name="m", version="1", settings=settings, **otel.providers)
    with pytest.raises(MemoryError):
        model.predict(np.zeros((1, 1)))
    assert otel.spans()[0].attributes[Attr.ERROR_TYPE] == "MemoryError"


def test_nan_probabilities_are_counted_and_the_call_stays_ok(otel, settings):
    class NanProba:
        classes_ = np.array(["no", "yes"])

        def predict_proba(self, X):
            return np.array([[0.2, 0.8], [np.nan, np.nan]])

    model = InstrumentedModel(NanProba(), name="m", version="1", settings=settings, **otel.providers)
    proba = model.predict_proba(np.zeros((2, 1)))
    assert proba.shape == (2, 2)
    [span] = otel.spans()
    assert span.status.status_code is not StatusCode.ERROR and span.attributes[Attr.STATUS] == "ok"
    m = otel.metrics()
    assert {p.attributes[Attr.STATUS] for p in m[M.INFERENCE_REQUESTS.name]} == {"ok"}
    assert point_map(m, M.INVALID_TELEMETRY.name, Attr.REJECT_REASON) == {"invalid_confidence": 1}
    assert point_map(m, M.PREDICTIONS.name, Attr.MODEL_NAME) == {"m": 2}


def test_model_info_and_age_of_the_active_variant(otel, settings):
    trained = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    router = Switch()
    model = InstrumentedModel(Constant("p"), name="iris", version="3", trained_at=trained, router=router,
                              fallback=Variant(Constant("f"), "1", trained_at="2023-01-01T00:00:00Z",
                                               framework="rules"),
                              settings=settings, **otel.providers)
    before = time.time()
    m = otel.metrics()
    [info] = [p for p in m[M.MODEL_INFO.name] if p.attributes[Attr.MODEL_NAME] == "iris"]
    assert info.value == 1 and dict(info.attributes) == {
        Attr.MODEL_NAME: "iris", Attr.MODEL_VERSION: "3", Attr.MODEL_FRAMEWORK: "tests",
        Attr.MODEL_TRAINED_AT: "2024-05-01T12:00:00Z"}
    [age] = [p for p in m[M.MODEL_AGE.name] if p.attributes[Attr.MODEL_NAME] == "iris"]
    assert before - trained.timestamp() - 1 <= age.value <= time.time() - trained.timestamp() + 1
    router.variant = "fallback"
    [info] = [p for p in otel.metrics()[M.MODEL_INFO.name] if p.attributes[Attr.MODEL_NAME] == "iris"]
    assert info.attributes[Attr.MODEL_VERSION] == "1" and info.attributes[Attr.MODEL_FRAMEWORK] == "rules"
    model.close()
    assert not [p for p in otel.metrics().get(M.MODEL_INFO.name, []) if p.attributes[Attr.MODEL_NAME] == "iris"]


def test_register_model_info_until_closed(otel):
    handle = register_model_info("ranker", "12", framework="xgboost", trained_at=1_700_000_000,
                                 meter_provider=otel.meter_provider)
    m = otel.metrics()
    assert point_map(m, M.MODEL_INFO.name, Attr.MODEL_TRAINED_AT) == {"2023-11-14T22:13:20Z": 1}
    [age] = m[M.MODEL_AGE.name]
    assert age.value == pytest.approx(time.time() - 1_700_000_000, abs=5)
    handle.close()
    assert M.MODEL_INFO.name not in otel.metrics()


async def test_async_predict(otel, settings):
    class AsyncModel:
        async def predict(self, X):
            return np.ones(len(X), dtype=int)

    model = InstrumentedModel(AsyncModel(), name="m", version="1", settings=settings, **otel.providers)
    result = await model.apredict(np.zeros((3, 2)))
    assert result.tolist() == [1, 1, 1]
    assert otel.spans()[0].attributes[Attr.BATCH_SIZE] == 3
