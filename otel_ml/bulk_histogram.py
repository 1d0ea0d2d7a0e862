"""Record many values into one OTel Histogram at once, with the result a value-by-value loop gives.

The OTel Python API has no bulk record, and one ``Histogram.record()`` costs 5-10 us, so a batch
of 1,024 confidences (or label lags) would cost more than the model. ``BulkHistogram`` records
the first value through the public API (so its exemplar, the exemplar filter and lazily created
storage behave as usual; ``exemplar=False`` skips that once the storage exists) and adds the
rest, binned with numpy, straight into the SDK's explicit-bucket aggregation of every reader and
view: bucket counts, count, min, max and a sum accumulated left to right, exactly as the SDK's
own loop would. ``record_value(..., exemplar=False)`` does the same for one value (about 2 us
instead of 8).

That touches private SDK internals, so it is guarded: ``SUPPORTED_SDK`` is the tested range
(also pinned in pyproject.toml), and on first use a probe compares the fast path with a
``record()`` loop on a private provider. If the internals differ, the SDK is another version or
implementation, or a view maps the instrument to another aggregation, the helper falls back to
the per-value loop, logging one WARNING per process. No SDK installed (API only): plain loop.
"""

from __future__ import annotations

import logging
import math
import threading
from bisect import bisect_left
from typing import Any, Mapping, Sequence

import numpy as np

from otel_ml.semconv_instruments import create_instrument
from otel_ml.semconv import MetricKind, MetricSpec

__all__ = ["BulkHistogram", "fast_path_problem", "check_for", "sdk_in_tested_range", "SUPPORTED_SDK"]

_log = logging.getLogger(__name__)

#: opentelemetry-sdk versions whose histogram internals the fast path was tested against
#: (``_ViewInstrumentMatch._get_or_create_aggregation`` first appears in 1.45.2); older ones,
#: down to the declared floor, take the per-value loop: slower, the same data.
SUPPORTED_SDK = ((1, 45, 2), (1, 46, 0))  # >= 1.45.2, < 1.46

_state_lock = threading.Lock()
_problem: str | None = None  # why the fast path is off (None: not checked yet, or fine)
_checked = False
_warned = False
_internals: Any = None  # (aggregation class, attribute-key function) once checked


def _sdk_version() -> tuple[int, int, int] | None:
    try:
        from opentelemetry.sdk.version import __version__
    except ImportError:
        return None
    parts = (__version__.split(".") + ["0", "0"])[:3]
    try:
        return int(parts[0]), int(parts[1]), int("".join(ch for ch in parts[2] if ch.isdigit()) or 0)
    except ValueError:
        return None


def sdk_in_tested_range() -> bool:
    """Whether the installed opentelemetry-sdk is one the fast path was tested against."""
    version = _sdk_version()
    return version is not None and SUPPORTED_SDK[0] <= version < SUPPORTED_SDK[1]


def _load_internals():
    """The SDK's explicit-bucket aggregation class and its attribute-key function, or a reason."""
    version = _sdk_version()
    if version is None:
        return None, "opentelemetry-sdk is not installed or has no readable version"
    low, high = SUPPORTED_SDK
    if not low <= version < high:
        return None, (f"opentelemetry-sdk {'.'.join(map(str, version))} is outside the tested range "
                      f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}")
    try:
        from opentelemetry.sdk.metrics._internal import _view_instrument_match as vim
        from opentelemetry.sdk.metrics._internal.aggregation import _ExplicitBucketHistogramAggregation
    except ImportError as exc:
        return None, f"SDK internals moved ({exc})"
    key = getattr(vim, "_hash_attributes", None)
    if key is None:
        def key(attributes):
            return frozenset(attributes.items())
    for name in ("_get_empty_bucket_counts", "aggregate", "collect"):
        if not hasattr(_ExplicitBucketHistogramAggregation, name):
            return None, f"_ExplicitBucketHistogramAggregation has no {name}"
    for name in ("_get_or_create_aggregation", "consume_measurement"):
        if not hasattr(vim._ViewInstrumentMatch, name):
            return None, f"_ViewInstrumentMatch has no {name}"
    return (_ExplicitBucketHistogramAggregation, key), None


