"""Everything the tracker keeps for one model version: task, vocabularies, windows, baseline.

Two window rings hold the last ``window.max_events`` rows: ``predictions`` (every prediction,
for label coverage and label-free estimation) and ``realized`` (every joined label with its
prediction, for realized metrics). ``outcomes`` holds joined business outcomes (I9).

``last_activity`` is the processor time of the version's last prediction, or last label or
outcome joined to one of its predictions; a version idle for ``window.stale_after_s`` is
skipped by the tracker's evaluate (it no longer serves), its state kept.
"""

from __future__ import annotations

import logging
import math
from collections import deque

import numpy as np

from otel_ml.processor.accuracy.reference import ReferencePerformance, default_positive
from otel_ml.processor.accuracy.ring import ColumnRing
from otel_ml.processor.accuracy.settings import (
    TASK_CLASSIFICATION, TASK_REGRESSION, AccuracySettings,
)
from otel_ml.processor.accuracy.vocab import CappedVocabulary
from otel_ml.semconv import Attr
from otel_ml.stats.estimation import IsotonicCalibrator

__all__ = ["ModelState", "infer_task"]

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = {"t": ("f8", None), "labelled": ("?", None), "y_pred": ("f8", None),
                      "conf": ("f8", None), "segment": ("i4", None), "proba": ("f8", 0)}
REALIZED_COLUMNS = {"t": ("f8", None), "t_pred": ("f8", None), "y_true": ("f8", None),
                    "y_pred": ("f8", None), "conf": ("f8", None), "segment": ("i4", None),
                    "proba": ("f8", 0)}
OUTCOME_COLUMNS = {"t": ("f8", None), "name": ("i4", None), "value": ("f8", None)}


def infer_task(predictions: list, has_scores: bool) -> str | None:
    """classification for strings, booleans, integers or scored batches; regression for floats."""
    if has_scores:
        return TASK_CLASSIFICATION
    try:
        kind = np.asarray(predictions).dtype.kind
    except (ValueError, TypeError):
        kind = "O"
    if kind in "biuU":
        return TASK_CLASSIFICATION
    if kind == "f":
        return TASK_REGRESSION
    for value in predictions:
        if value is None:
            continue
        if isinstance(value, float):
            return TASK_REGRESSION
        return TASK_CLASSIFICATION
    return None


