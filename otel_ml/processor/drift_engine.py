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

Parts: batch checks and merging (``inference_batches``), per-version state and its checkpoint form
(``drift_state``), learned profiles (``profile_learner``), gauges (``drift_points``,
``quality_points``, ``multivariate_drift``, ``segment_drift``); statistics in ``otel_ml.stats``.

Threading: ``ingest`` runs on one worker; ``evaluate`` may run on another. State changes and the
copy of window contents happen under one lock; drift statistics run after it is released.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from opentelemetry.metrics import Meter

from otel_ml.errors import OtelMlError
from otel_ml.semconv_instruments import create_instrument
from otel_ml.processor import quality
from otel_ml.processor.admission import REASON_UNKNOWN_MODEL, Admission, ModelSlots
from otel_ml.processor.cardinality import (
    KIND_CATEGORY, KIND_FEATURE, KIND_MODEL, KIND_VERSION, CappedSet, OverflowCounter,
)
from otel_ml.processor.contracts import InferenceBatch, Point
from otel_ml.processor.drift_points import drift_points
from otel_ml.processor.drift_state import CONF, CONF_QUALITY, PRED, DriftSchema, VersionState, feature
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.inference_batches import batch_problem, coalesce, rows_from
from otel_ml.processor.multivariate_drift import ingest_rows, multivariate_points, row_keys
from otel_ml.processor.profile import CategoricalProfile, NumericProfile, Profile, ProfileStore
from otel_ml.processor.profile_learner import ProfileLearner
from otel_ml.processor.quality_points import quality_points, reference_quality_points
from otel_ml.processor.segment_drift import KIND_SEGMENT, segment_codes, segment_points, segment_views
from otel_ml.processor.windows import ColumnKey, CountView, CountWindow, TimeView
from otel_ml.semconv import OVERFLOW_VALUE, SEGMENT_ALL, Attr, Metric, QualityCheck, WindowKind
from otel_ml.stats.categorical import CategoricalDrift, categorical_drift, categorical_drift_counts
from otel_ml.stats.numeric import NumericDrift, numeric_drift_many, with_bin_shares

__all__ = ["DriftEngine", "SnapshotError", "SNAPSHOT_FORMAT"]

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
_REJECT_INVALID = "invalid_event"


