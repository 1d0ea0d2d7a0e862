"""The tracer, logger and instruments otel_ml records with, created once per provider.

Every instrument comes from ``semconv.Metric``. Instruments (and the state behind the
observable ones) are shared per meter provider, because the SDK keeps only the first
callback registered for an instrument name: two owners of one observable instrument would
silently lose one owner's data. Only the OTel API is imported here, never the SDK.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Callable, Iterable

import numpy as np
from opentelemetry import _logs, metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from otel_ml import semconv
from otel_ml.bulk_histogram import BulkHistogram, check_for
from otel_ml.instrumentation.outputs import CardinalityCap
from otel_ml.instrumentation.series import SERIES_LIMIT, Cells, Series
from otel_ml.semconv_instruments import create_instrument
from otel_ml.semconv import Metric
from otel_ml.version import __version__

__all__ = ["Instruments", "Telemetry", "telemetry_for", "instruments_for", "reset_default_telemetry",
           "error_type"]

_log = logging.getLogger(__name__)
SCOPE = semconv.INSTRUMENTATION_SCOPE


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: its class name, module-qualified unless a builtin."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class Instruments:
    """Every instrument of the instrumentation, and the in-process counts behind the observable ones.

    Histograms (latency, batch size, confidence) are SDK instruments; the per-call counters are
    ``Cells`` reported by observable counters (see ``series``). Only the latency histogram goes
    through ``record()`` (its exemplars link latency buckets to traces); batch size and confidence
    are added straight into the SDK's aggregations by ``BulkHistogram`` (same data, no exemplar)."""

    def __init__(self, meter_provider: metrics.MeterProvider | None = None):
        self._provider = meter_provider  # pins the id this object is cached under
        self.meter = metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=semconv.SCHEMA_URL)
        m, meter, new = Metric, self.meter, create_instrument
        self.duration = new(meter, m.INFERENCE_DURATION,
                            explicit_bucket_boundaries_advisory=semconv.LATENCY_BUCKETS_S)
        self.batch_size = new(meter, m.BATCH_SIZE,
                              explicit_bucket_boundaries_advisory=semconv.BATCH_SIZE_BUCKETS)
        self.batch_size_bulk = BulkHistogram(self.batch_size, semconv.BATCH_SIZE_BUCKETS)
        self.confidence = new(meter, m.CONFIDENCE,
                              explicit_bucket_boundaries_advisory=semconv.CONFIDENCE_BUCKETS)
        self.confidence_bulk = BulkHistogram(self.confidence, semconv.CONFIDENCE_BUCKETS)
        check_for(self.confidence)  # the SDK's internals checked at start-up, not on a request
        # Per-call counters: counted in process, reported at collection (observable counters).
        self.requests, self.active, self.predictions = Cells(), Cells(), Cells()
        self.prediction_class, self.low_confidence = Cells(), Cells()
        for spec, cells in ((m.INFERENCE_REQUESTS, self.requests), (m.INFERENCE_ACTIVE, self.active),
                            (m.PREDICTIONS, self.predictions), (m.PREDICTION_CLASS, self.prediction_class),
                            (m.LOW_CONFIDENCE, self.low_confidence)):
            new(meter, spec, callbacks=[cells.observe])
        self.invalid = new(meter, m.INVALID_TELEMETRY)
        self.events = new(meter, m.INFERENCE_EVENTS)
        self.outcome = new(meter, m.OUTCOME_VALUE)
        self._series: dict[tuple, Series] = {}
        self._series_lock = threading.Lock()
        # Served models (InstrumentedModel, register_model_info) report info, age and routing.
        self._sources: weakref.WeakSet = weakref.WeakSet()
        self._pinned: set = set()
        self._sources_lock = threading.Lock()
        new(meter, m.MODEL_INFO, callbacks=[self._observe("info_observations")])
        new(meter, m.MODEL_AGE, callbacks=[self._observe("age_observations")])
        new(meter, m.ROUTING_VARIANT, callbacks=[self._observe("routing_observations")])
        new(meter, m.QUEUE_DEPTH, callbacks=[self._observe("queue_observations")])
        self._caps: dict[str, CardinalityCap] = {}
        self._caps_lock = threading.Lock()
        self._attr_cache: dict[tuple, dict] = {}
        self.telemetry: dict[tuple, "Telemetry"] = {}  # (tracer provider id, logger provider id)

    # --- observable sources -----------------------------------------------------------
    def add_source(self, source: Any, *, pin: bool = False) -> None:
        """Register an object with any of ``info_observations`` / ``age_observations`` /
        ``routing_observations`` / ``queue_observations``. Held weakly (it stops reporting once
        garbage) unless ``pin``, which keeps it until ``remove_source``."""
        with self._sources_lock:
            self._sources.add(source)
            if pin:
                self._pinned.add(source)

    def remove_source(self, source: Any) -> None:
        with self._sources_lock:
            self._sources.discard(source)
            self._pinned.discard(source)

    def _observe(self, method: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            with self._sources_lock:
                sources = list(self._sources)
            out: list[Observation] = []
            for source in sources:
                observe = getattr(source, method, None)
                if observe is None:
                    continue
                try:
                    out.extend(observe())
                except Exception:  # noqa: BLE001 - one broken source must not hide the others
                    _log.exception("otel_ml: %s of %r failed", method, source)
            return out
        return callback

    # --- helpers for the hot path -----------------------------------------------------
    def class_cap(self, model_name: str, limit: int) -> CardinalityCap:
        cap = self._caps.get(model_name)
        if cap is None:
            with self._caps_lock:
                cap = self._caps.setdefault(model_name, CardinalityCap(limit))
        return cap

    def live(self) -> bool:
        """False while these instruments are the API's proxies with no SDK behind them yet: the
        in-process counters then skip, as SDK measurements would be dropped."""
        return getattr(self.duration, "_real_instrument", True) is not None

    def series(self, model: str, version: str, variant: str, endpoint: str | None) -> Series:
        """The cached attribute sets of this (model, version, variant, endpoint); past
        ``SERIES_LIMIT`` of them a fresh one per call (the counters then overflow)."""
        key = (model, version, variant, endpoint)
        found = self._series.get(key)
        if found is None:
            found = Series(model, version, variant, endpoint)
            with self._series_lock:
                if len(self._series) < SERIES_LIMIT:
                    found = self._series.setdefault(key, found)
        return found

    def attrs(self, *pairs: tuple[str, Any]) -> dict:
        """An attribute dict for ``pairs`` (None values dropped), cached: the hot path builds
        the same few dicts over and over. The cache is bounded; past it dicts are built fresh."""
        found = self._attr_cache.get(pairs)
        if found is None:
            found = {k: v for k, v in pairs if v is not None}
            if len(self._attr_cache) < 4096:
                self._attr_cache[pairs] = found
        return found


class Telemetry:
    """Tracer + logger for one tracer/logger provider pair, and the meter provider's instruments."""

    def __init__(self, tracer_provider=None, meter_provider=None, logger_provider=None,
                 instruments: Instruments | None = None):
        self._providers = (tracer_provider, logger_provider)  # pin the ids of the cache key
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=semconv.SCHEMA_URL)
        self.logger = _logs.get_logger(SCOPE, __version__, logger_provider, schema_url=semconv.SCHEMA_URL)
        self.instruments = instruments or instruments_for(meter_provider)
        self.rng = np.random.default_rng()