def _probe() -> str | None:
    """Compare the fast path with a record() loop on a private provider; a reason when they differ."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    bounds = (0.1, 0.5, 0.9)
    values = np.array([0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 2.0, 0.1 + 0.2, 1e-9])
    attrs = {"probe": "a", "n": 1}
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        meter = provider.get_meter("otel_ml.bulk_histogram.probe")
        loop, bulk = (create_instrument(meter, MetricSpec(f"probe.{name}", MetricKind.HISTOGRAM, "1", "probe"),
                                        explicit_bucket_boundaries_advisory=bounds) for name in ("loop", "bulk"))
        for value in values.tolist() + values[:3].tolist():
            loop.record(value, attrs)
        helper = BulkHistogram(bulk, bounds, _probing=True)
        helper.record_many(values[:4], attrs)
        helper.record_many(values[4:], attrs, exemplar=False, checked=True)
        for value in values[:3].tolist():
            helper.record_value(value, attrs, exemplar=False)
        points = {}
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    points[metric.name.rpartition(".")[2]] = [(dict(p.attributes), p.count, p.sum, p.min, p.max,
                                            tuple(p.bucket_counts)) for p in metric.data.data_points]
    finally:
        provider.shutdown()
    if points.get("loop") != points.get("bulk") or not points.get("loop"):
        return f"the fast path's data point differs from a record() loop ({points.get('bulk')} vs {points.get('loop')})"
    return None


def fast_path_problem() -> str | None:
    """Why the fast path is off in this process (checked once, at first use), or None."""
    global _checked, _problem, _internals
    if _checked:
        return _problem
    with _state_lock:
        if not _checked:
            _internals, _problem = _load_internals()
            if _problem is None:
                try:  # the probe's helper bypasses this check
                    _problem = _probe()
                except Exception as exc:  # noqa: BLE001 - any failure means: do not trust the internals
                    _problem = f"the probe failed: {type(exc).__name__}: {exc}"
            _checked = True
    return _problem


def check_for(histogram: Any) -> str | None:
    """The start-up check (its one WARNING included), run when ``histogram`` is an OTel SDK
    instrument: an app that only uses the API never imports the SDK because of otel_ml, and
    instruments behind the API's proxy are checked at their first use."""
    problem = fast_path_problem() if _real_instrument(histogram) is not None else None
    if problem is not None:
        _warn_once(problem)
    return problem


def _reset_for_tests() -> None:
    global _checked, _problem, _warned, _internals
    with _state_lock:
        _checked, _problem, _warned, _internals = False, None, False, None


def _warn_once(reason: str) -> None:
    global _warned
    if _warned:
        return
    with _state_lock:
        if _warned:
            return
        _warned = True
    _log.warning("otel_ml: histograms fall back to one record() per value (slower, same data): %s", reason)


def _real_instrument(histogram: Any) -> Any:
    """The SDK instrument behind ``histogram`` (the API's proxy forwards once a provider is set)."""
    if hasattr(histogram, "_measurement_consumer"):
        return histogram
    real = getattr(histogram, "_real_instrument", None)
    if real is not None and hasattr(real, "_measurement_consumer"):
        return real
    return None