class SnapshotError(OtelMlError, ValueError):
    """A drift-engine snapshot cannot be restored (unknown format or damaged content)."""


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
        self._versions: dict[tuple[str, str], VersionState] = {}
        self._by_model: dict[str, dict[str, VersionState]] = {}
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
            problem = batch_problem(ev)
            if problem:
                self._reject(ev, problem)
                continue
            batches.append(ev)
        if not batches:
            return
        now = self._clock()
        with self._lock:
            for batch in coalesce(batches):
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

    def _state_for(self, model: str, version: str, n: int, now: float) -> VersionState | None:
        reason = self.slots.admit(model, version, now)
        if reason is not None:
            self._drop(model, version)
            self.overflow.add(KIND_MODEL if reason == REASON_UNKNOWN_MODEL else KIND_VERSION, n)
            return None
        st = self._versions.get((model, version))
        if st is not None:
            return st
        self._drop_released()  # admitting a newcomer may have released idle slots
        st = VersionState(model, version, self.settings, now)
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

    def _ingest_batch(self, st: VersionState, batch: InferenceBatch, now: float) -> None:
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

    def _learn(self, st: VersionState, batch: InferenceBatch) -> InferenceBatch | None:
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
            st.learner = ProfileLearner(target, self.settings.limits.max_features)
        taken, dropped = st.learner.add(batch)
        self._folded(st, KIND_FEATURE, dropped)
        if not st.learner.done:
            return None
        profile = st.learner.build(st.model, st.version, self.settings.profiles.bins, self._rng)
        if profile is None:
            log.warning("drift engine: the first %d events of model %r version %r hold no usable value; "
                        "learning again", st.learner.rows, st.model, st.version)
            st.learner = None  # nothing usable: learn again from the next events
            return None
        st.set_profile(profile, learned=True)
        log.info("drift engine: no reference profile for model %r version %r; learned one from its first "
                 "%d events", st.model, st.version, profile.rows)
        return rows_from(batch, taken) if taken < batch.n else None

    def _apply(self, st: VersionState, batch: InferenceBatch, now: float) -> None:
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
            numeric[feature(name)] = _finite_or_nan(col.x)
        for name, prof in schema.categorical.items():
            raw = batch.features.get(name)
            if raw is None:
                flags[name] = quality.constant_flags(n, QualityCheck.MISSING_FEATURE)
                continue
            col = quality.categorical_column(raw)
            flags[name] = quality.categorical_flags(col, prof.categories, prof.value_type)
            categorical[feature(name)] = self._fold(st, feature(name), col.keys)
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
            numeric[PRED] = _finite_or_nan(quality.numeric_column(batch.predictions).x)
        elif isinstance(pred, CategoricalProfile):
            categorical[PRED] = self._fold(st, PRED, quality.categorical_column(batch.predictions).keys)
        low = (0, 0)
        if batch.confidences is not None:
            raw_conf = quality.numeric_column(batch.confidences).x
            invalid = quality.outside_probability(raw_conf, schema.confidence_floor)
            if CONF_QUALITY not in schema.names:
                flags[CONF_QUALITY] = np.where(invalid, quality.bit(QualityCheck.OUT_OF_RANGE), 0).astype(np.uint16)
            conf = _finite_or_nan(np.where(invalid, np.nan, raw_conf))
            numeric[CONF] = conf
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

    def _fold(self, st: VersionState, key: ColumnKey, keys: np.ndarray) -> np.ndarray:
        cap = st.category_caps.get(key)
        if cap is None:
            cap = st.category_caps[key] = CappedSet(self.settings.limits.max_categories)
        out, folded = cap.fold(keys)
        self._folded(st, KIND_CATEGORY, folded, f" for {key[0]} {key[1]!r}")
        return out

    def _folded(self, st: VersionState, kind: str, count: int, where: str = "") -> None:
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

    def _version_points(self, model: str, version: str, schema: DriftSchema, cv: CountView,
                        tv: TimeView, segs: list[tuple[str, CountView]]) -> list[Point]:
        out: list[Point] = []
        for kind, view in ((WindowKind.COUNT, cv), (WindowKind.TIME, tv)):
            base = {Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version, Attr.WINDOW: kind}
            if kind == WindowKind.COUNT:
                out.append(Point(Metric.PROC_WINDOW_FILL, cv.events / cv.size, base))
            if view.events == 0:
                continue
            whole = {**base, Attr.SEGMENT: SEGMENT_ALL}  # beside the per-segment series
            out.extend(quality_points(schema, view, whole))
            out.extend(self._drift_points(schema, kind, view, whole))
            out.extend(multivariate_points(schema.profile, view.rows, whole, self.settings.drift,
                                           self.settings.windows.min_events, self.settings.windows.seed))
            if kind == WindowKind.COUNT and segs:
                out.extend(segment_points(segs, base, lambda v, b: quality_points(schema, v, b),
                                          lambda v: self._drift_results(schema, v), self.settings.drift))
            ratio = self._low_confidence_ratio(view)
            if ratio is not None:
                out.append(Point(Metric.LOW_CONFIDENCE_RATIO, ratio, base))
        if cv.events or tv.events:
            out.extend(reference_quality_points(schema, {Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version}))
        return out

    def _low_confidence_ratio(self, view: CountView | TimeView) -> float | None:
        min_events = self.settings.windows.min_events
        if isinstance(view, CountView):
            conf = view.numeric.get(CONF)
            if conf is None or conf.size < min_events:
                return None
            return float(np.count_nonzero(conf < self.settings.drift.low_confidence_threshold) / conf.size)
        if view.confidences < min_events:
            return None
        return view.low_confidence / view.confidences

    def _drift_results(self, schema: DriftSchema, view: CountView | TimeView
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
            results[key] = with_bin_shares(res, num_refs[key], summaries[key].cdf(num_refs[key].bin_edges))
        for key, ref in refs.items():
            counts = view.categorical.get(key)
            if isinstance(ref, CategoricalProfile) and counts and sum(counts.values()) >= min_events:
                # exact counts; chi2 on a subsample of at most windows.reservoir_size values,
                # so that its power matches the numeric tests' reservoir
                results[key] = categorical_drift_counts(ref.reference, counts, rng=self._eval_rng,
                                                        max_test_n=self.settings.windows.reservoir_size)
        return results

    def _drift_points(self, schema: DriftSchema, kind: str, view: CountView | TimeView,
                      base: Mapping[str, str]) -> list[Point]:
        results = self._drift_results(schema, view)
        return drift_points([(base, results)], self.settings.drift) if results else []

    # --- checkpoints --------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """JSON-serialisable state: windows (exact), learners, learned profiles, random state."""
        with self._lock:
            versions = [st.to_dict() for st in self._versions.values()]
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
        versions: dict[tuple[str, str], VersionState] = {}
        by_model: dict[str, dict[str, VersionState]] = {}
        # Everything is rebuilt aside and swapped in at the end: a damaged snapshot changes nothing.
        try:
            for d in state.get("versions", []):
                st = VersionState.from_dict(d, self.settings, self.profiles, now)
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

# --- helpers -----------------------------------------------------------------------------------


def _finite_or_nan(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    return x if finite.all() else np.where(finite, x, np.nan)
