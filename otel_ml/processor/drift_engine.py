"""The drift / data-quality Component of the processor (P2-P5, P9).

``DriftEngine`` takes ``InferenceBatch`` events, keeps per model version a count window and a time
window (``windows``), and on ``evaluate`` returns gauges:

* ``ml.drift.score`` / ``.p_value`` / ``.p_value.adjusted`` / ``.severity`` per column (feature,
  prediction, confidence), method and window; ``ml.drift.drifted_features``;
* ``ml.prediction.low_confidence.ratio``; ``ml.data_quality.ratio`` / ``.count`` per feature and
  check, and ``ml.data_quality.reference_ratio`` (the profile's own rate per check);
  ``ml.processor.window.fill`` (count window);
* the multivariate verdict (``multivariate_drift``) and, with segments on events, per-segment
  drift and data quality on the count window (``segment_drift``). Whole-version drift and
  data-quality series carry ``ml.segment`` = ``_all``.

Confidences are top-class probabilities, in [1/k, 1] for a classifier with k classes (k from the
profile's performance classes, else its prediction categories; [0, 1] for learned profiles):
a value outside is counted as ``out_of_range`` under the data-quality feature name
``confidence`` and left out of the confidence drift and the low-confidence ratio.

Reference: the ``ProfileStore``'s profile for (model, version) or (model, "*"); without one the
version's first ``profiles.learn_from_first_n`` events become a learned profile (one log line).
Until a version has a profile it gets no gauges at all: the data-quality checks compare with the
profile's schema, types, ranges and categories, so they cannot run before it exists either.
A profile that changes in the store (or replaces a learned one) restarts the version's windows.

Multiple testing: the p-values of one model version and one window (KS per numeric column, chi2
per categorical column, all subjects) form one family, adjusted by ``drift.correction``.
Severity: per method from ``drift.tiers``; KS and chi2 tiers also need an adjusted p-value below
``drift.alpha``; Wasserstein is tiered on distance / reference std (the gauge shows the raw distance).

Time: the time window runs on the engine's clock at ingest (processing time), not on event
timestamps, so a late or skewed sender cannot place data outside the window's memory bound.

Threading: ``ingest`` runs on one worker; ``evaluate`` may run on another. State changes and the
copy of window contents happen under one lock; drift statistics run after it is released.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from opentelemetry.metrics import Meter

from otel_ml.errors import OtelMlError
from otel_ml.semconv_instruments import create_instrument
from otel_ml.processor import quality
from otel_ml.processor.admission import REASON_UNKNOWN_MODEL, Admission, ModelSlots
from otel_ml.processor.cardinality import (
    KIND_CATEGORY, KIND_FEATURE, KIND_MODEL, KIND_VERSION, CappedSet, OverflowCounter,
)
from otel_ml.processor.accuracy.vocab import CappedVocabulary
from otel_ml.processor.contracts import InferenceBatch, Point
from otel_ml.processor.drift_points import drift_points
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.multivariate_drift import ingest_rows, multivariate_points, row_keys
from otel_ml.processor.profile import (
    CategoricalProfile, ColumnProfile, NumericProfile, Profile, ProfileStore, build_profile,
    confidence_floor,
)
from otel_ml.processor.windows import (
    ColumnKey, CountView, CountWindow, NumericSummary, TimeView, TimeWindow,
)
from otel_ml.processor.segment_drift import KIND_SEGMENT, segment_codes, segment_points, segment_views
from otel_ml.semconv import OVERFLOW_VALUE, SEGMENT_ALL, Attr, DriftSubject, Metric, QualityCheck, WindowKind
from otel_ml.stats.categorical import CategoricalDrift, categorical_drift, categorical_drift_counts
from otel_ml.stats.divergence import PSI_EPS, jensen_shannon, psi
from otel_ml.stats.numeric import NumericDrift, numeric_drift_many

__all__ = ["DriftEngine", "SnapshotError", "SNAPSHOT_FORMAT"]

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
_PRED: ColumnKey = (DriftSubject.PREDICTION, "prediction")
_CONF: ColumnKey = (DriftSubject.CONFIDENCE, "confidence")
_REJECT_INVALID = "invalid_event"
#: Data-quality feature name of the confidence checks (when no schema feature has the name).
_CONF_QUALITY = "confidence"
_CONF_CHECKS = (QualityCheck.OUT_OF_RANGE,)


class SnapshotError(OtelMlError, ValueError):
    """A drift-engine snapshot cannot be restored (unknown format or damaged content)."""


def _feature(name: str) -> ColumnKey:
    return (DriftSubject.FEATURE, name)


# --- schema and per-version state --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Schema:
    """The columns the engine tracks for one profile, within the feature cap."""

    profile: Profile
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    untracked: frozenset[str]  # schema features past limits.max_features
    names: frozenset[str]  # every schema feature, tracked or not
    confidence_floor: float = 0.0  # 1/k: the least top-class probability of k classes

    @classmethod
    def of(cls, profile: Profile, max_features: int) -> "_Schema":
        tracked = list(profile.features.items())[:max_features]
        return cls(
            profile=profile,
            numeric={n: c for n, c in tracked if isinstance(c, NumericProfile)},
            categorical={n: c for n, c in tracked if isinstance(c, CategoricalProfile)},
            untracked=frozenset(list(profile.features)[max_features:]),
            names=frozenset(profile.features),
            confidence_floor=confidence_floor(profile),
        )

    def references(self) -> dict[ColumnKey, ColumnProfile]:
        refs: dict[ColumnKey, ColumnProfile] = {_feature(n): c for n, c in self.numeric.items()}
        refs.update({_feature(n): c for n, c in self.categorical.items()})
        if self.profile.prediction is not None:
            refs[_PRED] = self.profile.prediction
        if self.profile.confidence is not None:
            refs[_CONF] = self.profile.confidence
        return refs

    def max_reference_categories(self) -> int:
        cats = [len(c.categories) for c in self.references().values() if isinstance(c, CategoricalProfile)]
        return max(cats, default=0)


class _Learner:
    """The first N events of a version without a profile, kept raw until they become one."""

    def __init__(self, target: int, max_features: int):
        self.target = target
        self.max_features = max_features
        self.rows = 0
        self.features: dict[str, list] = {}
        self.predictions: list = []
        self.confidences: list = []

    @property
    def done(self) -> bool:
        return self.rows >= self.target

    def add(self, batch: InferenceBatch) -> tuple[int, int]:
        """Take rows of ``batch`` until the target; returns (rows taken, feature values dropped by the cap)."""
        take = min(batch.n, self.target - self.rows)
        dropped = 0
        for name, values in batch.features.items():
            col = self.features.get(name)
            if col is None:
                if len(self.features) >= self.max_features:
                    dropped += take
                    continue
                col = self.features[name] = [None] * self.rows
            col.extend(values[:take])
        for name, col in self.features.items():
            if name not in batch.features:
                col.extend([None] * take)
        self.predictions.extend(batch.predictions[:take])
        self.confidences.extend(batch.confidences[:take] if batch.confidences is not None else [None] * take)
        self.rows += take
        return take, dropped

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "rows": self.rows,
                "features": {k: _json_values(v) for k, v in self.features.items()},
                "predictions": _json_values(self.predictions),
                "confidences": _json_values(self.confidences)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], target: int, max_features: int) -> "_Learner":
        out = cls(target, max_features)
        out.rows = int(d["rows"])
        out.features = {k: _from_json_values(v) for k, v in d["features"].items()}
        out.predictions = _from_json_values(d["predictions"])
        out.confidences = _from_json_values(d["confidences"])
        return out


_NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _json_values(values: list) -> list:
    """Raw values with non-finite floats spelled {"f": "nan"} so that strict JSON can hold them."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    types = np.fromiter(map(type, values), dtype=object, count=len(values))
    floats = np.flatnonzero(types == float)
    if floats.size:
        x = arr[floats].astype(np.float64)
        bad = floats[~np.isfinite(x)]
        for i in bad.tolist():
            arr[i] = {"f": repr(arr[i])}
    return arr.tolist()