class ModelState:
    def __init__(self, index: int, model: str, version: str, settings: AccuracySettings,
                 reference: ReferencePerformance | None, now: float):
        self.index = index
        self.model = model
        self.version = version
        self.attrs = {Attr.MODEL_NAME: model, Attr.MODEL_VERSION: version}
        self.settings = settings
        limits = settings.limits
        configured = settings.model(model)
        self.reference = reference
        self.task = configured.task or (reference.task if reference else None)
        self.positive_name = configured.positive_class or (
            reference.positive_class if reference else None)
        self.classes = CappedVocabulary(limits.max_classes,
                                        list(reference.classes) if reference else [])
        self.segments = CappedVocabulary(limits.max_segments)
        self.outcome_names = CappedVocabulary(limits.max_outcome_names)
        cap = settings.window.max_events
        self.predictions = ColumnRing(cap, PREDICTION_COLUMNS)
        self.realized = ColumnRing(cap, REALIZED_COLUMNS)
        self.outcomes = ColumnRing(cap, OUTCOME_COLUMNS)
        self.learned: ReferencePerformance | None = None
        self.learned_section: dict | None = None  # performance section of the first labels
        self.learning_failed = False
        self.trend: dict[tuple[str, str], deque] = {}
        self.trend_blocks = 0  # trend blocks already turned into history points
        self.last_activity = now  # last prediction, or label / outcome joined (processor time)

    def is_stale(self, now: float) -> bool:
        """No activity for longer than ``window.stale_after_s``: the version no longer serves."""
        return now - self.last_activity > self.settings.window.stale_after_s

    # --- classes ------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def positive(self) -> int | None:
        """Code of the positive class when the model has exactly two classes."""
        names = self.classes.names
        if len(names) != 2:
            return None
        name = self.positive_name or default_positive(names)
        return self.classes.find(name) if name is not None else None

    def widen(self, width: int) -> None:
        for ring in (self.predictions, self.realized):
            ring.widen("proba", width)

    # --- baseline and calibration -------------------------------------------------------
    @property
    def baseline(self) -> ReferencePerformance | None:
        source = self.settings.baseline.source
        if source == "reference":
            return self.reference
        if source == "first_labels":
            return self.learned
        return self.reference or self.learned

    def calibration(self) -> tuple[IsotonicCalibrator | None, list[IsotonicCalibrator | None]]:
        """(correctness calibrator, per-class calibrators by code) for estimation."""
        if self.settings.estimation.calibration == "none":
            return None, [None] * self.n_classes
        base = self.reference if self.reference is not None and (
            self.reference.correctness or self.reference.class_calibration) else self.learned
        if base is None:
            return None, [None] * self.n_classes
        per_class = [base.class_calibration.get(name) for name in self.classes.names]
        return base.correctness, per_class

    def needs_learning(self) -> bool:
        source = self.settings.baseline.source
        if self.learned is not None or self.learning_failed or source == "reference":
            return False
        if source == "auto" and self.reference is not None:
            # a reference without calibration still lets the first labels fit one
            return not (self.reference.correctness or self.reference.class_calibration)
        return True

    # --- checkpoint ---------------------------------------------------------------------
    def learn(self, section: dict) -> None:
        """Adopt the performance section built from the first joined labels."""
        self.learned_section = section
        self.learned = ReferencePerformance.from_section(section, "learned baseline")
        log.info("accuracy: %s %s: baseline learned from its first %d labels",
                 self.model, self.version, self.learned.n)

    def to_dict(self) -> dict:
        return {
            "model": self.model, "version": self.version, "task": self.task,
            "positive_name": self.positive_name,
            "classes": self.classes.to_list(), "segments": self.segments.to_list(),
            "outcome_names": self.outcome_names.to_list(),
            "predictions": self.predictions.to_dict(), "realized": self.realized.to_dict(),
            "outcomes": self.outcomes.to_dict(),
            "learned": self.learned_section,
            "trend": [[m, a, [list(p) for p in pts]] for (m, a), pts in self.trend.items()],
            "trend_blocks": self.trend_blocks,
            "last_activity": self.last_activity,
        }

    def restore(self, data: dict) -> None:
        """Load a ``to_dict`` result; a snapshot without ``last_activity`` (older format)
        keeps the time given at construction (the restore time)."""
        limits = self.settings.limits
        self.task = data.get("task") if data.get("task") in (
            TASK_CLASSIFICATION, TASK_REGRESSION) else self.task
        self.positive_name = data.get("positive_name") or self.positive_name
        self.classes = CappedVocabulary.from_list(limits.max_classes, data["classes"])
        self.segments = CappedVocabulary.from_list(limits.max_segments, data["segments"])
        self.outcome_names = CappedVocabulary.from_list(limits.max_outcome_names,
                                                        data["outcome_names"])
        self.predictions.restore(data["predictions"])
        self.realized.restore(data["realized"])
        self.outcomes.restore(data["outcomes"])
        if data.get("learned"):
            self.learned_section = data["learned"]
            self.learned = ReferencePerformance.from_section(data["learned"], "learned baseline")
        maxlen = self.settings.trend.windows
        self.trend = {(m, a): deque((tuple(p) for p in pts), maxlen=maxlen)
                      for m, a, pts in data.get("trend", [])}
        self.trend_blocks = int(data.get("trend_blocks", 0))
        last = data.get("last_activity")
        if last is not None:
            last = float(last)
            if not math.isfinite(last):
                raise ValueError(f"last_activity must be a finite time, got {last!r}")
            self.last_activity = last
