"""Auto-instrumentation of scikit-learn: ``predict``, ``predict_proba`` and ``decision_function``.

Usage::

    opentelemetry-instrument python app.py          # no code change (entry point "sklearn")

    SklearnInstrumentor().instrument(tracer_provider=tp, meter_provider=mp, logger_provider=lp)
    ...
    SklearnInstrumentor().uninstrument()            # the exact original methods are back

Every class deriving from ``sklearn.base.BaseEstimator`` that defines one of these methods
itself is patched: those imported already, and (through a hook on
``BaseEstimator.__init_subclass__``) those defined later, such as the estimators of a module
the app imports after instrumenting, or its own. A call made while another otel_ml inference
is open (``Pipeline.predict`` calling its final estimator, ``predict`` calling
``predict_proba``) runs untouched, so one call is one span.

Model name: ``model_name_hook(estimator) -> (name, version)`` if given, else
``OTEL_ML_MODEL_NAME`` / ``OTEL_ML_MODEL_VERSION``, else the estimator's class name.
Keyword options of ``instrument()``: tracer_provider, meter_provider, logger_provider,
settings, model_name_hook, methods.
"""

from __future__ import annotations

import logging
from typing import Any


from otel_ml.instrumentation.call import InferenceCall, inside_inference
from otel_ml.instrumentation.patching import AutoCall, LibraryInstrumentor, Patcher
from otel_ml.instrumentation.outputs import batch_size_of

__all__ = ["SklearnInstrumentor", "DEFAULT_METHODS"]

_log = logging.getLogger(__name__)
DEFAULT_METHODS = ("predict", "predict_proba", "decision_function")


def _all_subclasses(root: type) -> list[type]:
    seen, stack, out = set(), [root], []
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                out.append(sub)
                stack.append(sub)
    return out


def _task_of(estimator: Any) -> str:
    """classification | regression | auto, from scikit-learn's tags (per call: a meta-estimator's
    tags follow its current steps)."""
    from sklearn.base import is_classifier, is_regressor

    return "classification" if is_classifier(estimator) else "regression" if is_regressor(estimator) else "auto"


class SklearnInstrumentor(LibraryInstrumentor):
    """OTel instrumentor for scikit-learn estimators (entry point ``sklearn``)."""

    library = "sklearn"
    _logger = _log

    def _instrument(self, **kwargs: Any) -> None:
        from sklearn import base

        self._auto = AutoCall.from_instrument_kwargs(kwargs)
        self._methods = tuple(kwargs.get("methods") or DEFAULT_METHODS)
        self._patcher = Patcher()
        self._base = base.BaseEstimator
        for cls in [self._base, *_all_subclasses(self._base)]:
            self._patch_class(cls)
        self._install_subclass_hook()

    def _patch_class(self, cls: type) -> None:
        # Patch the class that provides each method, which may be a mixin outside the
        # BaseEstimator tree (LogisticRegression.predict lives on LinearClassifierMixin).
        for name in self._methods:
            for klass in cls.__mro__:
                if name in klass.__dict__:
                    self._patcher.patch(klass, name, self._handle)
                    break

    def _install_subclass_hook(self) -> None:
        base = self._base
        instrumentor = self
        original = base.__dict__.get("__init_subclass__")  # None: inherited from a parent

        def __init_subclass__(cls, **kwargs):
            if original is not None:
                original.__get__(None, cls)(**kwargs)
            else:
                super(base, cls).__init_subclass__(**kwargs)
            instrumentor._patch_class(cls)

        self._original_hook = original
        self._hook = classmethod(__init_subclass__)
        base.__init_subclass__ = self._hook

    def _uninstrument(self, **kwargs: Any) -> None:
        patcher = getattr(self, "_patcher", None)
        if patcher is None:
            return
        base = self._base
        if base.__dict__.get("__init_subclass__") is self._hook:
            if self._original_hook is not None:
                base.__init_subclass__ = self._original_hook
            else:
                del base.__init_subclass__
        patcher.restore()
        self._patcher = None

    @property
    def patched(self) -> list[tuple[type, str]]:
        """(class, method) pairs currently wrapped."""
        patcher = getattr(self, "_patcher", None)
        return patcher.patched if patcher else []

    # --- the wrapper --------------------------------------------------------------------
    def _handle(self, estimator: Any, method: str, bound, args: tuple, kwargs: dict) -> Any:
        if inside_inference():  # predict_proba calling decision_function: one call, one span
            return bound(*args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        task = "classification" if method == "predict_proba" else _task_of(estimator)

        def record(call: InferenceCall, result: Any) -> None:
            self._record(call, estimator, method, X, result)
        return self._auto.run(estimator, bound, args, kwargs, batch_size=batch_size_of(X), record=record,
                              task=task)

    def _record(self, call: InferenceCall, estimator: Any, method: str, X: Any, result: Any) -> None:
        features = {}
        if self._auto.settings.capture_features and X is not None:
            names = getattr(estimator, "feature_names_in_", None)
            features = {"features": X, "feature_names": list(names) if names is not None else None}
        if method == "predict":
            call.record_outputs(result, **features)
        elif method == "predict_proba":
            call.record_outputs(probabilities=result, classes=getattr(estimator, "classes_", None), **features)
        # decision_function: scores are not probabilities; the span and RED metrics suffice
