"""Auto-instrumentors on real libraries: scikit-learn, PyTorch, ONNX Runtime. One span per top-level
call, unchanged results, and uninstrument() restoring the very original functions."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from opentelemetry.trace import StatusCode

from otel_ml.instrumentation import Settings
from otel_ml.instrumentation.patching import MARKER
from otel_ml.instrumentation.sklearn import SklearnInstrumentor
from otel_ml.semconv import Attr, Metric

from .conftest import point_map

M = Metric


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    return X, y


# --- scikit-learn -----------------------------------------------------------------------
@pytest.fixture
def sklearn_instrumented(otel):
    from otel_ml.instrumentation.sklearn import SklearnInstrumentor
    inst = SklearnInstrumentor()
    inst.instrument(settings=Settings(capture_features=True), **otel.providers)
    try:
        yield inst
    finally:
        inst.uninstrument()


def test_sklearn_pipeline_call_is_one_span(otel, sklearn_instrumented, xy):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = xy
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    otel.span_exporter.clear()
    proba = pipe.predict_proba(X[:16])
    labels = pipe.predict(X[:16])
    assert np.array_equal(labels, pipe[-1].classes_[proba.argmax(axis=1)])
    spans = otel.spans()
    assert [(s.attributes[Attr.MODEL_NAME], s.attributes[Attr.BATCH_SIZE]) for s in spans] == \
        [("Pipeline", 16), ("Pipeline", 16)]
    m = otel.metrics()
    assert point_map(m, M.PREDICTIONS.name, Attr.MODEL_NAME) == {"Pipeline": 32}
    counts = dict(zip(*np.unique(labels, return_counts=True)))
    assert point_map(m, M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS) == {str(k): 2 * int(v) for k, v in counts.items()}
    events = otel.logs()
    assert events[0].body["features"]["x2"] == pytest.approx(X[:16, 2].tolist())


def test_sklearn_estimator_alone_and_error_path(otel, sklearn_instrumented, xy):
    from sklearn.tree import DecisionTreeRegressor
    X, y = xy
    tree = DecisionTreeRegressor(max_depth=2).fit(X, y.astype(float))
    out = tree.predict(X[:5])
    assert np.array_equal(out, tree.tree_.value[tree.apply(X[:5]), 0, 0])  # the leaves' values
    with pytest.raises(ValueError):
        tree.predict(X[:5, :2])  # wrong number of features: sklearn's own error, unchanged
    spans = otel.spans()[-2:]
    assert [s.attributes[Attr.MODEL_NAME] for s in spans] == ["DecisionTreeRegressor"] * 2
    assert spans[1].status.status_code is StatusCode.ERROR and spans[1].attributes[Attr.ERROR_TYPE] == "ValueError"
    assert M.PREDICTION_CLASS.name not in otel.metrics()  # a regressor has no classes


def test_sklearn_keeps_available_if_semantics(sklearn_instrumented, xy):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC
    X, y = xy
    # Pipeline.predict_proba exists only when its final step has one (available_if): still so
    assert not hasattr(make_pipeline(LinearSVC()).fit(X, y), "predict_proba")
    assert hasattr(make_pipeline(LogisticRegression()).fit(X, y), "predict_proba")


def test_sklearn_classes_defined_after_instrument_are_patched(otel, sklearn_instrumented):
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Majority(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.full(len(X), self.classes_[0])

    assert getattr(Majority.__dict__["predict"], MARKER, False)
    Majority().fit([[0], [1]], ["a", "b"]).predict([[0]] * 3)
    assert otel.spans()[-1].attributes[Attr.MODEL_NAME] == "Majority"


def test_sklearn_model_name_hook_and_env(otel, xy, monkeypatch):
    from sklearn.dummy import DummyClassifier

    from otel_ml.instrumentation.sklearn import SklearnInstrumentor
    X, y = xy
    inst = SklearnInstrumentor()
    inst.instrument(settings=Settings(model_name="from-env", model_version="5"), **otel.providers)
    try:
        DummyClassifier().fit(X, y).predict(X[:2])
    finally:
        inst.uninstrument()
    inst.instrument(model_name_hook=lambda est: ("hooked", "v9"), settings=Settings(), **otel.providers)
    try:
        DummyClassifier().fit(X, y).predict(X[:2])
    finally:
        inst.uninstrument()
    assert [(s.attributes[Attr.MODEL_NAME], s.attributes[Attr.MODEL_VERSION]) for s in otel.spans()] == \
        [("from-env", "5"), ("hooked", "v9")]


def test_sklearn_uninstrument_restores_the_exact_functions(otel):
    import sklearn.base
    from sklearn.linear_model import LogisticRegression
    from sklearn.linear_model._base import LinearClassifierMixin
    from sklearn.pipeline import Pipeline

    from otel_ml.instrumentation.sklearn import SklearnInstrumentor
    before = {
        (LinearClassifierMixin, "predict"): LinearClassifierMixin.__dict__["predict"],
        (LogisticRegression, "predict_proba"): LogisticRegression.__dict__["predict_proba"],
        (Pipeline, "predict"): Pipeline.__dict__["predict"],
        (Pipeline, "predict_proba"): Pipeline.__dict__["predict_proba"],  # an available_if descriptor
    }
    had_hook = "__init_subclass__" in sklearn.base.BaseEstimator.__dict__
    inst = SklearnInstrumentor()
    inst.instrument(**otel.providers)
    try:
        for (cls, name), original in before.items():
            assert cls.__dict__[name] is not original and getattr(cls.__dict__[name], MARKER, False)
        assert len(inst.patched) > 20
    finally:
        inst.uninstrument()
    for (cls, name), original in before.items():
        assert cls.__dict__[name] is original
    assert ("__init_subclass__" in sklearn.base.BaseEstimator.__dict__) == had_hook
    assert inst.patched == []


# --- PyTorch ----------------------------------------------------------------------------
def test_torch_top_level_module_only(otel):
    import torch

    from otel_ml.instrumentation.torch import TorchInstrumentor
    original = torch.nn.Module.__dict__["__call__"]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x = torch.randn(10, 3)
    expected = net(x)
    inst = TorchInstrumentor()
    inst.instrument(settings=Settings(), output_hook=lambda module, out: {
        "probabilities": torch.softmax(out, dim=1).detach().numpy()}, **otel.providers)
    try:
        with torch.no_grad():
            out = net(x)
        assert torch.equal(out, expected.detach())
        net.train()
        loss = net(x).sum()  # a training step: not an inference
        loss.backward()
    finally:
        inst.uninstrument()
    assert torch.nn.Module.__dict__["__call__"] is original
    [span] = otel.spans()
    assert span.attributes[Attr.MODEL_NAME] == "Sequential" and span.attributes[Attr.BATCH_SIZE] == 10
    assert [p.count for p in otel.metrics()[M.CONFIDENCE.name]] == [10]
    net(x)  # after uninstrument: no new span
    assert len(otel.spans()) == 1


# --- ONNX Runtime -----------------------------------------------------------------------
def test_onnxruntime_session_run(otel, xy):
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    from otel_ml.instrumentation.onnxruntime import OnnxRuntimeInstrumentor
    X, y = xy
    clf = LogisticRegression().fit(X, y)
    onx = to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}}, target_opset=17)
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    owner = next(c for c in ort.InferenceSession.__mro__ if "run" in c.__dict__)
    original = owner.__dict__["run"]
    inst = OnnxRuntimeInstrumentor()
    inst.instrument(settings=Settings(model_version="7"), **otel.providers)
    try:
        labels, proba = session.run(None, {session.get_inputs()[0].name: X[:8]})
    finally:
        inst.uninstrument()
    assert owner.__dict__["run"] is original
    assert np.array_equal(labels, clf.predict(X[:8]))
    np.testing.assert_allclose(proba, clf.predict_proba(X[:8]), rtol=1e-5, atol=1e-6)
    [span] = otel.spans()
    assert span.attributes[Attr.BATCH_SIZE] == 8 and span.attributes[Attr.MODEL_VERSION] == "7"
    assert span.attributes[Attr.MODEL_NAME] == session.get_modelmeta().graph_name
    m = otel.metrics()
    counts = dict(zip(*np.unique(labels, return_counts=True)))
    assert point_map(m, M.PREDICTION_CLASS.name, Attr.PREDICTION_CLASS) == {str(k): int(v) for k, v in counts.items()}
    [hist] = m[M.CONFIDENCE.name]
    assert hist.sum == pytest.approx(float(proba.max(axis=1).sum()), rel=1e-6)


def test_dependencies_name_the_supported_ranges():
    from otel_ml.instrumentation.onnxruntime import OnnxRuntimeInstrumentor
    from otel_ml.instrumentation.sklearn import SklearnInstrumentor
    from otel_ml.instrumentation.torch import TorchInstrumentor
    assert SklearnInstrumentor().instrumentation_dependencies() == ("scikit-learn >= 1.3",)
    assert TorchInstrumentor().instrumentation_dependencies() == ("torch >= 2.0",)
    assert "onnxruntime >= 1.16" in OnnxRuntimeInstrumentor().instrumentation_dependencies()
    for inst in (SklearnInstrumentor(), TorchInstrumentor(), OnnxRuntimeInstrumentor()):
        assert inst._check_dependency_conflicts() is None  # all installed here


def test_entry_points_resolve_to_the_instrumentors():
    from importlib.metadata import entry_points
    eps = {ep.name: ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.value.startswith("otel_ml.")}
    assert set(eps) == {"sklearn", "torch", "onnxruntime"}
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
    assert all(issubclass(ep.load(), BaseInstrumentor) for ep in eps.values())


@pytest.mark.parametrize("requirement, level", [("otel-ml-absent-library >= 1.0", logging.DEBUG),
                                                ("scikit-learn >= 999", logging.WARNING)])
def test_an_absent_library_is_logged_at_debug_a_wrong_version_at_warning(caplog, requirement, level):
    """A zero-code start with only some libraries installed stays quiet about the others."""
    class Probe(SklearnInstrumentor):
        _instance = None  # BaseInstrumentor is a singleton per class: not the parent's instance
        _is_instrumented_by_opentelemetry = False

        def instrumentation_dependencies(self):
            return (requirement,)

    caplog.set_level(logging.DEBUG, logger="otel_ml.instrumentation.sklearn")
    instrumentor = Probe()
    instrumentor.instrument(skip_dep_check=True)  # as opentelemetry-instrument calls it
    try:
        records = [r for r in caplog.records if r.name == "otel_ml.instrumentation.sklearn"]
        assert [r.levelno for r in records] == [level]
        assert requirement.split()[0] in records[0].getMessage()
        assert instrumentor.patched == []
    finally:
        instrumentor.uninstrument()