def _from_json_values(values: list) -> list:
    return [(_NONFINITE[v["f"]] if isinstance(v, dict) and "f" in v else v) for v in values]


class _Version:
    """Everything the engine holds for one model version."""

    def __init__(self, model: str, version: str, settings: EngineSettings, now: float):
        self.model = model
        self.version = version
        self.settings = settings
        self.last_seen = now
        self.profile: Profile | None = None
        self.learned = False
        self.schema: _Schema | None = None
        self.learner: _Learner | None = None
        self.count = CountWindow(settings.windows.count_size)
        self.time = self._new_time_window(0)
        self.category_caps: dict[ColumnKey, CappedSet] = {}
        self.extras = CappedSet(settings.limits.max_features)
        self.segments = CappedVocabulary(settings.limits.max_segments)

    def _new_time_window(self, ref_categories: int) -> TimeWindow:
        w = self.settings.windows
        # Keys reaching a pane are already folded by the per-column CappedSet; the pane's own cap
        # (reference categories + novel ones + the overflow key) is a second, never-binding bound.
        cap = max(ref_categories, self.settings.limits.max_categories) + 1
        return TimeWindow(w.time_s, w.time_panes, w.reservoir_size, w.sketch_k, cap)

    def set_profile(self, profile: Profile, learned: bool) -> None:
        """Adopt a profile; windows restart because what they are compared with changed."""
        limits = self.settings.limits
        self.profile = profile
        self.learned = learned
        self.learner = None
        self.schema = _Schema.of(profile, limits.max_features)
        self.count = CountWindow(self.settings.windows.count_size)
        self.time = self._new_time_window(self.schema.max_reference_categories())
        self.category_caps = {}
        for key, ref in self.schema.references().items():
            if isinstance(ref, CategoricalProfile):
                cats = ref.reference.categories
                self.category_caps[key] = CappedSet(max(limits.max_categories, len(cats)), cats)
        self.extras = CappedSet(limits.max_features)