_lock = threading.Lock()
_instruments: "weakref.WeakValueDictionary[int, Instruments]" = weakref.WeakValueDictionary()
_default_instruments: Instruments | None = None


def instruments_for(meter_provider=None) -> Instruments:
    """The one ``Instruments`` of ``meter_provider`` (None: the global provider, whenever set).

    Cached weakly: the SDK keeps an ``Instruments`` alive through its observable callbacks for
    as long as the meter provider lives."""
    global _default_instruments
    with _lock:
        if meter_provider is None:
            if _default_instruments is None:
                _default_instruments = Instruments(None)
            return _default_instruments
        found = _instruments.get(id(meter_provider))
        if found is None:
            found = Instruments(meter_provider)
            _instruments[id(meter_provider)] = found
        return found


def telemetry_for(tracer_provider=None, meter_provider=None, logger_provider=None) -> Telemetry:
    """Shared ``Telemetry`` for these providers; ``None`` means the global one (the API's proxies
    forward to the SDK once the application sets it, so early creation loses nothing). Kept by
    the meter provider's ``Instruments``, so it lives as long as that provider."""
    instruments = instruments_for(meter_provider)
    key = (id(tracer_provider) if tracer_provider is not None else None,
           id(logger_provider) if logger_provider is not None else None)
    found = instruments.telemetry.get(key)
    if found is None:
        with _lock:
            found = instruments.telemetry.get(key)
            if found is None:
                found = Telemetry(tracer_provider, meter_provider, logger_provider, instruments)
                instruments.telemetry[key] = found
    return found


def reset_default_telemetry() -> None:
    """Forget the telemetry bound to the global providers (for tests that reset OTel's globals)."""
    global _default_instruments
    with _lock:
        _default_instruments = None
