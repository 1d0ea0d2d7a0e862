"""Joining labels and outcomes to pending predictions by id (the accuracy tracker's join half):
results counted per label, labels and outcomes ahead of their prediction held for a while, and
the baseline learned from the first joined labels."""

from __future__ import annotations

import logging
import math
from collections import Counter
from itertools import compress

import numpy as np

from otel_ml.processor.accuracy.encoding import class_codes, float_column, valid_ids, valid_labels
from otel_ml.processor.accuracy.model_state import ModelState
from otel_ml.processor.accuracy.pending import (
    ABSENT, EXPIRED, FOUND, LABELLED, TOMB_EXPIRED, TOMB_LABELLED,
)
from otel_ml.processor.accuracy.reference import ReferenceFormatError, performance_section
from otel_ml.processor.accuracy.settings import TASK_CLASSIFICATION, TASK_REGRESSION
from otel_ml.processor.contracts import GroundTruthEvent, OutcomeEvent
from otel_ml.semconv import LabelResult

__all__ = ["LabelJoin", "Records"]

log = logging.getLogger("otel_ml.processor.accuracy.tracker")

#: Outcomes held for one not-yet-seen prediction id (the rest are dropped).
_MAX_OUTCOMES_PER_ID = 16
_PENDING_COLUMNS = ("model", "pseq", "t_pred", "y_pred", "conf", "segment", "proba")


class Records:
    """Counter increments and lag values gathered under the lock, recorded after it."""

    def __init__(self):
        self.results: Counter = Counter()  # (model, version, result) -> count
        self.lags: list[tuple[np.ndarray, dict]] = []
        self.overflow: Counter = Counter()  # cardinality kind -> count

    def result(self, model: str | None, version: str | None, result: str, n: int = 1):
        if n:
            self.results[(model or "", version or "", result)] += n