# --- the engine --------------------------------------------------------------------------------


class DriftEngine:
    """Drift, prediction-drift and data-quality gauges per model version (a processor Component)."""

    name = "drift"

    def __init__(self, settings: EngineSettings | None = None, profiles: ProfileStore | None = None,
                 meter: Meter | None = None, clock: Callable[[], float] = time.time,
                 slots: ModelSlots | None = None):
        self.settings = settings if settings is not None else EngineSettings()
        self.profiles = profiles if profiles is not None else ProfileStore()
        # model-version slots, shared with the accuracy tracker and the admission step
        self.slots = slots if slots is not None else ModelSlots.from_limits(self.settings.limits, self.profiles)
        self._clock = clock
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str], _Version] = {}
        self._by_model: dict[str, dict[str, _Version]] = {}
        seed = self.settings.windows.seed
        self._rng = np.random.default_rng(seed)
        self._eval_rng = np.random.default_rng(None if seed is None else seed + 1)
        self.overflow = OverflowCounter(meter)
        self._rejected = (create_instrument(meter, Metric.PROC_EVENTS_REJECTED)
                          if meter is not None else None)
        self.invalid_batches = 0
        self._unprofiled_logged: set[tuple[str, str]] = set()

    # --- introspection ------------------------------------------------------------------------

    def tracked(self) -> list[tuple[str, str]]:
        """(model, version) pairs that hold state."""
        with self._lock:
            return list(self._versions)

    def profile_for(self, model: str, version: str) -> Profile | None:
        """The profile in use for a version: from the store, else the learned one, else None."""
        with self._lock:
            st = self._versions.get((model, version))
            if st is not None and st.profile is not None:
                return st.profile
        return self.profiles.get(model, version)

    def window_events(self, model: str, version: str) -> tuple[int, int]:
        """(events in the count window, events in the time window as of the last ingest)."""
        with self._lock:
            st = self._versions[(model, version)]
            return st.count.events, st.time.events

    # --- ingest -------------------------------------------------------------------------------

    def ingest(self, events: Sequence[Any]) -> None:
        """Apply inference batches to the windows; other events are ignored. A malformed batch is
        counted (``ml.processor.events.rejected``, reason invalid_event), logged and skipped."""
        batches = []
        for ev in events:
            if not isinstance(ev, InferenceBatch):
                continue
            problem = _batch_problem(ev)
            if problem:
                self._reject(ev, problem)
                continue
            batches.append(ev)
        if not batches:
            return
        now = self._clock()
        with self._lock:
            for batch in _coalesce(batches):
                st = self._state_for(batch.model, batch.version, batch.n, now)
                if st is None:
                    continue
                try:
                    self._ingest_batch(st, batch, now)
                except (ValueError, TypeError, OverflowError) as exc:  # values no check foresaw
                    self._reject(batch, f"{type(exc).__name__}: {exc}")

    def _reject(self, batch: InferenceBatch, problem: str) -> None:
        self.invalid_batches += 1
        if self.invalid_batches <= 10 or self.invalid_batches % 1000 == 0:
            log.warning("drift engine: skipped an inference batch of model %r version %r: %s "
                        "(%d skipped so far)", batch.model, batch.version, problem, self.invalid_batches)
        if self._rejected is not None:
            self._rejected.add(max(len(batch.predictions), 1),
                               {Attr.SIGNAL: "logs", Attr.REJECT_REASON: _REJECT_INVALID})

    def admit(self, events: Sequence[Any]) -> Admission:
        """Admission step (called by the ingest queue as a request arrives): inference batches of
        model versions the slots refuse are refused here, counted once on the overflow counter."""
        out = Admission()
        now = self._clock()
        decided: dict[tuple[str, str], str | None] = {}
        for i, ev in enumerate(events):
            if not isinstance(ev, InferenceBatch) or not isinstance(ev.model, str) or not ev.model:
                continue
            key = (ev.model, ev.version if isinstance(ev.version, str) else "")
            if key not in decided:
                decided[key] = reason = self.slots.admit(key[0], key[1], now)
                if reason is not None:
                    out.messages.append(self.slots.message(reason, *key))
            reason = decided[key]
            if reason is not None:
                out.refused[i] = reason
                self.overflow.add(KIND_MODEL if reason == REASON_UNKNOWN_MODEL else KIND_VERSION, ev.n)
        out.warnings = self.slots.notes_due([k for k, r in decided.items() if r is None], now)
        return out

    def _state_for(self, model: str, version: str, n: int, now: float) -> _Version | None:
        reason = self.slots.admit(model, version, now)
        if reason is not None:
            self._drop(model, version)
            self.overflow.add(KIND_MODEL if reason == REASON_UNKNOWN_MODEL else KIND_VERSION, n)
            return None
        st = self._versions.get((model, version))
        if st is not None:
            return st
        self._drop_released()  # admitting a newcomer may have released idle slots
        st = _Version(model, version, self.settings, now)
        self._by_model.setdefault(model, {})[version] = st
        self._versions[(model, version)] = st
        return st

    def _drop(self, model: str, version: str) -> None:
        if self._versions.pop((model, version), None) is not None:
            log.info("drift engine: model %r version %r released its slot; state dropped", model, version)
            models = self._by_model.get(model, {})
            models.pop(version, None)
            if not models:
                self._by_model.pop(model, None)

    def _evict_idle(self, now: float) -> None:
        """Free idle slots (``limits.version_idle_s``) and drop the state of versions without one."""
        self.slots.release_idle(now)
        self._drop_released()

    def _drop_released(self) -> None:
        for key in [k for k in self._versions if not self.slots.holds(*k)]:
            self._drop(*key)

    def _ingest_batch(self, st: _Version, batch: InferenceBatch, now: float) -> None:
        if now - st.last_seen > self.settings.windows.stale_after_s and st.count.events:
            # Back after a pause (e.g. the primary again after a fallback): the count window's
            # events predate the pause, so judging the new traffic with them would re-raise the
            # old drift. Start it afresh; the time window has expired on its own.
            log.info("drift engine: model %r version %r serves again after %.0fs; count window restarted",
                     st.model, st.version, now - st.last_seen)
            st.count = CountWindow(self.settings.windows.count_size)
        st.last_seen = now
        stored = self.profiles.get(st.model, st.version)
        if stored is not None and stored is not st.profile:
            st.set_profile(stored, learned=False)
        if st.schema is None:
            batch = self._learn(st, batch)
            if batch is None:
                return
        self._apply(st, batch, now)

    def _learn(self, st: _Version, batch: InferenceBatch) -> InferenceBatch | None:
        """Feed the learner; returns the rows left over once the profile is learned."""
        target = self.settings.profiles.learn_from_first_n
        key = (st.model, st.version)
        if target == 0:
            if key not in self._unprofiled_logged:
                self._unprofiled_logged.add(key)
                log.warning("drift engine: no reference profile for model %r version %r and learning is "
                            "off (profiles.learn_from_first_n: 0): no drift or data-quality gauges for it", *key)
            return None
        if st.learner is None:
            st.learner = _Learner(target, self.settings.limits.max_features)
        taken, dropped = st.learner.add(batch)
        self._folded(st, KIND_FEATURE, dropped)
        if not st.learner.done:
            return None
        profile = self._build_learned(st)
        if profile is None:
            st.learner = None  # nothing usable: learn again from the next events
            return None
        st.set_profile(profile, learned=True)
        log.info("drift engine: no reference profile for model %r version %r; learned one from its first "
                 "%d events", st.model, st.version, profile.rows)
        return _slice(batch, taken) if taken < batch.n else None

    def _build_learned(self, st: _Version) -> Profile | None:
        lr = st.learner
        assert lr is not None
        bins = self.settings.profiles.bins
        source = f"learned from the first {lr.rows} events"
        # A feature with no usable value cannot be profiled: it is left out of the schema
        # (and then counts as an extra feature).
        profile = build_profile(st.model, st.version, lr.features, lr.predictions, lr.confidences,
                                bins=bins, source=source, learned=True, rng=self._rng, skip_empty=True)
        if not profile.features and profile.prediction is None:
            log.warning("drift engine: the first %d events of model %r version %r hold no usable value; "
                        "learning again", lr.rows, st.model, st.version)
            return None
        return profile

    def _apply(self, st: _Version, batch: InferenceBatch, now: float) -> None:
        """Convert each column once (numpy), check it, and append it to both windows."""
        schema = st.schema
        assert schema is not None
        n = batch.n
        numeric: dict[ColumnKey, np.ndarray] = {}
        categorical: dict[ColumnKey, np.ndarray] = {}
        flags: dict[str, np.ndarray] = {}
        for name, prof in schema.numeric.items():
            raw = batch.features.get(name)
            if raw is None:
                flags[name] = quality.constant_flags(n, QualityCheck.MISSING_FEATURE)
                continue
            col = quality.numeric_column(raw)
            flags[name] = quality.numeric_flags(col, prof.min, prof.max, prof.iqr_low, prof.iqr_high)
            numeric[_feature(name)] = _finite_or_nan(col.x)
        for name, prof in schema.categorical.items():
            raw = batch.features.get(name)
            if raw is None:
                flags[name] = quality.constant_flags(n, QualityCheck.MISSING_FEATURE)
                continue
            col = quality.categorical_column(raw)
            flags[name] = quality.categorical_flags(col, prof.categories, prof.value_type)
            categorical[_feature(name)] = self._fold(st, _feature(name), col.keys)
        untracked = 0
        for name in [f for f in batch.features if f not in schema.names]:  # in the batch's order
            folded = st.extras.admit(name)
            if folded == OVERFLOW_VALUE:
                untracked += n
            extra = quality.constant_flags(n, QualityCheck.EXTRA_FEATURE)
            flags[folded] = flags[folded] | extra if folded in flags else extra
        untracked += n * len(schema.untracked & batch.features.keys())
        self._folded(st, KIND_FEATURE, untracked)
        pred = schema.profile.prediction
        if isinstance(pred, NumericProfile):
            numeric[_PRED] = _finite_or_nan(quality.numeric_column(batch.predictions).x)
        elif isinstance(pred, CategoricalProfile):
            categorical[_PRED] = self._fold(st, _PRED, quality.categorical_column(batch.predictions).keys)
        low = (0, 0)
        if batch.confidences is not None:
            raw_conf = quality.numeric_column(batch.confidences).x
            invalid = quality.outside_probability(raw_conf, schema.confidence_floor)
            if _CONF_QUALITY not in schema.names:
                flags[_CONF_QUALITY] = np.where(invalid, quality.bit(QualityCheck.OUT_OF_RANGE), 0).astype(np.uint16)
            conf = _finite_or_nan(np.where(invalid, np.nan, raw_conf))
            numeric[_CONF] = conf
            valid = np.isfinite(conf)
            low = (int(np.count_nonzero(conf[valid] < self.settings.drift.low_confidence_threshold)),
                   int(np.count_nonzero(valid)))
        segments = None
        if self.settings.drift.segments:
            segments, seg_folded = segment_codes(st.segments, batch.segments, n)
            self.overflow.add(KIND_SEGMENT, seg_folded)
        st.count.append(n, numeric, categorical, flags, segments)
        folded = st.time.append(
            now, n,
            {k: v[np.isfinite(v)] for k, v in numeric.items()},
            {k: v[np.not_equal(v, None)] for k, v in categorical.items()},
            {name: quality.flag_counts(f) for name, f in flags.items()},
            low, self._rng, ingest_rows(row_keys(schema.profile, self.settings.drift), numeric, n))
        self.overflow.add(KIND_CATEGORY, folded)

    def _fold(self, st: _Version, key: ColumnKey, keys: np.ndarray) -> np.ndarray:
        cap = st.category_caps.get(key)
        if cap is None:
            cap = st.category_caps[key] = CappedSet(self.settings.limits.max_categories)
        out, folded = cap.fold(keys)
        self._folded(st, KIND_CATEGORY, folded, f" for {key[0]} {key[1]!r}")
        return out

    def _folded(self, st: _Version, kind: str, count: int, where: str = "") -> None:
        """Count values a cap folded (once) and note the full cap for the model version's senders."""
        if count <= 0:
            return
        self.overflow.add(kind, count)
        limits = self.settings.limits
        key, cap = (("limits.max_features", limits.max_features) if kind == KIND_FEATURE
                    else ("limits.max_categories", limits.max_categories))
        self.slots.note(st.model, st.version, key,
                        f"{key} ({cap}) is full{where}: new values count as {OVERFLOW_VALUE!r}")

    # --- evaluate -----------------------------------------------------------------------------

    def evaluate(self, now: float) -> list[Point]:
        """Gauges for every model version with a profile that is still serving (an event within
        ``windows.stale_after_s``), both windows. Window contents are copied under the lock;
        the statistics run after it is released."""
        jobs = []
        stale_after = self.settings.windows.stale_after_s
        with self._lock:
            self._evict_idle(now)
            for st in self._versions.values():
                if st.schema is None or now - st.last_seen > stale_after:
                    continue
                segs = segment_views(st.count, st.segments, self.settings.drift.segments,
                                     self.settings.windows.min_events)
                jobs.append((st.model, st.version, st.schema,
                             st.count.view(row_keys(st.schema.profile, self.settings.drift)),
                             st.time.view(now, self._eval_rng), segs))
        points: list[Point] = []
        for model, version, schema, count_view, time_view, segs in jobs:
            points.extend(self._version_points(model, version, schema, count_view, time_view, segs))
        return points

    def _version_points(self, model: str, version: str, schema: _Schema, cv: CountView,
                        tv: TimeView, segs: list[tuple[str, CountView]]) -> list[Point]:
        out: list[Point] = []
        for kind, view in ((WindowKind.COUNT, cv), (WindowKind.TIME, tv)):
            base = {Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version, Attr.WINDOW: kind}
            if kind == WindowKind.COUNT:
                out.append(Point(Metric.PROC_WINDOW_FILL, cv.events / cv.size, base))
            if view.events == 0:
                continue
            whole = {**base, Attr.SEGMENT: SEGMENT_ALL}  # beside the per-segment series
            out.extend(_quality_points(schema, view, whole))
            out.extend(self._drift_points(schema, kind, view, whole))
            out.extend(multivariate_points(schema.profile, view.rows, whole, self.settings.drift,
                                           self.settings.windows.min_events, self.settings.windows.seed))
            if kind == WindowKind.COUNT and segs:
                out.extend(segment_points(segs, base, lambda v, b: _quality_points(schema, v, b),
                                          lambda v: self._drift_results(schema, v), self.settings.drift))
            ratio = self._low_confidence_ratio(view)
            if ratio is not None:
                out.append(Point(Metric.LOW_CONFIDENCE_RATIO, ratio, base))
        if cv.events or tv.events:
            out.extend(_reference_quality_points(schema, {Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version}))
        return out

    def _low_confidence_ratio(self, view: CountView | TimeView) -> float | None:
        min_events = self.settings.windows.min_events
        if isinstance(view, CountView):
            conf = view.numeric.get(_CONF)
            if conf is None or conf.size < min_events:
                return None
            return float(np.count_nonzero(conf < self.settings.drift.low_confidence_threshold) / conf.size)
        if view.confidences < min_events:
            return None
        return view.low_confidence / view.confidences

    def _drift_results(self, schema: _Schema, view: CountView | TimeView
                       ) -> dict[ColumnKey, NumericDrift | CategoricalDrift]:
        """Drift of every column with enough values (statistics from otel_ml.stats)."""
        min_events = self.settings.windows.min_events
        refs = schema.references()
        num_refs = {k: r.reference for k, r in refs.items() if isinstance(r, NumericProfile)}
        results: dict[ColumnKey, NumericDrift | CategoricalDrift] = {}
        if isinstance(view, CountView):
            current = {k: v for k, v in view.numeric.items() if k in num_refs and v.size >= min_events}
            results.update(numeric_drift_many(num_refs, current))
            for key, ref in refs.items():
                keys = view.categorical.get(key)
                if isinstance(ref, CategoricalProfile) and keys is not None and keys.size >= min_events:
                    results[key] = categorical_drift(ref.reference, keys)
            return results
        summaries = {k: s for k, s in view.numeric.items() if k in num_refs and s.n >= min_events}
        sampled = numeric_drift_many(num_refs, {k: s.sample for k, s in summaries.items()})
        for key, res in sampled.items():
            results[key] = _with_sketch_divergences(res, num_refs[key], summaries[key])
        for key, ref in refs.items():
            counts = view.categorical.get(key)
            if not isinstance(ref, CategoricalProfile) or not counts:
                continue
            total = sum(counts.values())
            if total < min_events:
                continue
            results[key] = self._categorical_from_counts(ref, counts, total)
        return results

    def _categorical_from_counts(self, ref: CategoricalProfile, counts: dict[str, int],
                                 total: int) -> CategoricalDrift:
        """Drift from the time window's exact counts; chi2 on a subsample of at most
        ``windows.reservoir_size`` values, so its power matches the numeric tests' reservoir."""
        return categorical_drift_counts(ref.reference, counts, max_test_n=self.settings.windows.reservoir_size,
                                        rng=self._eval_rng)

    def _drift_points(self, schema: _Schema, kind: str, view: CountView | TimeView,
                      base: Mapping[str, str]) -> list[Point]:
        results = self._drift_results(schema, view)
        return drift_points([(base, results)], self.settings.drift) if results else []

    # --- checkpoints --------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """JSON-serialisable state: windows (exact), learners, learned profiles, random state."""
        with self._lock:
            versions = []
            for st in self._versions.values():
                versions.append({
                    "model": st.model,
                    "version": st.version,
                    "last_seen": st.last_seen,
                    "learned_profile": st.profile.to_dict() if (st.learned and st.profile) else None,
                    "learner": st.learner.to_dict() if st.learner is not None else None,
                    "count": st.count.to_dict() if st.schema is not None else None,
                    "time": st.time.to_dict() if st.schema is not None else None,
                    "category_caps": [[k[0], k[1], cap.values()] for k, cap in st.category_caps.items()],
                    "extras": st.extras.values(),
                    "segments": st.segments.to_list(),
                })
            return {
                "format": SNAPSHOT_FORMAT,
                "rng": self._rng.bit_generator.state,
                "eval_rng": self._eval_rng.bit_generator.state,
                "invalid_batches": self.invalid_batches,
                "versions": versions,
            }

    def restore(self, state: dict) -> None:
        """Replace the engine's state by a ``snapshot()``; windows taken with other sizes are
        resized (count) or restarted (time, when the pane layout changed)."""
        if not isinstance(state, Mapping):
            raise SnapshotError(f"drift engine snapshot: expected a mapping, got {type(state).__name__}")
        if state.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"drift engine snapshot: unsupported format {state.get('format')!r} "
                                f"(this version reads {SNAPSHOT_FORMAT})")
        now = self._clock()
        versions: dict[tuple[str, str], _Version] = {}
        by_model: dict[str, dict[str, _Version]] = {}
        # Everything is rebuilt aside and swapped in at the end: a damaged snapshot changes nothing.
        try:
            for d in state.get("versions", []):
                st = self._restore_version(d, now)
                versions[(st.model, st.version)] = st
                by_model.setdefault(st.model, {})[st.version] = st
            rng = np.random.default_rng()
            rng.bit_generator.state = state["rng"]
            eval_rng = np.random.default_rng()
            eval_rng.bit_generator.state = state["eval_rng"]
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, OtelMlError) as exc:
            raise SnapshotError(f"drift engine snapshot: damaged ({type(exc).__name__}: {exc})") from exc
        with self._lock:
            self._versions = versions
            self._by_model = by_model
            for st in versions.values():
                self.slots.restore(st.model, st.version, st.last_seen)
            self._rng = rng
            self._eval_rng = eval_rng
            self.invalid_batches = int(state.get("invalid_batches", 0))

    def _restore_version(self, d: Mapping[str, Any], now: float) -> _Version:
        st = _Version(str(d["model"]), str(d["version"]), self.settings, float(d.get("last_seen", now)))
        stored = self.profiles.get(st.model, st.version)
        if stored is not None:
            st.set_profile(stored, learned=False)
        elif d.get("learned_profile") is not None:
            st.set_profile(Profile.from_dict(d["learned_profile"], where="snapshot learned profile"), learned=True)
        elif d.get("learner") is not None and self.settings.profiles.learn_from_first_n > 0:
            st.learner = _Learner.from_dict(d["learner"], self.settings.profiles.learn_from_first_n,
                                            self.settings.limits.max_features)
        if st.schema is None:
            return st
        for subject, name, values in d.get("category_caps", []):
            cap = st.category_caps.get((subject, name))
            if cap is None:
                cap = st.category_caps[(subject, name)] = CappedSet(self.settings.limits.max_categories)
            for v in values:
                cap.admit(v)
        for name in d.get("extras", []):
            st.extras.admit(name)
        st.segments = CappedVocabulary.from_list(self.settings.limits.max_segments, d.get("segments", []))
        keep_cols = set(st.schema.references()) | {_CONF}
        keep_flags = (set(st.schema.numeric) | set(st.schema.categorical) | set(st.extras.values())
                      | {OVERFLOW_VALUE, _CONF_QUALITY})
        if d.get("count") is not None:
            st.count = CountWindow.from_dict(d["count"], self.settings.windows.count_size)
            st.count.drop_columns(keep_cols, keep_cols, keep_flags)
        if d.get("time") is not None and st.time.compatible(d["time"]):
            st.time.load_panes(d["time"])
            st.time.drop_columns(keep_cols, keep_flags)
        return st