class BulkHistogram:
    """``record_many(values, attributes)`` for one Histogram created with ``boundaries``; with
    ``exemplar=False`` also for a single value (``record_value``), without the SDK's per-call
    attribute copy, hash and exemplar offer."""

    __slots__ = ("histogram", "boundaries", "_bounds", "_probing", "_matches")

    def __init__(self, histogram: Any, boundaries: Sequence[float], *, _probing: bool = False):
        self.histogram = histogram
        self.boundaries = tuple(float(b) for b in boundaries)
        self._bounds = np.asarray(self.boundaries, dtype=np.float64)
        self._probing = _probing
        # id(attributes) -> (attributes, reader storages mapping, [(view match, key, attrs)])
        self._matches: dict[int, tuple] = {}

    def record_many(self, values: np.ndarray, attributes: Mapping[str, Any], *, exemplar: bool = True,
                    checked: bool = False) -> None:
        """Record every finite, non-negative value (what ``record()`` accepts; callers count the
        rest themselves; ``checked``: the caller vouches there is no other). Exactly equal to
        ``for v in values: histogram.record(v, attributes)``, except that only the first value
        is offered as an exemplar (none with ``exemplar=False``)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if not checked and len(values) > 1 and not (np.isfinite(values).all() and (values >= 0).all()):
            values = values[np.isfinite(values) & (values >= 0)]
        n = len(values)
        if n == 0:
            return
        if n == 1:
            self.record_value(float(values[0]), attributes, exemplar=exemplar)
            return
        real, why = self._target()
        if real is None:
            if why not in ("proxy", "disabled"):
                self._loop(values, attributes, None if why == "other" else why)
            return
        if exemplar or self._matches_of(real, attributes) is None:
            self.histogram.record(float(values[0]), attributes)  # exemplar, storage creation: public way
            values = values[1:]
        if not self._add(real, values, attributes):
            self._loop(values, attributes, "a view maps the histogram to another aggregation")

    def record_value(self, value: float, attributes: Mapping[str, Any], *, exemplar: bool = True) -> None:
        """One value; ``exemplar=False`` adds it straight into the aggregations (same data)."""
        if exemplar or not (value >= 0 and math.isfinite(value)):
            self.histogram.record(value, attributes)  # record() also logs what it refuses
            return
        real, why = self._target()
        if real is None:
            if why not in ("proxy", "disabled"):
                if why != "other":
                    _warn_once(why)
                self.histogram.record(value, attributes)
            return
        if self._matches_of(real, attributes) is None or not self._add_one(real, value, attributes):
            self.histogram.record(value, attributes)

    def _target(self) -> tuple[Any, str | None]:
        """(the SDK instrument to add into, None) or (None, why not): "proxy" (an API proxy with
        no SDK behind it yet) and "disabled" drop values as record() would; "other" (not the
        OTel SDK) or a fast-path problem use record() per value."""
        real = _real_instrument(self.histogram)
        if real is None:
            return None, "proxy" if getattr(self.histogram, "_real_instrument", 0) is None else "other"
        problem = None if self._probing else fast_path_problem()
        if problem is not None:
            return None, problem
        is_enabled = getattr(real, "_is_enabled", None)
        if is_enabled is not None and not is_enabled():
            return None, "disabled"
        return real, None

    def _loop(self, values: np.ndarray, attributes, reason: str | None) -> None:
        if reason is not None:
            _warn_once(reason)
        record = self.histogram.record
        for value in values.tolist():
            record(value, attributes)

    def _matches_of(self, real: Any, attributes: Mapping[str, Any]) -> list | None:
        """(view match, aggregation key, attributes) for every reader and view of ``real``;
        None while a reader has not seen the instrument yet (a record() creates its storage)."""
        storages = real._measurement_consumer._reader_storages  # replaced, never mutated
        cached = self._matches.get(id(attributes))
        if cached is not None and cached[0] is attributes and cached[1] is storages:
            return cached[2]
        key_of = _internals[1]
        matches = []
        for storage in storages.values():
            vims = storage._instrument_view_instrument_matches.get(real)
            if not vims:
                return None
            for vim in vims:
                attrs = dict(attributes)
                keys = vim._view._attribute_keys
                if keys is not None:
                    attrs = {k: v for k, v in attrs.items() if k in keys}
                matches.append((vim, key_of(attrs), attrs))
        if len(self._matches) < 1024:  # keyed by identity: the hot path reuses its dicts
            self._matches[id(attributes)] = (attributes, storages, matches)
        return matches

    def _aggregations(self, matches: list) -> list | None:
        aggregation_class = _internals[0]
        found = []
        for vim, key, attrs in matches:
            aggregation = vim._attributes_aggregation.get(key)
            if aggregation is None:
                with vim._lock:
                    aggregation = vim._get_or_create_aggregation(key, attrs)
            if type(aggregation) is not aggregation_class:
                return None
            found.append(aggregation)
        return found

    def _add_one(self, real: Any, value: float, attributes: Mapping[str, Any]) -> bool:
        matches = self._matches_of(real, attributes)
        if matches is None or self._aggregations(matches) is None:
            return False
        for vim, key, attrs in matches:
            with vim._lock:  # held so a collect cannot swap the aggregation out meanwhile
                aggregation = vim._get_or_create_aggregation(key, attrs)
                with aggregation._lock:
                    if aggregation._value is None:
                        aggregation._value = aggregation._get_empty_bucket_counts()
                    aggregation._sum += value
                    if aggregation._record_min_max:
                        aggregation._min = min(aggregation._min, value)
                        aggregation._max = max(aggregation._max, value)
                    aggregation._value[bisect_left(aggregation._boundaries, value)] += 1
        return True

    def _add(self, real: Any, rest: np.ndarray, attributes: Mapping[str, Any]) -> bool:
        """Add ``rest`` to every aggregation the SDK keeps for ``attributes``; False (nothing
        added) when one of them is not an explicit-bucket histogram."""
        if not len(rest):
            return True
        matches = self._matches_of(real, attributes)
        if matches is None or self._aggregations(matches) is None:
            return False
        binned: dict[tuple, list[int]] = {}
        low, high = float(rest.min()), float(rest.max())
        for vim, key, attrs in matches:
            with vim._lock:  # held so a collect cannot swap the aggregation out meanwhile
                aggregation = vim._get_or_create_aggregation(key, attrs)
                bounds = aggregation._boundaries
                counts = binned.get(bounds)
                if counts is None:
                    edges = self._bounds if bounds == self.boundaries else np.asarray(bounds, dtype=np.float64)
                    idx = np.searchsorted(edges, rest, side="left")  # bisect_left, as the SDK does
                    counts = binned[bounds] = np.bincount(idx, minlength=len(bounds) + 1).tolist()
                with aggregation._lock:
                    if aggregation._value is None:
                        aggregation._value = aggregation._get_empty_bucket_counts()
                    buckets = aggregation._value
                    for i, count in enumerate(counts):
                        if count:
                            buckets[i] += count
                    # left-to-right accumulation (np.add.accumulate is sequential): the loop's sum
                    aggregation._sum = float(np.add.accumulate(np.concatenate(([aggregation._sum], rest)))[-1])
                    if aggregation._record_min_max:
                        aggregation._min = min(aggregation._min, low)
                        aggregation._max = max(aggregation._max, high)
        return True