class LabelJoin:
    """The join methods of ``AccuracyTracker`` (which holds the pending store, the model states,
    the held labels and outcomes, and the settings); called under the tracker's lock."""

    def _release_held_labels(self, ids: list[str], now: float, rec: Records) -> None:
        hits = self._held_labels.keys() & set(ids)
        if not hits:
            return
        held = [(i, self._held_labels.pop(i)) for i in hits]
        self._join([h[0] for h in held], [h[1][0] for h in held], [h[1][3] for h in held],
                   [(h[1][1], h[1][2]) for h in held], now, rec, may_hold=False)

    def _release_held_outcomes(self, ids: list[str], now: float) -> None:
        hits = self._held_outcomes.keys() & set(ids)
        for i in hits:
            for name, value, _model, _version, _t in self._held_outcomes.pop(i):
                self._join_outcomes([i], [name], [value], now, may_hold=False)

    def _add_labels(self, events: list[GroundTruthEvent], now: float, rec: Records) -> None:
        ids = [e.prediction_id for e in events]
        values = [e.label for e in events]
        ok = valid_ids(ids) & valid_labels(values)
        if not ok.all():
            for e in compress(events, (~ok).tolist()):
                rec.result(e.model, e.version, LabelResult.INVALID)
            keep = ok.tolist()
            events = list(compress(events, keep))
            ids = list(compress(ids, keep))
            values = list(compress(values, keep))
        if not events:
            return
        self._join(ids, values,
                   [e.time_unix_nano / 1e9 if e.time_unix_nano else now for e in events],
                   [(e.model, e.version) for e in events], now, rec, may_hold=True)

    def _join(self, ids: list[str], labels: list, t_labels: list[float],
              hints: list[tuple[str | None, str | None]], now: float, rec: Records,
              may_hold: bool) -> None:
        """Join labels to pending predictions; count every label by its result."""
        look = self._pending.lookup(ids, now)
        status = look.status
        found = np.flatnonzero(status == FOUND)
        if found.size:
            # the same prediction labelled twice in one batch: the first label counts
            _, first = np.unique(look.seqs[found], return_index=True)
            later = np.setdiff1d(np.arange(found.size), first)
            status[found[later]] = LABELLED
            found = np.sort(found[first])
        for code, result in ((LABELLED, LabelResult.DUPLICATE),
                             (TOMB_LABELLED, LabelResult.DUPLICATE),
                             (EXPIRED, LabelResult.EXPIRED), (TOMB_EXPIRED, LabelResult.EXPIRED)):
            for i in np.flatnonzero(status == code).tolist():
                rec.result(*self._attrs_of(look.seqs[i], hints[i]), result)
        absent = np.flatnonzero(status == ABSENT).tolist()
        if absent:
            self._hold(absent, ids, labels, t_labels, hints, now, rec, may_hold)
        if found.size == 0:
            return
        rows = self._pending.rows(look.seqs[found], _PENDING_COLUMNS)
        for m in np.unique(rows["model"]).tolist():
            sel = np.flatnonzero(rows["model"] == m)
            self._join_model(self._states[m], found[sel], look.seqs[found[sel]],
                             {k: v[sel] for k, v in rows.items()}, labels, t_labels, now, rec)

    def _attrs_of(self, seq: int, hint: tuple) -> tuple[str | None, str | None]:
        if seq >= 0 and self._pending.ring.held([seq])[0]:
            st = self._states[int(self._pending.ring.get("model", [seq])[0])]
            if st is not None:
                return st.model, st.version
        return hint

    def _hold(self, absent, ids, labels, t_labels, hints, now, rec, may_hold) -> None:
        cap = self.settings.labels.max_held
        for i in absent:
            model, version = hints[i]
            if not may_hold or cap == 0:
                rec.result(model, version, LabelResult.UNKNOWN)
                continue
            if ids[i] in self._held_labels:
                rec.result(model, version, LabelResult.DUPLICATE)
                continue
            self._held_labels[ids[i]] = (labels[i], model, version, t_labels[i], now)
            rec.result(model, version, LabelResult.HELD)
        while len(self._held_labels) > cap:
            _, (_label, model, version, _t, _a) = self._held_labels.popitem(last=False)
            rec.result(model, version, LabelResult.UNKNOWN)

    def _join_model(self, st: ModelState, idx: np.ndarray, seqs: np.ndarray, rows: dict,
                    labels: list, t_labels: list, now: float, rec: Records) -> None:
        lab = [labels[i] for i in idx.tolist()]
        if st.task == TASK_CLASSIFICATION:
            codes = class_codes(lab, st.classes)
            self._folded(st, "class", st.classes.folded(codes), rec)
            y_true = codes.astype(np.float64)
            good = y_true >= 0
        else:
            y_true = float_column(lab)
            good = ~np.isnan(y_true)
        bad = int((~good).sum())
        rec.result(st.model, st.version, LabelResult.INVALID, bad)
        if not good.any():
            return
        if bad:
            idx, seqs, y_true = idx[good], seqs[good], y_true[good]
            rows = {k: v[good] for k, v in rows.items()}
        self._pending.mark_labelled(seqs)
        st.last_activity = now
        st.predictions.set("labelled", rows["pseq"], True)
        n = int(good.sum())
        realized = {"t": np.full(n, now), "t_pred": rows["t_pred"], "y_true": y_true,
                    "y_pred": rows["y_pred"], "conf": rows["conf"], "segment": rows["segment"]}
        if rows["proba"].ndim == 2 and rows["proba"].shape[1]:
            width = min(rows["proba"].shape[1], len(st.classes))
            st.widen(width)
            realized["proba"] = rows["proba"][:, :width]
        st.realized.append(n, realized)
        t_lab = np.asarray([t_labels[i] for i in idx.tolist()], dtype=float)
        rec.lags.append((np.maximum(t_lab - rows["t_pred"], 0.0), st.attrs))
        rec.result(st.model, st.version, LabelResult.JOINED, n)
        if st.needs_learning() and st.realized.total >= self.settings.baseline.labels:
            self._learn(st)

    def _learn(self, st: ModelState) -> None:
        """Baseline and calibration from the first ``baseline.labels`` joined labels."""
        size = self.settings.baseline.labels
        start = st.realized.first_seq
        seqs = np.arange(start, start + size)
        cols = {name: st.realized.get(name, seqs) for name in ("y_true", "y_pred", "conf")}
        try:
            if st.task == TASK_REGRESSION:
                section = performance_section(cols["y_true"], cols["y_pred"], task=TASK_REGRESSION)
            else:
                names = np.asarray(st.classes.names, dtype=object)
                k = len(names)
                proba = st.realized.get("proba", seqs) if st.realized.width("proba") else None
                probabilities = None
                if proba is not None and not np.isnan(proba).all():
                    probabilities = {names[c]: proba[:, c].astype(float)
                                     for c in range(min(k, proba.shape[1]))}
                conf = cols["conf"].astype(float)
                section = performance_section(
                    names[cols["y_true"].astype(int)], names[cols["y_pred"].astype(int)],
                    confidences=None if np.isnan(conf).all() else conf,
                    probabilities=probabilities, classes=list(names),
                    positive_class=st.positive_name)
            st.learn(section)
        except ReferenceFormatError as exc:
            log.warning("accuracy: %s %s: cannot learn a baseline: %s", st.model, st.version, exc)
            st.learning_failed = True

    def _add_outcomes(self, events: list[OutcomeEvent], now: float, rec: Records) -> None:
        good = [e for e in events if isinstance(e.prediction_id, str) and e.prediction_id
                and isinstance(e.name, str) and e.name and _finite(e.value)]
        if good:
            self._join_outcomes([e.prediction_id for e in good], [e.name for e in good],
                                [float(e.value) for e in good], now, may_hold=True,
                                hints=[(e.model, e.version) for e in good])

    def _join_outcomes(self, ids, names, values, now, may_hold, hints=None) -> None:
        look = self._pending.lookup(ids, now)
        in_store = np.flatnonzero((look.status == FOUND) | (look.status == LABELLED))
        if in_store.size:
            models = self._pending.rows(look.seqs[in_store], ("model",))["model"]
            for m in np.unique(models).tolist():
                st = self._states[m]
                st.last_activity = now
                sel = in_store[models == m].tolist()
                codes = np.array([st.outcome_names.code(names[i]) for i in sel], dtype=np.int32)
                st.outcomes.append(len(sel), {"t": np.full(len(sel), now), "name": codes,
                                              "value": np.array([values[i] for i in sel])})
        if not may_hold:
            return
        cap = self.settings.labels.max_held
        for i in np.flatnonzero(look.status == ABSENT).tolist():
            model, version = hints[i] if hints else (None, None)
            waiting = self._held_outcomes.setdefault(ids[i], [])
            if len(waiting) < _MAX_OUTCOMES_PER_ID:
                waiting.append((names[i], values[i], model, version, now))
        while len(self._held_outcomes) > cap:
            self._held_outcomes.popitem(last=False)


def _finite(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
