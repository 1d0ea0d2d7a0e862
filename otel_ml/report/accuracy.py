"""Accuracy in a report: the reference baseline, realized metrics on the current labels, and the
label-free estimate (CBPE), computed by the accuracy tracker's own evaluation functions.

The current data is handed to ``accuracy.evaluation.realized`` / ``estimated`` as one count
window with default ``AccuracySettings``, so the figures are the ones the processor would export
for those rows (metric names and averages as in ``ml.performance``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from otel_ml.errors import UserError
from otel_ml.processor.accuracy import evaluation as ev
from otel_ml.processor.accuracy.encoding import canonical_class, float_column
from otel_ml.processor.accuracy.reference import ReferencePerformance, default_positive, performance_section
from otel_ml.processor.accuracy.settings import TASK_CLASSIFICATION, TASK_REGRESSION, AccuracySettings
from otel_ml.processor.profile import CATEGORICAL
from otel_ml.processor.profile_build import infer_kind
from otel_ml.semconv import SEGMENT_ALL, Attr, Metric, WindowKind

__all__ = ["Roles", "performance_report", "probability_classes", "classes_of"]


@dataclass(frozen=True)
class Roles:
    """Which columns hold the label, the predicted class or value, and class probabilities."""

    target: str | None = None
    prediction: str | None = None
    probabilities: Mapping[str, str] | None = None  # class name -> column
    confidence: str | None = None

    def columns(self) -> list[str]:
        cols = [c for c in (self.target, self.prediction, self.confidence) if c]
        return cols + list((self.probabilities or {}).values())


def probability_classes(columns: Sequence[str], known: set[str] = frozenset()) -> dict[str, str]:
    """Class name of each probability column, from its name: ``class=column`` spells it out;
    else a column named after a ``known`` class, or ending in one (``p0`` -> "0", ``proba_setosa``
    -> "setosa"); else the names less their shared prefix up to a separator (``proba_a`` -> "a");
    else the column name itself."""
    cols = list(columns)
    if all("=" in c for c in cols):
        pairs = [c.split("=", 1) for c in cols]
        return {canonical_class(k.strip()) or k.strip(): v.strip() for k, v in pairs}
    by_suffix = {}
    for c in cols:
        hits = [k for k in known if c == k or c.endswith(k)]
        if hits:
            by_suffix[max(hits, key=len)] = c
    if len(by_suffix) == len(cols):
        return by_suffix
    if len(cols) > 1:
        prefix = os.path.commonprefix(cols)
        cut = max(prefix.rfind(sep) for sep in "_:.-/ ") + 1
        if cut > 0 and all(len(c) > cut for c in cols):
            names = [c[cut:] for c in cols]
            if len(set(names)) == len(names):
                return {canonical_class(n) or n: c for n, c in zip(names, cols)}
    return {canonical_class(c) or c: c for c in cols}


def _proba_matrix(columns: Mapping[str, np.ndarray], roles: Roles, classes: list[str], n: int) -> np.ndarray | None:
    if not roles.probabilities:
        return None
    code = {c: i for i, c in enumerate(classes)}
    out = np.full((n, len(classes)), np.nan)
    for cls, col in roles.probabilities.items():
        out[:, code[cls]] = float_column(columns[col])
    return out


def _codes(values: Sequence[Any], code: dict[str, int]) -> np.ndarray:
    uniq, inv = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    # canonical per distinct value; str() first so that None / NaN become unusable labels
    table = np.array([code.get(canonical_class(_unstr(u)), -1) for u in uniq.tolist()], dtype=np.int64)
    return table[inv.reshape(-1)]


def _unstr(text: str) -> Any:
    return None if text in ("None", "nan", "") else text


def classes_of(values: Sequence[Any]) -> set[str]:
    uniq = np.unique(np.asarray(values, dtype=object).astype(str))
    return {c for c in (canonical_class(_unstr(u)) for u in uniq.tolist()) if c is not None}


def performance_report(reference: Mapping[str, np.ndarray] | None, section: Mapping | None,
                       current: Mapping[str, np.ndarray], roles: Roles) -> dict | None:
    """Baseline, realized and estimated metrics; None when the current data has no predictions."""
    if not (roles.prediction or roles.probabilities):
        return None
    if section is None and reference is not None and roles.target and roles.target in reference:
        section = _reference_section(reference, roles)
    try:
        baseline = ReferencePerformance.from_section(section, "reference performance") if section else None
    except UserError as exc:
        raise UserError(f"reference profile: {exc}") from None
    n = len(next(iter(current.values())))
    pred = current[roles.prediction] if roles.prediction else None
    if baseline is not None:
        task = baseline.task
    elif roles.probabilities or (pred is not None and infer_kind(pred, prediction=True) == CATEGORICAL):
        task = TASK_CLASSIFICATION
    else:
        task = TASK_REGRESSION
    has_labels = bool(roles.target and roles.target in current)
    if task == TASK_REGRESSION:
        cols = {"y_pred": float_column(pred),
                "y_true": float_column(current[roles.target]) if has_labels else np.full(n, np.nan)}
        classes: list[str] = []
        positive = None
    else:
        classes = list(baseline.classes) if baseline is not None else []
        seen = set(classes)
        new: set[str] = set(roles.probabilities or {})
        for col in (roles.target if has_labels else None, roles.prediction):
            if col:
                new |= classes_of(current[col])
        classes += sorted(new - seen, key=lambda c: (0, float(c), c) if _is_number(c) else (1, 0.0, c))
        code = {c: i for i, c in enumerate(classes)}
        positive_name = baseline.positive_class if baseline is not None else None
        positive_name = positive_name or default_positive(classes)
        positive = code.get(positive_name) if positive_name is not None and len(classes) == 2 else None
        proba = _proba_matrix(current, roles, classes, n)
        if pred is not None:
            y_pred = _codes(pred, code)
        else:
            y_pred = np.where(np.isnan(proba).all(axis=1), -1, np.argmax(np.nan_to_num(proba, nan=-1.0), axis=1))
        conf = float_column(current[roles.confidence]) if roles.confidence else np.full(n, np.nan)
        if proba is not None and not roles.confidence:
            with np.errstate(all="ignore"):
                conf = np.where(np.isnan(proba).all(axis=1), np.nan, np.nanmax(np.nan_to_num(proba, nan=-np.inf), axis=1))
        cols = {"y_pred": y_pred, "conf": conf,
                "y_true": _codes(current[roles.target], code) if has_labels else np.full(n, -1)}
        if proba is not None:
            cols["proba"] = proba
    cols.setdefault("conf", np.full(n, np.nan))
    cols.update(segment=np.full(n, -1), t_pred=np.zeros(n))
    per_class = [baseline.class_calibration.get(c) for c in classes] if baseline is not None else []
    view = ev.ModelView(attrs={}, task=task, class_names=classes, positive=positive, segment_names=[],
                        baseline=baseline, correctness=baseline.correctness if baseline else None,
                        class_calibration=per_class)
    rows = ev.WindowRows(WindowKind.COUNT, cols)
    settings = AccuracySettings()
    points = ev.realized(view, rows, settings)  # without labels: the baseline only
    points += ev.estimated(view, rows, settings)
    labelled = int(np.count_nonzero(cols["y_true"] >= 0) if task == TASK_CLASSIFICATION
                   else np.count_nonzero(~np.isnan(cols["y_true"])))
    out = _parse(points)
    return {"task": task, "classes": classes or None,
            "positive_class": classes[positive] if positive is not None else None,
            "n_reference": baseline.n if baseline is not None else None,
            "n_current": n, "n_current_labelled": labelled if has_labels else 0,
            "min_labels": settings.window.min_labels, "min_predictions": settings.window.min_predictions,
            **out}


def _is_number(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def _reference_section(reference: Mapping[str, np.ndarray], roles: Roles) -> dict | None:
    """The performance section ``reference build`` would store for the reference data."""
    y_true = reference[roles.target]
    pred_col = roles.prediction if roles.prediction and roles.prediction in reference else None
    probs = {cls: reference[col] for cls, col in (roles.probabilities or {}).items() if col in reference}
    if pred_col is None and not probs:
        return None
    task = TASK_CLASSIFICATION if probs else None
    if task is None:
        task = TASK_CLASSIFICATION if infer_kind(reference[pred_col], prediction=True) == CATEGORICAL else TASK_REGRESSION
    if pred_col is not None:
        y_pred = list(reference[pred_col])
    else:
        names = list(probs)
        mat = np.column_stack([float_column(probs[c]) for c in names])
        y_pred = [names[i] for i in np.argmax(np.nan_to_num(mat, nan=-1.0), axis=1)]
    conf = reference[roles.confidence] if roles.confidence and roles.confidence in reference else None
    try:
        return performance_section(list(y_true), y_pred, confidences=conf if task == TASK_CLASSIFICATION else None,
                                   probabilities=probs or None, task=task)
    except UserError as exc:
        raise UserError(f"reference data: target {roles.target!r}: {exc}") from None


def _parse(points: list) -> dict:
    """The tracker's gauge points (all segments) back into nested metric -> average -> value."""
    groups = {Metric.PERFORMANCE_BASELINE.name: "reference", Metric.PERFORMANCE.name: "current",
              Metric.PERFORMANCE_ESTIMATED.name: "estimated"}
    decay_fields = {Metric.PERFORMANCE_DECAY.name: "drop", Metric.PERFORMANCE_DECAY_P_VALUE.name: "p_value",
                    Metric.PERFORMANCE_DECAY_SIGNIFICANT.name: "significant"}
    out: dict[str, Any] = {"reference": {}, "current": {}, "estimated": {}, "decay": {}}
    for p in points:
        attrs, name = p.attributes, p.spec.name
        if attrs.get(Attr.SEGMENT) != SEGMENT_ALL or Attr.METRIC_NAME not in attrs:
            continue  # per-segment values, confusion counts
        metric, avg = attrs[Attr.METRIC_NAME], attrs[Attr.METRIC_AVERAGE]
        if name in groups:
            out[groups[name]].setdefault(metric, {})[avg] = float(p.value)
        elif name in decay_fields:
            entry = out["decay"].setdefault(metric, {"average": avg})
            value = bool(p.value) if decay_fields[name] == "significant" else float(p.value)
            entry[decay_fields[name]] = value
    return out
