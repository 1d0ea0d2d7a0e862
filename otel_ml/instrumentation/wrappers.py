"""The decorator and the context manager around inference calls (sync and async).

Usage::

    @instrument_inference(model_name="fraud", model_version="3")
    def predict(x):                 # a 1-D result is taken as predictions,
        return model.predict(x)     # a (n, k) probability matrix as predict_proba output

    with inference("fraud", "3") as call:
        proba = model.predict_proba(x)
        call.record_outputs(probabilities=proba, classes=model.classes_, features=x)
    ids = call.prediction_ids       # for record_ground_truth later

Return values and exceptions pass through unchanged; telemetry problems inside either are
counted (``ml.instrumentation.invalid_input``), never raised into the serving path.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, Mapping

import numpy as np

from otel_ml import semconv
from otel_ml.errors import ConfigError
from otel_ml.instrumentation.call import InferenceCall, check_call_options
from otel_ml.instrumentation.outputs import batch_size_of, looks_like_probabilities
from otel_ml.instrumentation.settings import Settings
from otel_ml.instrumentation.telemetry import telemetry_for

__all__ = ["inference", "instrument_inference", "default_settings", "reload_settings", "guarded"]

_log = logging.getLogger(__name__)
_settings: Settings | None = None


def default_settings() -> Settings:
    """Settings from the environment, read once on first use (not at import)."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def reload_settings() -> Settings:
    """Read the ``OTEL_ML_*`` environment again (after changing it at run time)."""
    global _settings
    _settings = None
    return default_settings()


def resolve_names(settings: Settings, model_name: str | None, model_version: str | None,
                  fallback_name: str | None = None) -> tuple[str, str]:
    name = model_name or settings.model_name or fallback_name
    if not name:
        raise ConfigError("model_name", "name the model (argument or OTEL_ML_MODEL_NAME)")
    return name, model_version or settings.version_or_default


def inference(model_name: str | None = None, model_version: str | None = None, *,
              endpoint: str | None = None, variant: str = semconv.VARIANT_PRIMARY,
              batch_size: int | None = None, span_kind: str | None = None, task: str = "auto",
              settings: Settings | None = None, tracer_provider=None, meter_provider=None,
              logger_provider=None) -> InferenceCall:
    """A context manager (``with`` or ``async with``) timing one inference call.

    Call ``record_outputs(...)`` inside the block. Values it cannot record (a NaN confidence,
    an empty batch, mismatched shapes) are counted on ``ml.instrumentation.invalid_input``,
    logged once and listed in ``call.problems``; they never raise or fail the call.
    """
    check_call_options(span_kind, task)
    settings = settings or default_settings()
    name, version = resolve_names(settings, model_name, model_version)
    telemetry = telemetry_for(tracer_provider, meter_provider, logger_provider)
    return InferenceCall(telemetry, settings, name, version, endpoint=endpoint, variant=variant,
                         batch_size=batch_size, span_kind=span_kind, task=task)


def guarded(what: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Run telemetry code on the serving path: a bug in it is logged, never raised."""
    try:
        return fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - telemetry must not break the caller's inference
        _log.exception("otel_ml: %s failed; the inference result is unaffected", what)
        return None


def default_outputs(result: Any) -> Mapping[str, Any] | None:
    """How the decorator reads a return value: 1-D -> predictions, rows summing to 1 ->
    probabilities, a scalar -> one prediction; anything else records no outputs."""
    if isinstance(result, (str, bytes, int, float, bool, np.generic)):
        return {"predictions": [result]}
    if isinstance(result, (np.ndarray, list, tuple)):
        try:
            arr = np.asarray(result)
        except (ValueError, TypeError):
            return None
        if arr.ndim == 1 and arr.dtype.kind != "O":
            return {"predictions": arr}
        if arr.ndim == 2 and arr.shape[1] == 1:
            return {"predictions": arr[:, 0]}
        if looks_like_probabilities(arr):
            return {"probabilities": arr}
    return None


_FIRST_ARG = "first_arg"


class _Decorated:
    """Shared state of one decorated function: names, settings and telemetry, resolved lazily."""

    def __init__(self, func, model_name, model_version, endpoint, variant, span_kind, task, outputs,
                 features, feature_names, settings, providers):
        self.func = func
        self.model_name, self.model_version = model_name, model_version
        self.endpoint, self.variant, self.span_kind, self.task = endpoint, variant, span_kind, task
        self.outputs = outputs or default_outputs
        self.features = features
        self.feature_names = feature_names
        self.settings = settings
        self.providers = providers
        params = list(inspect.signature(func).parameters)
        self.first = 1 if params and params[0] in ("self", "cls") else 0
        self._resolved = None

    def resolve(self):
        if self._resolved is None:
            settings = self.settings or default_settings()
            name, version = resolve_names(settings, self.model_name, self.model_version,
                                          getattr(self.func, "__qualname__", None))
            self._resolved = (settings, name, version, telemetry_for(*self.providers))
        return self._resolved

    def start(self) -> InferenceCall:
        settings, name, version, telemetry = self.resolve()
        return InferenceCall(telemetry, settings, name, version, endpoint=self.endpoint,
                             variant=self.variant, span_kind=self.span_kind, task=self.task)

    def record(self, call: InferenceCall, result: Any, args: tuple, kwargs: dict) -> None:
        if self.features == _FIRST_ARG:
            features = args[self.first] if len(args) > self.first else None
        elif callable(self.features):
            features = self.features(*args, **kwargs)
        else:
            features = None
        outputs = self.outputs(result)
        if outputs:
            outputs = dict(outputs)
            if features is not None and call._settings.capture_features:
                outputs.setdefault("features", features)
                outputs.setdefault("feature_names", self.feature_names)
            call.record_outputs(**outputs)
        elif call.batch_size is None and features is not None:
            size = batch_size_of(features)
            if size is not None:
                call.set_batch_size(size)


def instrument_inference(func: Callable | None = None, *, model_name: str | None = None,
                         model_version: str | None = None, endpoint: str | None = None,
                         variant: str = semconv.VARIANT_PRIMARY, span_kind: str | None = None,
                         task: str = "auto",
                         outputs: Callable[[Any], Mapping[str, Any] | None] | None = None,
                         features: Any = _FIRST_ARG, feature_names=None, settings: Settings | None = None,
                         tracer_provider=None, meter_provider=None, logger_provider=None):
    """Decorate a sync or async inference function: one ``ml.inference`` span and the metrics
    per call. ``outputs(result)`` may return ``record_outputs`` keyword arguments; the default
    reads predictions / probabilities from the return value. ``features`` is the first argument
    (after ``self``) unless given a callable ``(*args, **kwargs) -> features`` or None.
    Usable bare (``@instrument_inference``; the model name then defaults to the function's)."""
    check_call_options(span_kind, task)

    def decorate(fn: Callable) -> Callable:
        state = _Decorated(fn, model_name, model_version, endpoint, variant, span_kind, task, outputs,
                           features, feature_names, settings, (tracer_provider, meter_provider, logger_provider))

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                call = guarded("starting the inference span", state.start)
                if call is None:
                    return await fn(*args, **kwargs)
                with call:
                    result = await fn(*args, **kwargs)
                    guarded("recording outputs", state.record, call, result, args, kwargs)
                return result
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            call = guarded("starting the inference span", state.start)
            if call is None:
                return fn(*args, **kwargs)
            with call:
                result = fn(*args, **kwargs)
                guarded("recording outputs", state.record, call, result, args, kwargs)
            return result
        return wrapper

    return decorate(func) if func is not None else decorate
