"""The ``performance`` section of a reference profile: baseline metrics plus calibration for CBPE.

``performance_section`` is called by the reference builder when the data has a target column
(and by the tracker on its first labelled predictions when no reference exists). Section shape
(JSON-native)::

    {"format_version": 1, "task": "classification", "n": 1000,
     "classes": ["0", "1"], "positive_class": "1", "correct": 912,
     "metrics": {"accuracy": {"none": 0.912}, "f1": {"binary": 0.88, "macro": ..}, ..},
     "calibration": {"correctness": {"x": [..], "y": [..]} | null,
                     "classes": {"0": {"x": [..], "y": [..]}, ..} | null}}

    {"format_version": 1, "task": "regression", "n": 1000,
     "metrics": {"mae": {"none": 1.2}, "rmse": .., "r2": .., "mape": ..}}

``correctness`` maps a prediction's confidence to P(prediction is right); ``classes`` maps each
class's probability to P(that class is the truth), one-vs-rest. Both are isotonic fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from otel_ml.errors import UserError
from otel_ml.processor.accuracy.encoding import canonical_class, float_column
from otel_ml.processor.accuracy.settings import TASK_CLASSIFICATION, TASK_REGRESSION
from otel_ml.stats.estimation import IsotonicCalibrator
from otel_ml.stats.performance import (
    ACCURACY, AVG_NONE, Scores, classification_metrics, regression_metrics, roc_auc_binary,
    roc_auc_ovr,
)

__all__ = ["performance_section", "ReferencePerformance", "ReferenceFormatError",
           "default_positive", "class_order", "class_names", "FORMAT_VERSION"]

FORMAT_VERSION = 1


class ReferenceFormatError(UserError):
    """A performance section (or the data given to build one) is malformed."""


def default_positive(classes: Sequence[str]) -> str | None:
    """The positive class of a two-class model: "1", else "True", else the second class."""
    if len(classes) != 2:
        return None
    for candidate in ("1", "True"):
        if candidate in classes:
            return candidate
    return classes[1]


def class_order(values) -> list[str]:
    """Distinct canonical class names in the order of scikit-learn's ``classes_`` (numbers
    numerically first, then strings): the order of per-class probability columns."""
    seen = {c for c in class_names(values) if c is not None}
    return sorted(seen, key=lambda c: (0, float(c), c) if _numeric(c) else (1, 0.0, c))


def _json_scores(scores: Scores) -> dict:
    return {name: {avg: float(v) for avg, v in avgs.items() if np.isfinite(v)}
            for name, avgs in scores.items()}


def class_names(values) -> list[str | None]:
    """Canonical class name of each value (None where it is no usable label)."""
    return [canonical_class(v.item() if isinstance(v, np.generic) else v) for v in values]


def _fit(scores: np.ndarray, outcomes: np.ndarray) -> dict | None:
    keep = ~np.isnan(scores)
    if keep.sum() < 2:
        return None
    return IsotonicCalibrator.fit(scores[keep], outcomes[keep]).to_dict()


def performance_section(y_true, y_pred, confidences=None, probabilities=None, classes=None,
                        task: str = TASK_CLASSIFICATION, positive_class=None) -> dict:
    """Baseline metrics and calibration data of labelled reference predictions.

    ``probabilities``: a mapping class -> column, or an ``(n, K)`` array whose columns follow
    ``classes``. ``confidences`` default to the top probability when probabilities are given.
    """
    y_true = list(y_true)
    y_pred = list(y_pred)
    n = len(y_true)
    if n == 0 or len(y_pred) != n:
        raise ReferenceFormatError(
            f"performance section: y_true and y_pred need the same, non-zero length "
            f"(got {n} and {len(y_pred)})")
    if task == TASK_REGRESSION:
        t = float_column(y_true)
        p = float_column(y_pred)
        ok = ~(np.isnan(t) | np.isnan(p))
        if not ok.any():
            raise ReferenceFormatError("performance section: no numeric (target, prediction) pair")
        return {"format_version": FORMAT_VERSION, "task": TASK_REGRESSION, "n": int(ok.sum()),
                "metrics": _json_scores(regression_metrics(t[ok], p[ok]))}
    if task != TASK_CLASSIFICATION:
        raise ReferenceFormatError(f"performance section: unknown task {task!r}")

    true_names = class_names(y_true)
    pred_names = class_names(y_pred)
    if classes is None:
        seen = {c for c in true_names + pred_names if c is not None}
        if isinstance(probabilities, Mapping):
            seen |= {canonical_class(k) for k in probabilities}
        class_list = class_order(list(seen))
    else:
        class_list = [canonical_class(c) for c in classes]
        if None in class_list:
            raise ReferenceFormatError("performance section: a class name is empty or not a label")
    code = {c: i for i, c in enumerate(class_list)}
    t_codes = np.array([code.get(c, -1) if c is not None else -1 for c in true_names])
    p_codes = np.array([code.get(c, -1) if c is not None else -1 for c in pred_names])
    ok = (t_codes >= 0) & (p_codes >= 0)
    if not ok.any():
        raise ReferenceFormatError("performance section: no usable (target, prediction) pair")
    k = len(class_list)

    proba = None
    if probabilities is not None:
        proba = np.full((n, k), np.nan)
        if isinstance(probabilities, Mapping):
            for key, column in probabilities.items():
                idx = code.get(canonical_class(key))
                if idx is not None:
                    proba[:, idx] = float_column(list(column))
        else:
            arr = np.asarray(probabilities, dtype=float)
            if arr.shape != (n, k):
                raise ReferenceFormatError(
                    f"performance section: probabilities shape {arr.shape} does not match "
                    f"({n}, {k}) (rows x classes)")
            proba = arr.copy()
    conf = None
    if confidences is not None:
        conf = float_column(list(confidences))
        if conf.shape[0] != n:
            raise ReferenceFormatError("performance section: confidences length differs from y_true")
    elif proba is not None:
        with np.errstate(all="ignore"):
            conf = np.where(np.isnan(proba).all(axis=1), np.nan,
                            np.nanmax(np.where(np.isnan(proba), -np.inf, proba), axis=1))

    positive_name = (canonical_class(positive_class) if positive_class is not None
                     else default_positive(class_list))
    positive = code.get(positive_name) if positive_name is not None and k == 2 else None
    tc, pc = t_codes[ok], p_codes[ok]
    result = classification_metrics(tc, pc, k, positive=positive)
    scores = result.scores
    pos_scores = _positive_scores(positive, pc, None if proba is None else proba[ok],
                                  None if conf is None else conf[ok])
    if pos_scores is not None:
        finite = ~np.isnan(pos_scores)
        auc = roc_auc_binary(tc[finite] == positive, pos_scores[finite])
        if np.isfinite(auc):
            scores["roc_auc"] = {"binary": auc}
    elif proba is not None and k > 2 and not np.isnan(proba[ok]).any():
        aucs = {avg: roc_auc_ovr(tc, proba[ok], avg) for avg in ("macro", "weighted")}
        if all(np.isfinite(v) for v in aucs.values()):
            scores["roc_auc"] = aucs

    correct = (tc == pc).astype(float)
    calibration: dict[str, Any] = {"correctness": None, "classes": None}
    if conf is not None:
        calibration["correctness"] = _fit(conf[ok], correct)
    if proba is not None:
        per_class = {}
        for idx, name in enumerate(class_list):
            fitted = _fit(proba[ok, idx], (tc == idx).astype(float))
            if fitted is not None:
                per_class[name] = fitted
        calibration["classes"] = per_class or None
    return {"format_version": FORMAT_VERSION, "task": TASK_CLASSIFICATION, "n": int(ok.sum()),
            "classes": class_list, "positive_class": class_list[positive] if positive is not None
            else None, "correct": int(correct.sum()), "metrics": _json_scores(scores),
            "calibration": calibration}


def _numeric(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def _positive_scores(positive: int | None, pred_codes: np.ndarray, proba: np.ndarray | None,
                     conf: np.ndarray | None) -> np.ndarray | None:
    """P(positive) per item: the positive column, else derived from the confidence."""
    if positive is None:
        return None
    if proba is not None and not np.isnan(proba[:, positive]).all():
        return proba[:, positive]
    if conf is not None:
        return np.where(pred_codes == positive, conf, 1.0 - conf)
    return None


@dataclass(frozen=True)
class ReferencePerformance:
    """A parsed performance section: the baseline and the calibrators."""

    task: str
    n: int
    scores: Scores
    classes: tuple[str, ...] = ()
    positive_class: str | None = None
    correct: int | None = None
    correctness: IsotonicCalibrator | None = None
    class_calibration: Mapping[str, IsotonicCalibrator] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.scores.get(ACCURACY, {}).get(AVG_NONE)

    @classmethod
    def from_section(cls, section: Mapping[str, Any], where: str = "performance"
                     ) -> ReferencePerformance:
        if not isinstance(section, Mapping):
            raise ReferenceFormatError(f"{where}: expected an object")
        if section.get("format_version") != FORMAT_VERSION:
            raise ReferenceFormatError(
                f"{where}.format_version: expected {FORMAT_VERSION}, got "
                f"{section.get('format_version')!r}")
        task = section.get("task")
        if task not in (TASK_CLASSIFICATION, TASK_REGRESSION):
            raise ReferenceFormatError(f"{where}.task: expected classification or regression")
        n = section.get("n")
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ReferenceFormatError(f"{where}.n: expected a positive integer, got {n!r}")
        metrics = section.get("metrics")
        if not isinstance(metrics, Mapping):
            raise ReferenceFormatError(f"{where}.metrics: expected an object")
        scores: Scores = {}
        for name, avgs in metrics.items():
            if not isinstance(avgs, Mapping):
                raise ReferenceFormatError(f"{where}.metrics.{name}: expected an object")
            for avg, value in avgs.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ReferenceFormatError(f"{where}.metrics.{name}.{avg}: expected a number")
                scores.setdefault(str(name), {})[str(avg)] = float(value)
        if task == TASK_REGRESSION:
            return cls(task=task, n=n, scores=scores)
        classes = section.get("classes") or []
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ReferenceFormatError(f"{where}.classes: expected a list of class names")
        correct = section.get("correct")
        if correct is not None and (isinstance(correct, bool) or not isinstance(correct, int)
                                    or not 0 <= correct <= n):
            raise ReferenceFormatError(f"{where}.correct: expected an integer in [0, n]")
        cal = section.get("calibration") or {}
        try:
            correctness = (IsotonicCalibrator.from_dict(cal["correctness"])
                           if cal.get("correctness") else None)
            per_class = {str(k): IsotonicCalibrator.from_dict(v)
                         for k, v in (cal.get("classes") or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ReferenceFormatError(f"{where}.calibration: {exc}") from None
        positive = section.get("positive_class")
        return cls(task=task, n=n, scores=scores, classes=tuple(classes),
                   positive_class=str(positive) if positive is not None else None,
                   correct=correct, correctness=correctness, class_calibration=per_class)
