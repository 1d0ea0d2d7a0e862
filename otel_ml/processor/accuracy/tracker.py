"""``AccuracyTracker``: the processor Component for labels, realized and estimated performance.

ingest: inference batches register their predictions (pending store + prediction window);
ground-truth events join them by prediction id, whatever the delay; outcome events (I9) join
the same way (``label_join``). Labels arriving before their prediction are held for a grace period.
evaluate: realized metrics per window and segment, CBPE estimates, baseline, decay with its
significance, trend and time-to-threshold, label coverage and pending counts, outcome means,
for the model versions still serving: one with no prediction and no joined label or outcome
for ``window.stale_after_s`` exports only its pending count (while non-zero) until activity
resumes, so a retired version's last values do not keep its alerts firing.
Counters (labels received by result, cardinality overflow) and the label-lag histogram are
recorded on the meter; everything else is returned as Points.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from itertools import compress, groupby
from typing import Any, Callable, Sequence

import numpy as np

from otel_ml.bulk_histogram import BulkHistogram
from otel_ml.semconv_instruments import create_instrument
from otel_ml.processor.admission import REASON_UNKNOWN_MODEL, ModelSlots
from otel_ml.processor.accuracy import evaluation as ev
from otel_ml.processor.accuracy.encoding import (
    canonical_class, class_codes, float_column, text_codes, valid_ids,
)
from otel_ml.processor.accuracy.label_join import LabelJoin, Records
from otel_ml.processor.accuracy.model_state import ModelState, infer_task
from otel_ml.processor.accuracy.pending import PendingStore
from otel_ml.processor.accuracy.reference import ReferenceFormatError, ReferencePerformance
from otel_ml.processor.accuracy.settings import TASK_CLASSIFICATION, AccuracySettings
from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch, OutcomeEvent, Point
from otel_ml.processor.quality import outside_probability
from otel_ml.processor.engine_settings import LimitSettings as SharedLimits
from otel_ml.semconv import LABEL_LAG_BUCKETS_S, Attr, LabelResult, Metric, WindowKind

__all__ = ["AccuracyTracker", "SNAPSHOT_FORMAT"]

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1


class AccuracyTracker(LabelJoin):
    """Component ``accuracy``: see the module docstring. Thread-safe."""

    name = "accuracy"

    def __init__(self, settings: AccuracySettings | None = None, profiles=None, meter=None,
                 clock: Callable[[], float] = time.time, slots: ModelSlots | None = None):
        self.settings = settings if settings is not None else AccuracySettings()
        self._profiles = profiles
        # model-version slots shared with the drift engine (which also admits and counts
        # refusals); a tracker used alone admits, and counts, on its own
        self._own_slots = slots is None
        self.slots = slots if slots is not None else ModelSlots.from_limits(SharedLimits(), profiles)
        self._clock = clock
        self._lock = threading.Lock()
        self._eval_lock = threading.Lock()
        self._reset()
        self._cache: dict[tuple, tuple[tuple, list[Point]]] = {}
        self._received = self._lag = self._overflow = self._evictions = None
        if meter is not None:
            self._evictions = create_instrument(meter, Metric.PROC_PENDING_EVICTED)
            self._received = create_instrument(meter, Metric.LABELS_RECEIVED)
            self._lag = create_instrument(meter, Metric.LABELS_LAG,
                                          explicit_bucket_boundaries_advisory=LABEL_LAG_BUCKETS_S)
            self._overflow = create_instrument(meter, Metric.PROC_CARDINALITY_OVERFLOW)

    def _reset(self) -> None:
        p = self.settings.pending
        self._pending = PendingStore(p.max_predictions, p.ttl_s, p.max_tombstones, p.max_bytes)
        self._evicted_seen: Counter = Counter()
        self._states: list[ModelState | None] = []  # None: released (indices are never reused)
        self._by_key: dict[tuple[str, str], int] = {}
        # id -> (label, model, version, label time s, arrival s)
        self._held_labels: OrderedDict[str, tuple] = OrderedDict()
        # id -> [(name, value, model, version, arrival s), ...]
        self._held_outcomes: OrderedDict[str, list] = OrderedDict()
        self._bad_references: set[tuple[str, str]] = set()

    # --- model versions -----------------------------------------------------------------
    def _reference(self, model: str, version: str) -> ReferencePerformance | None:
        if self._profiles is None:
            return None
        profile = self._profiles.get(model, version)
        section = getattr(profile, "performance", None) if profile is not None else None
        if not section:
            return None
        try:
            return ReferencePerformance.from_section(section, f"profile {model}:{version}.performance")
        except ReferenceFormatError as exc:
            if (model, version) not in self._bad_references:
                self._bad_references.add((model, version))
                log.warning("accuracy: ignoring the reference performance section: %s", exc)
            return None

    def _state(self, model: str, version: str, n: int, rec: Records, now: float) -> ModelState | None:
        key = (model, version)
        reason = self.slots.admit(model, version, now)
        if reason is not None:
            if self._own_slots:  # else the drift engine's admission refused and counted it
                rec.overflow["model" if reason == REASON_UNKNOWN_MODEL else "version"] += n
            return None
        idx = self._by_key.get(key)
        if idx is not None:
            return self._states[idx]
        state = ModelState(len(self._states), model, version, self.settings,
                           self._reference(model, version), now)
        self._states.append(state)
        self._by_key[key] = state.index
        return state

    # --- ingest -------------------------------------------------------------------------
    def ingest(self, events: Sequence[Any]) -> None:
        if not self.settings.enabled or not events:
            return
        rec = Records()
        with self._lock:
            now = self._clock()
            for kind, run in groupby(events, key=type):
                if kind is InferenceBatch:
                    for batch in run:
                        self._add_batch(batch, now, rec)
                elif kind is GroundTruthEvent:
                    self._add_labels(list(run), now, rec)
                elif kind is OutcomeEvent:
                    self._add_outcomes(list(run), now, rec)
            evicted = self._new_evictions()
        self._record(rec)
        self._record_evictions(evicted)

    def _add_batch(self, b: InferenceBatch, now: float, rec: Records) -> None:
        n = b.n
        if n == 0 or not b.model:
            return
        st = self._state(b.model, b.version or "", n, rec, now)
        if st is None:
            return
        st.last_activity = now
        has_scores = b.confidences is not None or bool(b.probabilities)
        if st.task is None:
            st.task = infer_task(b.predictions, has_scores)
            if st.task is None:
                return
        if st.task == TASK_CLASSIFICATION:
            codes = class_codes(b.predictions, st.classes)
            self._folded(st, "class", st.classes.folded(codes), rec)
            y_pred = codes.astype(np.float64)
        else:
            y_pred = float_column(b.predictions)
        conf = np.full(n, np.nan, dtype=np.float64)
        if b.confidences is not None and len(b.confidences) == n:
            conf = float_column(b.confidences, np.float64)
            # not a top-class probability in [1/k, 1]: no estimate from it (the drift engine counts it)
            ref_classes = st.reference.classes if st.reference is not None else ()
            conf[outside_probability(conf, 1.0 / len(ref_classes) if len(ref_classes) >= 2 else 0.0)] = np.nan
        proba = None
        if st.task == TASK_CLASSIFICATION and b.probabilities:
            columns = [(st.classes.code(name), col) for key, col in b.probabilities.items()
                       if (name := canonical_class(key)) is not None and len(col) == n]
            proba = np.full((n, len(st.classes)), np.nan, dtype=np.float64)
            for code, col in columns:
                proba[:, code] = float_column(col, np.float64)
            st.widen(proba.shape[1])
            missing = np.isnan(conf) & ~np.isnan(proba).all(axis=1)
            if missing.any():
                conf[missing] = np.nanmax(proba[missing], axis=1)
        segment = np.full(n, -1, dtype=np.int32)
        if b.segments is not None and len(b.segments) == n:
            segment = text_codes(b.segments, st.segments)
            self._folded(st, "segment", st.segments.folded(segment), rec)
        t_pred = b.time_unix_nano / 1e9 if b.time_unix_nano else now
        window_row = {"t": np.full(n, now), "y_pred": y_pred, "conf": conf, "segment": segment}
        if proba is not None:
            window_row["proba"] = proba
        pseqs = st.predictions.append(n, window_row)
        ids = b.prediction_ids
        if not ids or len(ids) != n:
            return
        keep = valid_ids(ids)
        if not keep.all():
            ids = list(compress(ids, keep.tolist()))
        m = len(ids)
        if m == 0:
            return
        values = {"model": np.full(m, st.index, np.int32), "pseq": pseqs[keep],
                  "t_pred": np.full(m, t_pred), "t_arrival": np.full(m, now),
                  "y_pred": y_pred[keep], "conf": conf[keep], "segment": segment[keep]}
        if proba is not None and proba.shape[1] <= self.settings.limits.max_stored_classes:
            self._pending.widen_proba(proba.shape[1])
            values["proba"] = proba[keep]
        self._pending.register(ids, values)
        self.slots.pin(st.model, st.version)  # its slot stays while predictions wait for labels
        if self._held_labels:
            self._release_held_labels(ids, now, rec)
        if self._held_outcomes:
            self._release_held_outcomes(ids, now)

    def _folded(self, st: ModelState, kind: str, count: int, rec: Records) -> None:
        """Count values a class / segment cap folded, and note the full cap for the senders."""
        if not count:
            return
        rec.overflow[kind] += count
        key = f"accuracy.limits.max_{'classes' if kind == 'class' else 'segments'}"
        cap = st.classes.cap if kind == "class" else st.segments.cap
        self.slots.note(st.model, st.version, key,
                        f"{key} ({cap}) is full: new {kind} values count as '_overflow'")

    def _record(self, rec: Records) -> None:
        if self._received is not None:
            for (model, version, result), count in rec.results.items():
                self._received.add(count, {Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version,
                                           Attr.LABEL_RESULT: result})
        if self._lag is not None:
            lag = BulkHistogram(self._lag, LABEL_LAG_BUCKETS_S)  # a batch's lags in O(1) SDK calls, exact
            for lags, attrs in rec.lags:
                lag.record_many(lags, attrs)
        if self._overflow is not None:
            for kind, count in rec.overflow.items():
                if count:
                    self._overflow.add(count, {Attr.CARDINALITY_KIND: kind})

    # --- evaluate -----------------------------------------------------------------------
    def evaluate(self, now: float) -> list[Point]:
        """Points of every model version still serving. A version with no activity for
        ``window.stale_after_s`` (see ``ModelState.is_stale``) exports only ``ml.labels.pending``,
        and only while predictions of it still wait for labels; its state is kept untouched
        (trend blocks included) until new activity brings its gauges back."""
        if not self.settings.enabled:
            return []
        rec = Records()
        with self._eval_lock:
            with self._lock:
                self._expire(now, rec)
                self._release(now)
                evicted = self._new_evictions()
                pending = self._pending.pending_by_model(len(self._states))
                active: list[ModelState] = []
                stale: list[ModelState] = []
                for st in self._states:
                    if st is not None:
                        (stale if st.is_stale(now) else active).append(st)
                work = [self._capture(st, now) for st in active]
            self._record(rec)
            self._record_evictions(evicted)
            points: list[Point] = []
            for st in stale:
                if pending[st.index]:
                    points.append(Point(Metric.LABELS_PENDING, float(pending[st.index]), st.attrs))
            block_results = []
            for st, (view, windows, blocks) in zip(active, work):
                points.append(Point(Metric.LABELS_PENDING, float(pending[st.index]), st.attrs))
                for kind, realized, predictions, outcomes in windows:
                    points += self._cached(st, kind, view, realized)
                    points += ev.estimated(view, predictions, self.settings)
                    points += ev.coverage(view, predictions)
                    points += ev.outcome_means(view, outcomes)
                block_results.append([ev.block_values(view, cols, self.settings)
                                      for cols in blocks])
            with self._lock:
                for st, (view, _w, _b), results in zip(active, work, block_results):
                    maxlen = self.settings.trend.windows
                    for t, values in results:
                        for key, value in values.items():
                            hist = st.trend.get(key)
                            if hist is None:
                                hist = st.trend[key] = deque(maxlen=maxlen)
                            hist.append((t, value))
                    history = {k: list(v) for k, v in st.trend.items()}
                    points += ev.trend_points(view, history, now, self.settings)
        return points

    def _new_evictions(self) -> Counter:
        """Unlabelled predictions that left the pending store since the last call, by reason."""
        total = self._pending.evicted
        new = total - self._evicted_seen
        self._evicted_seen = total.copy()
        return new

    def _record_evictions(self, evicted: Counter) -> None:
        if self._evictions is not None:
            for reason, count in evicted.items():
                self._evictions.add(count, {Attr.REJECT_REASON: reason})

    def _release(self, now: float) -> None:
        """Unpin versions with no prediction left in the store, free idle slots, and drop the
        state (and stored predictions) of versions whose slot was released."""
        alive = self._pending.alive_by_model(len(self._states))
        for st in self._states:
            if st is not None and not alive[st.index]:
                self.slots.unpin(st.model, st.version)
        self.slots.release_idle(now)
        for key, idx in list(self._by_key.items()):
            if self.slots.holds(*key):
                continue
            evicted = self._pending.evict_model(idx)
            log.info("accuracy: model %r version %r released its slot; state dropped (%d stored "
                     "predictions leave: their late labels count as expired)", *key, evicted)
            del self._by_key[key]
            self._states[idx] = None
            for kind in (WindowKind.COUNT, WindowKind.TIME):
                self._cache.pop((idx, kind), None)

    def _expire(self, now: float, rec: Records) -> None:
        self._pending.expire(now)
        cutoff = now - self.settings.labels.grace_s
        while self._held_labels:
            key, entry = next(iter(self._held_labels.items()))
            if entry[4] >= cutoff:
                break
            self._held_labels.popitem(last=False)
            rec.result(entry[1], entry[2], LabelResult.UNKNOWN)
        while self._held_outcomes:
            key, entries = next(iter(self._held_outcomes.items()))
            if entries[0][4] >= cutoff:
                break
            self._held_outcomes.popitem(last=False)

    def _capture(self, st: ModelState, now: float):
        """Copies of one model version's windows, taken under the lock."""
        correctness, per_class = st.calibration()
        view = ev.ModelView(attrs=st.attrs, task=st.task, class_names=st.classes.names,
                            positive=st.positive(), segment_names=st.segments.names,
                            baseline=st.baseline, correctness=correctness,
                            class_calibration=per_class, outcome_names=st.outcome_names.names)
        w = self.settings.window
        windows = []
        if w.count is not None:
            windows.append((WindowKind.COUNT, _rows(st.realized, WindowKind.COUNT, w.count),
                            _rows(st.predictions, WindowKind.COUNT, w.count),
                            _rows(st.outcomes, WindowKind.COUNT, w.count)))
        if w.time_s is not None:
            cutoff = now - w.time_s
            windows.append((WindowKind.TIME, _rows(st.realized, WindowKind.TIME, None, cutoff),
                            _rows(st.predictions, WindowKind.TIME, None, cutoff),
                            _rows(st.outcomes, WindowKind.TIME, None, cutoff)))
        size = self.settings.trend_block
        done = st.realized.total // size
        blocks = []
        for b in range(st.trend_blocks, done):
            if b * size >= st.realized.first_seq:
                seqs = np.arange(b * size, (b + 1) * size)
                blocks.append({name: st.realized.get(name, seqs) for name in
                               ("t_pred", "y_true", "y_pred", "conf", "segment", "proba")})
        st.trend_blocks = done
        return view, windows, blocks

    def _cached(self, st: ModelState, kind: str, view: ev.ModelView, rows: ev.WindowRows
                ) -> list[Point]:
        """Realized points, recomputed only when the window's rows or the baseline changed."""
        key = (st.index, kind)
        signature = (rows.signature, id(view.baseline), tuple(view.class_names),
                     tuple(view.segment_names))
        hit = self._cache.get(key)
        if hit is not None and hit[0] == signature:
            return hit[1]
        points = ev.realized(view, rows, self.settings)
        self._cache[key] = (signature, points)
        return points

    # --- checkpoint ---------------------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            return {
                "format_version": SNAPSHOT_FORMAT,
                "pending": self._pending.to_dict(),
                "held_labels": [[k, *v] for k, v in self._held_labels.items()],
                "held_outcomes": [[k, [list(e) for e in v]] for k, v in self._held_outcomes.items()],
                "models": [st.to_dict() if st is not None else None for st in self._states],
            }

    def restore(self, state: dict) -> None:
        """Replace the tracker's state with a snapshot; a malformed one raises ValueError and
        leaves the current state untouched."""
        if not isinstance(state, dict) or state.get("format_version") != SNAPSHOT_FORMAT:
            raise ValueError(f"accuracy snapshot: unsupported format "
                             f"{state.get('format_version') if isinstance(state, dict) else state!r}")
        now = self._clock()
        with self._lock:
            saved = (self._pending, self._states, self._by_key, self._held_labels,
                     self._held_outcomes, self._bad_references)
            try:
                self._reset()
                for data in state["models"]:
                    if data is None:  # a released version keeps its index
                        self._states.append(None)
                        continue
                    st = ModelState(len(self._states), str(data["model"]), str(data["version"]),
                                    self.settings, self._reference(str(data["model"]),
                                                                   str(data["version"])),
                                    now)
                    st.restore(data)
                    self._states.append(st)
                    self._by_key[(st.model, st.version)] = st.index
                self._pending.restore(state["pending"])
                self._held_labels = OrderedDict(
                    (str(e[0]), tuple(e[1:6])) for e in state.get("held_labels", []))
                self._held_outcomes = OrderedDict(
                    (str(k), [tuple(x) for x in v]) for k, v in state.get("held_outcomes", []))
                self._cache.clear()
                alive = self._pending.alive_by_model(len(self._states))
                for st in self._states:
                    if st is not None:
                        self.slots.restore(st.model, st.version, st.last_activity)
                        if alive[st.index]:
                            self.slots.pin(st.model, st.version)
            except (KeyError, TypeError, ValueError, IndexError, ReferenceFormatError) as exc:
                (self._pending, self._states, self._by_key, self._held_labels,
                 self._held_outcomes, self._bad_references) = saved
                raise ValueError(f"accuracy snapshot: malformed: {exc!r}") from exc


def _rows(ring, kind: str, count: int | None, cutoff: float | None = None) -> ev.WindowRows:
    seqs, cols = ring.tail(count)
    if cutoff is not None and seqs.size:
        keep = cols["t"] >= cutoff
        seqs = seqs[keep]
        cols = {k: v[keep] for k, v in cols.items()}
    signature = (int(seqs[0]), int(seqs[-1])) if seqs.size else ()
    return ev.WindowRows(kind, cols, signature)