# --- helpers -----------------------------------------------------------------------------------


def _finite_or_nan(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    return x if finite.all() else np.where(finite, x, np.nan)


def _with_sketch_divergences(res: NumericDrift, ref, summary: NumericSummary) -> NumericDrift:
    """Replace PSI and JS of a reservoir sample by those of every value (the KLL sketch's bin shares)."""
    cdf = summary.cdf(ref.bin_edges)
    shares = np.clip(np.diff(np.concatenate(([0.0], cdf, [1.0]))), 0.0, None)
    return dataclasses.replace(res, psi=psi(ref.bin_fractions, shares, PSI_EPS),
                               jensen_shannon=jensen_shannon(ref.bin_fractions, shares))


def _quality_points(schema: _Schema, view: CountView | TimeView, base: Mapping[str, str]) -> list[Point]:
    """Count and ratio per feature and applicable check; extra features (capped, with the
    overflow bucket) are the flagged names outside the schema."""
    out: list[Point] = []
    total = view.events
    conf = _CONF_QUALITY if _CONF_QUALITY not in schema.names else None
    extras = sorted(name for name in view.check_counts
                    if name not in schema.numeric and name not in schema.categorical and name != conf)
    rows = [(name, quality.NUMERIC_CHECKS) for name in schema.numeric]
    rows += [(name, quality.CATEGORICAL_CHECKS) for name in schema.categorical]
    rows += [(name, quality.EXTRA_CHECKS) for name in extras]
    if conf is not None and conf in view.check_counts:
        rows.append((conf, _CONF_CHECKS))
    empty = np.zeros(len(quality.CHECKS), dtype=np.int64)
    for name, checks in rows:
        counts = view.check_counts.get(name, empty)
        for check in checks:
            c = int(counts[quality.CHECKS.index(check)])
            attrs = {**base, Attr.FEATURE_NAME: name, Attr.DATA_QUALITY_CHECK: check}
            out.append(Point(Metric.DATA_QUALITY_COUNT, float(c), attrs))
            out.append(Point(Metric.DATA_QUALITY_RATIO, c / total, attrs))
    return out


def _reference_quality_points(schema: _Schema, base: Mapping[str, str]) -> list[Point]:
    """The profile's own rate per feature and check (``ml.data_quality.reference_ratio``)."""
    out: list[Point] = []
    for name, col in [*schema.numeric.items(), *schema.categorical.items()]:
        for check, rate in col.rates.items():
            attrs = {**base, Attr.FEATURE_NAME: name, Attr.DATA_QUALITY_CHECK: check}
            out.append(Point(Metric.DATA_QUALITY_REFERENCE_RATIO, float(rate), attrs))
    return out


def _batch_problem(batch: InferenceBatch) -> str | None:
    """Why a batch cannot be applied (columns of the wrong length or type), or None."""
    n = len(batch.predictions) if isinstance(batch.predictions, (list, tuple, np.ndarray)) else -1
    if n < 0:
        return "predictions is not a list"
    if not isinstance(batch.features, Mapping):
        return "features is not a mapping"
    if not isinstance(batch.model, str) or not batch.model or not isinstance(batch.version, str):
        return "model name and version must be strings"
    for name, col in batch.features.items():
        if not isinstance(name, str):
            return f"feature name {name!r} is not a string"
        if not isinstance(col, (list, tuple, np.ndarray)) or len(col) != n:
            return f"feature {name!r} has {len(col) if hasattr(col, '__len__') else '?'} values for {n} predictions"
    if batch.confidences is not None and (not isinstance(batch.confidences, (list, tuple, np.ndarray))
                                          or len(batch.confidences) != n):
        return f"confidences do not match the {n} predictions"
    return None


def _coalesce(batches: list[InferenceBatch]) -> list[InferenceBatch]:
    """Merge batches of the same model version with the same feature names, in order, so that
    small batches cost one set of numpy calls per ingest call instead of one per batch."""
    groups: dict[tuple, list[InferenceBatch]] = {}
    for b in batches:
        key = (b.model, b.version, tuple(b.features), b.confidences is not None, b.segments is not None)
        groups.setdefault(key, []).append(b)
    out = []
    for (model, version, names, has_conf, has_seg), group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        features = {name: _concat(b.features[name] for b in group) for name in names}
        out.append(InferenceBatch(
            model=model, version=version, features=features,
            predictions=_concat(b.predictions for b in group),
            confidences=_concat(b.confidences for b in group) if has_conf else None,
            segments=_concat(b.segments for b in group) if has_seg else None))
    return out


def _concat(columns: Iterable[Sequence[Any]]) -> list:
    out: list = []
    for col in columns:
        out.extend(col)
    return out


def _slice(batch: InferenceBatch, start: int) -> InferenceBatch:
    return InferenceBatch(
        model=batch.model, version=batch.version,
        features={k: v[start:] for k, v in batch.features.items()},
        predictions=batch.predictions[start:],
        confidences=batch.confidences[start:] if batch.confidences is not None else None,
        segments=batch.segments[start:] if batch.segments is not None else None)
