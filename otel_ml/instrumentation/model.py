"""``InstrumentedModel``: a model wrapper with telemetry and in-app routing between variants (R2).

Usage::

    model = InstrumentedModel(clf, name="fraud", version="3",
                              fallback=Variant(rules_model, "1"), previous=Variant(clf_v2, "2"),
                              router=routing_client)
    proba = model.predict_proba(x)       # routed, timed, counted; returned unchanged

Each call asks ``router.variant_for(name)`` which variant to serve (``primary``, ``fallback``,
``previous``); a variant that is not configured, or a router that fails, serves the primary
(logged once). ``ml.variant`` and the serving variant's version are on the span, the metrics
and the events, so the effect of a remediation shows in the same dashboards.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from opentelemetry.metrics import Observation

from otel_ml import semconv
from otel_ml.errors import ConfigError
from otel_ml.instrumentation.call import InferenceCall, check_call_options
from otel_ml.instrumentation.model_info import framework_of, parse_trained_at
from otel_ml.instrumentation.settings import Settings
from otel_ml.instrumentation.telemetry import telemetry_for
from otel_ml.instrumentation.outputs import batch_size_of
from otel_ml.instrumentation.wrappers import default_outputs, default_settings, guarded, resolve_names
from otel_ml.semconv import Attr

__all__ = ["InstrumentedModel", "Variant", "Router"]

_log = logging.getLogger(__name__)
_VARIANT_NAMES = (semconv.VARIANT_PRIMARY, semconv.VARIANT_FALLBACK, semconv.VARIANT_PREVIOUS)


class Router(Protocol):
    """Anything that says which variant a model should serve now."""

    def variant_for(self, model_name: str) -> str: ...


@dataclass(frozen=True)
class Variant:
    """A model the wrapper can route to, with the version reported while it serves."""

    model: Any
    version: str
    trained_at: Any = None  # datetime, unix seconds or ISO 8601 string
    framework: str | None = None


class InstrumentedModel:
    """Wraps ``predict`` / ``predict_proba`` / ``__call__`` of a model (and its variants)."""

    def __init__(self, primary: Any, *, name: str | None = None, version: str | None = None,
                 fallback: Variant | None = None, previous: Variant | None = None,
                 router: Router | None = None, endpoint: str | None = None,
                 framework: str | None = None, trained_at: Any = None,
                 feature_names: Sequence[str] | None = None, confidence_from_proba: bool = False,
                 task: str = "auto", settings: Settings | None = None,
                 tracer_provider=None, meter_provider=None, logger_provider=None):
        check_call_options(None, task)
        self._settings = settings or default_settings()
        self.name, primary_version = resolve_names(self._settings, name, version, type(primary).__name__)
        for key, variant in (("fallback", fallback), ("previous", previous)):
            if variant is not None and not isinstance(variant, Variant):
                raise ConfigError(key, "must be a Variant(model, version) or None")
            if variant is not None and (not isinstance(variant.version, str) or not variant.version):
                raise ConfigError(f"{key}.version", "must be a non-empty string")
        if router is not None and not callable(getattr(router, "variant_for", None)):
            raise ConfigError("router", "must have a variant_for(model_name) method")
        self.variants: dict[str, Variant] = {
            semconv.VARIANT_PRIMARY: Variant(primary, primary_version, trained_at, framework)}
        if fallback is not None:
            self.variants[semconv.VARIANT_FALLBACK] = fallback
        if previous is not None:
            self.variants[semconv.VARIANT_PREVIOUS] = previous
        self._trained = {k: parse_trained_at(v.trained_at, f"{k}.trained_at") for k, v in self.variants.items()}
        self.router = router
        self.endpoint = endpoint
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.confidence_from_proba = confidence_from_proba
        self.task = task
        self._telemetry = telemetry_for(tracer_provider, meter_provider, logger_provider)
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        self._telemetry.instruments.add_source(self)

    # --- routing ------------------------------------------------------------------------
    @property
    def primary(self) -> Any:
        return self.variants[semconv.VARIANT_PRIMARY].model

    @property
    def active_variant(self) -> str:
        """The variant the next call will serve."""
        return self._choose()[0]

    def _warn_once(self, key: str, message: str, *args) -> None:
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        _log.warning(message, *args)

    def _choose(self) -> tuple[str, Variant]:
        if self.router is None:
            return semconv.VARIANT_PRIMARY, self.variants[semconv.VARIANT_PRIMARY]
        try:
            wanted = self.router.variant_for(self.name)
        except Exception as exc:  # noqa: BLE001 - a broken router must not break serving
            self._warn_once("router-error", "otel_ml: router failed for %s (%r); serving primary",
                            self.name, exc)
            wanted = semconv.VARIANT_PRIMARY
        variant = self.variants.get(wanted)
        if variant is None:
            if wanted not in _VARIANT_NAMES:
                self._warn_once(f"unknown:{wanted}", "otel_ml: router asked %s for unknown variant %r; "
                                "serving primary", self.name, wanted)
            else:
                self._warn_once(f"missing:{wanted}", "otel_ml: %s has no %s variant configured; "
                                "serving primary", self.name, wanted)
            return semconv.VARIANT_PRIMARY, self.variants[semconv.VARIANT_PRIMARY]
        return wanted, variant

    # --- calls --------------------------------------------------------------------------
    def _call(self, variant_name: str, variant: Variant, batch_size: int | None) -> InferenceCall:
        return InferenceCall(self._telemetry, self._settings, self.name, variant.version,
                             endpoint=self.endpoint, variant=variant_name, batch_size=batch_size,
                             task=self.task)

    def _features(self, variant: Variant, X: Any) -> dict:
        if not self._settings.capture_features:
            return {}
        names = self.feature_names
        if names is None:
            fitted = getattr(variant.model, "feature_names_in_", None)
            names = list(fitted) if fitted is not None else None
        return {"features": X, "feature_names": names}

    def predict(self, X: Any, *, prediction_ids: Any = None, segment: Any = None, **kwargs) -> Any:
        """``model.predict(X, **kwargs)`` of the routed variant, returned unchanged. With
        ``confidence_from_proba=True`` it also calls ``predict_proba`` (a second inference) to
        record confidences."""
        name, variant = self._choose()
        with self._call(name, variant, batch_size_of(X)) as call:
            result = variant.model.predict(X, **kwargs)
            guarded("recording predict outputs", self._record_predict, call, variant, X, result,
                    prediction_ids, segment)
        return result

    def _record_predict(self, call, variant, X, result, prediction_ids, segment) -> None:
        proba = None
        if self.confidence_from_proba and hasattr(variant.model, "predict_proba"):
            proba = guarded("predict_proba for confidence", variant.model.predict_proba, X)
        call.record_outputs(result, probabilities=proba, classes=getattr(variant.model, "classes_", None),
                            prediction_ids=prediction_ids, segment=segment, **self._features(variant, X))

    def predict_proba(self, X: Any, *, prediction_ids: Any = None, segment: Any = None, **kwargs) -> Any:
        """``model.predict_proba(X)`` of the routed variant, returned unchanged; records the
        top class as the prediction and its probability as the confidence."""
        name, variant = self._choose()
        with self._call(name, variant, batch_size_of(X)) as call:
            result = variant.model.predict_proba(X, **kwargs)
            guarded("recording predict_proba outputs", self._record_proba, call, variant, X, result,
                    prediction_ids, segment)
        return result

    def _record_proba(self, call, variant, X, result, prediction_ids, segment) -> None:
        call.record_outputs(probabilities=result, classes=getattr(variant.model, "classes_", None),
                            prediction_ids=prediction_ids, segment=segment, **self._features(variant, X))

    def __call__(self, X: Any, *args, **kwargs) -> Any:
        """Call the routed variant itself (``model(X)``), for callables such as torch modules."""
        name, variant = self._choose()
        with self._call(name, variant, batch_size_of(X)) as call:
            result = variant.model(X, *args, **kwargs)
            guarded("recording call outputs", self._record_default, call, variant, X, result)
        return result

    def _record_default(self, call, variant, X, result) -> None:
        outputs = default_outputs(result)
        if outputs:
            call.record_outputs(**outputs, **self._features(variant, X))

    async def apredict(self, X: Any, *, prediction_ids: Any = None, segment: Any = None, **kwargs) -> Any:
        """Async ``predict``: awaits the variant's ``predict`` when it returns an awaitable."""
        name, variant = self._choose()
        with self._call(name, variant, batch_size_of(X)) as call:
            result = variant.model.predict(X, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            guarded("recording predict outputs", self._record_predict, call, variant, X, result,
                    prediction_ids, segment)
        return result

    async def apredict_proba(self, X: Any, *, prediction_ids: Any = None, segment: Any = None, **kwargs) -> Any:
        """Async ``predict_proba``."""
        name, variant = self._choose()
        with self._call(name, variant, batch_size_of(X)) as call:
            result = variant.model.predict_proba(X, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            guarded("recording predict_proba outputs", self._record_proba, call, variant, X, result,
                    prediction_ids, segment)
        return result

    # --- observable sources (model info, age, routing) -----------------------------------
    def _active_for_observation(self) -> tuple[str, Variant]:
        return self._choose()

    def info_observations(self) -> list[Observation]:
        name, variant = self._active_for_observation()
        attrs = {Attr.MODEL_NAME: self.name, Attr.MODEL_VERSION: variant.version,
                 Attr.MODEL_FRAMEWORK: variant.framework or framework_of(variant.model)}
        trained = self._trained.get(name)
        if trained:
            attrs[Attr.MODEL_TRAINED_AT] = trained[1]
        return [Observation(1, attrs)]

    def age_observations(self) -> list[Observation]:
        name, variant = self._active_for_observation()
        trained = self._trained.get(name)
        if not trained:
            return []
        return [Observation(max(0.0, time.time() - trained[0]),
                            {Attr.MODEL_NAME: self.name, Attr.MODEL_VERSION: variant.version})]

    def routing_observations(self) -> list[Observation]:
        active, _ = self._active_for_observation()
        return [Observation(1 if v == active else 0, {Attr.MODEL_NAME: self.name, Attr.VARIANT: v})
                for v in self.variants]

    def close(self) -> None:
        """Stop reporting model info, age and routing for this wrapper."""
        self._telemetry.instruments.remove_source(self)

    def __getattr__(self, item: str) -> Any:
        # attributes such as classes_ or n_features_in_ come from the primary model
        if item.startswith("__") or item in ("variants", "_settings"):
            raise AttributeError(item)
        return getattr(self.variants[semconv.VARIANT_PRIMARY].model, item)
