"""Turn copied window rows of one model version into gauge Points (no locks, no state).

Realized metrics per window and segment, confusion counts, label-free estimates (CBPE),
baseline, decay and its significance, label coverage, outcome means, and the trend of
consecutive label blocks with its time-to-threshold forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from otel_ml.processor.accuracy.reference import ReferencePerformance
from otel_ml.processor.accuracy.settings import (
    TASK_CLASSIFICATION, TASK_REGRESSION, AccuracySettings, DecayThreshold,
)
from otel_ml.processor.contracts import Point
from otel_ml.semconv import SEGMENT_ALL, Attr, Metric, WindowKind
from otel_ml.stats import decay as dstats
from otel_ml.stats import estimation as est
from otel_ml.stats import performance as perf
from otel_ml.stats.performance import (
    ACCURACY, AVG_BINARY, AVG_MACRO, AVG_NONE, AVG_WEIGHTED, F1, HIGHER_IS_BETTER, PRECISION,
    RECALL, ROC_AUC, Scores,
)

__all__ = ["WindowRows", "ModelView", "realized", "estimated", "coverage", "outcome_means",
           "block_values", "trend_points", "tested_metrics"]


@dataclass
class WindowRows:
    """Copies of one window's rows (oldest first) and a signature of what they cover."""

    kind: str  # WindowKind.COUNT | WindowKind.TIME
    cols: dict[str, np.ndarray]
    signature: tuple = ()

    @property
    def n(self) -> int:
        return len(next(iter(self.cols.values()))) if self.cols else 0


@dataclass
class ModelView:
    """What evaluation needs of a model version, captured under the tracker's lock."""

    attrs: Mapping[str, str]
    task: str | None
    class_names: list[str]
    positive: int | None
    segment_names: list[str]
    baseline: ReferencePerformance | None
    correctness: est.IsotonicCalibrator | None
    class_calibration: list
    outcome_names: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.class_names)


def _perf_attrs(view: ModelView, metric: str, avg: str, segment: str, window: str) -> dict:
    return {**view.attrs, Attr.METRIC_NAME: metric, Attr.METRIC_AVERAGE: avg,
            Attr.SEGMENT: segment, Attr.WINDOW: window}


def _points(spec, view, scores: Scores, segment: str, window: str) -> list[Point]:
    return [Point(spec, float(v), _perf_attrs(view, name, avg, segment, window))
            for name, avgs in scores.items() for avg, v in avgs.items() if np.isfinite(v)]


def _proba(cols: dict, k: int) -> np.ndarray | None:
    p = cols.get("proba")
    if p is None or p.ndim != 2 or p.shape[1] == 0:
        return None
    if p.shape[1] < k:
        p = np.concatenate([p, np.full((p.shape[0], k - p.shape[1]), np.nan, p.dtype)], axis=1)
    return p[:, :k].astype(float)


def _positive_scores(view: ModelView, y_pred, conf, proba) -> np.ndarray | None:
    pos = view.positive
    if pos is None:
        return None
    derived = np.where(y_pred == pos, conf, 1.0 - conf).astype(float)
    if proba is None:
        return derived
    col = proba[:, pos]
    return np.where(np.isnan(col), derived, col)


# --- realized ----------------------------------------------------------------------------

@dataclass
class _Labelled:
    """The usable rows of a realized window (or a subset of it)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    conf: np.ndarray
    proba: np.ndarray | None
    segment: np.ndarray
    t_pred: np.ndarray

    def subset(self, mask: np.ndarray) -> _Labelled:
        return _Labelled(self.y_true[mask], self.y_pred[mask], self.conf[mask],
                         None if self.proba is None else self.proba[mask], self.segment[mask],
                         self.t_pred[mask])

    @property
    def n(self) -> int:
        return self.y_true.size


def _labelled(view: ModelView, cols: dict) -> _Labelled:
    y_true, y_pred = cols["y_true"], cols["y_pred"]
    if view.task == TASK_CLASSIFICATION:
        ok = (y_true >= 0) & (y_pred >= 0)
        y_true, y_pred = y_true.astype(np.int64), y_pred.astype(np.int64)
    else:
        ok = ~(np.isnan(y_true) | np.isnan(y_pred))
    rows = _Labelled(y_true, y_pred, cols["conf"].astype(float), _proba(cols, view.k),
                     cols["segment"], cols.get("t_pred", np.zeros(y_true.shape)))
    return rows.subset(ok)


def _scores(view: ModelView, d: _Labelled) -> tuple[Scores, np.ndarray | None]:
    if view.task == TASK_REGRESSION:
        return perf.regression_metrics(d.y_true, d.y_pred), None
    res = perf.classification_metrics(d.y_true, d.y_pred, view.k, positive=view.positive)
    scores = res.scores
    pos_scores = _positive_scores(view, d.y_pred, d.conf, d.proba)
    if pos_scores is not None:
        fin = ~np.isnan(pos_scores)
        auc = perf.roc_auc_binary(d.y_true[fin] == view.positive, pos_scores[fin])
        if np.isfinite(auc):
            scores[ROC_AUC] = {AVG_BINARY: auc}
    elif d.proba is not None and view.k > 2:
        fin = ~np.isnan(d.proba).any(axis=1)
        if fin.any():
            aucs = {avg: perf.roc_auc_ovr(d.y_true[fin], d.proba[fin], avg)
                    for avg in (AVG_MACRO, AVG_WEIGHTED)}
            if all(np.isfinite(v) for v in aucs.values()):
                scores[ROC_AUC] = aucs
    return scores, res.confusion


def _confusion_points(view, confusion, segment, window, max_classes) -> list[Point]:
    if confusion is None or view.k > max_classes:
        return []
    names = view.class_names
    return [Point(Metric.CONFUSION, float(confusion[a, p]),
                  {**view.attrs, Attr.LABEL_ACTUAL: names[a], Attr.LABEL_PREDICTED: names[p],
                   Attr.SEGMENT: segment, Attr.WINDOW: window})
            for a in range(view.k) for p in range(view.k)]


def default_average(metric: str, view: ModelView) -> str:
    if metric in (PRECISION, RECALL, F1, ROC_AUC):
        return AVG_BINARY if view.positive is not None else AVG_MACRO
    return AVG_NONE


def tested_metrics(view: ModelView, settings: AccuracySettings
                   ) -> list[tuple[str, str, DecayThreshold]]:
    """(metric, average, threshold) of the configured decay metrics that fit the model's task."""
    allowed = perf.REGRESSION_METRICS if view.task == TASK_REGRESSION else \
        perf.CLASSIFICATION_METRICS
    return [(m, default_average(m, view), thr) for m, thr in settings.decay.thresholds.items()
            if m in allowed]


def _statistic(view: ModelView, d: _Labelled, metric: str, avg: str
               ) -> tuple[Callable[[np.ndarray], np.ndarray], int] | None:
    """A bootstrap statistic (weights (B, n) -> B values) and its n, or None if not computable."""
    if view.task == TASK_REGRESSION:
        return (lambda w: perf.regression_metrics(d.y_true, d.y_pred, w)[metric][AVG_NONE]), d.n
    if metric == ROC_AUC:
        pos_scores = _positive_scores(view, d.y_pred, d.conf, d.proba)
        if pos_scores is not None:
            fin = ~np.isnan(pos_scores)
            is_pos, s = d.y_true[fin] == view.positive, pos_scores[fin]
            return (lambda w: perf.roc_auc_binary(is_pos, s, w)), int(fin.sum())
        if d.proba is None:
            return None
        fin = ~np.isnan(d.proba).any(axis=1)
        y, p = d.y_true[fin], d.proba[fin]
        return (lambda w: perf.roc_auc_ovr(y, p, avg, w)), int(fin.sum())
    k, pos = view.k, view.positive
    return (lambda w: perf.metrics_from_confusion(
        perf.confusion_matrix(d.y_true, d.y_pred, k, w), pos)[metric][avg]), d.n


def _decay_points(view: ModelView, d: _Labelled, scores: Scores, window: str,
                  settings: AccuracySettings) -> list[Point]:
    base = view.baseline
    if base is None:
        return []
    out: list[Point] = []
    seg = SEGMENT_ALL
    for metric, avg, thr in tested_metrics(view, settings):
        base_value = base.scores.get(metric, {}).get(avg)
        current = scores.get(metric, {}).get(avg)
        attrs = _perf_attrs(view, metric, avg, seg, window)
        if base_value is None or current is None or not np.isfinite(current):
            continue
        hib = HIGHER_IS_BETTER[metric]
        drop = dstats.decay_amount(base_value, current, hib)
        if metric == ACCURACY:
            correct = int(np.count_nonzero(d.y_true == d.y_pred))
            if base.correct is not None:
                p_value = dstats.two_proportion_ztest(base.correct, base.n, correct, d.n).p_value
            else:
                p_value = dstats.binomial_drop_p_value(correct, d.n, base_value)
        else:
            rng = np.random.default_rng(settings.decay.seed)
            rows = d
            if d.n > settings.decay.bootstrap_max_rows:  # conservative: see DecaySettings
                keep = np.sort(rng.choice(d.n, settings.decay.bootstrap_max_rows, replace=False))
                rows = d.subset(keep)
            stat = _statistic(view, rows, metric, avg)
            if stat is None or stat[1] == 0:
                continue
            p_value = dstats.bootstrap_drop_p_value(
                stat[0], stat[1], base_value, higher_is_better=hib,
                resamples=settings.decay.bootstrap_resamples, rng=rng)
        threshold = dstats.threshold_drop(base_value, thr.absolute, thr.relative)
        significant = drop >= threshold and np.isfinite(p_value) and p_value < settings.decay.alpha
        out.append(Point(Metric.PERFORMANCE_DECAY, float(drop), attrs))
        if np.isfinite(p_value):
            out.append(Point(Metric.PERFORMANCE_DECAY_P_VALUE, float(p_value), attrs))
        out.append(Point(Metric.PERFORMANCE_DECAY_SIGNIFICANT, 1.0 if significant else 0.0, attrs))
    return out


def _baseline_points(view: ModelView, window: str) -> list[Point]:
    if view.baseline is None:
        return []
    return _points(Metric.PERFORMANCE_BASELINE, view, view.baseline.scores, SEGMENT_ALL, window)


def realized(view: ModelView, rows: WindowRows, settings: AccuracySettings) -> list[Point]:
    """Realized metrics (all segments and each segment), confusion, baseline and decay."""
    if view.task is None:
        return []
    d = _labelled(view, rows.cols)
    out = _baseline_points(view, rows.kind)
    min_n = settings.window.min_labels
    confusion_cap = settings.limits.confusion_max_classes
    if d.n >= min_n:
        scores, confusion = _scores(view, d)
        out += _points(Metric.PERFORMANCE, view, scores, SEGMENT_ALL, rows.kind)
        out += _confusion_points(view, confusion, SEGMENT_ALL, rows.kind, confusion_cap)
        out += _decay_points(view, d, scores, rows.kind, settings)
    for code in np.unique(d.segment[d.segment >= 0]).tolist():
        sub = d.subset(d.segment == code)
        if sub.n < min_n:
            continue
        name = view.segment_names[code]
        scores, confusion = _scores(view, sub)
        out += _points(Metric.PERFORMANCE, view, scores, name, rows.kind)
        out += _confusion_points(view, confusion, name, rows.kind, confusion_cap)
    return out


# --- estimated ---------------------------------------------------------------------------

def _estimate(view: ModelView, y_pred: np.ndarray, conf: np.ndarray,
              proba: np.ndarray | None) -> Scores | None:
    pos = view.positive
    if pos is not None:
        raw = _positive_scores(view, y_pred, conf, proba)
        p_pos = raw.copy()
        pos_cal = view.class_calibration[pos] if len(view.class_calibration) > pos else None
        if proba is not None and pos_cal is not None:
            col = proba[:, pos]
            p_pos = np.where(np.isnan(col), p_pos, pos_cal.predict(np.nan_to_num(col)))
            from_conf = np.isnan(col)
        else:
            from_conf = np.ones(y_pred.shape, bool)
        if view.correctness is not None:
            right = view.correctness.predict(np.nan_to_num(conf))
            derived = np.where(y_pred == pos, right, 1.0 - right)
            p_pos = np.where(from_conf & ~np.isnan(conf), derived, p_pos)
        ok = ~np.isnan(p_pos)
        if not ok.any():
            return None
        expected = est.expected_binary_confusion(p_pos[ok], y_pred[ok] == pos, positive=pos)
        return est.estimate_from_confusion(expected, pos)
    per_class = list(view.class_calibration)[: view.k]
    per_class += [None] * (view.k - len(per_class))
    has_class_cal = any(c is not None for c in per_class)
    # per-class maps when fitted; raw probabilities only when no calibration exists at all
    if proba is not None and not np.isnan(proba).any() and (
            has_class_cal or view.correctness is None):
        calibrated = est.calibrate_proba(proba, per_class)
        return est.estimate_from_confusion(est.expected_confusion(calibrated, y_pred, view.k))
    value = est.expected_accuracy(conf, view.correctness)
    return {ACCURACY: {AVG_NONE: value}} if np.isfinite(value) else None


def estimated(view: ModelView, rows: WindowRows, settings: AccuracySettings) -> list[Point]:
    """Label-free CBPE estimates over the prediction window, all segments and each segment."""
    if view.task != TASK_CLASSIFICATION or not settings.estimation.enabled:
        return []
    cols = rows.cols
    y_pred = cols["y_pred"].astype(np.int64)
    conf = cols["conf"].astype(float)
    proba = _proba(cols, view.k)
    has = (y_pred >= 0) & (~np.isnan(conf) if proba is None else
                           (~np.isnan(conf) | ~np.isnan(proba).all(axis=1)))
    seg = cols["segment"]
    out: list[Point] = []
    min_n = settings.window.min_predictions
    groups = [(SEGMENT_ALL, has)] + [
        (view.segment_names[c], has & (seg == c)) for c in np.unique(seg[has & (seg >= 0)]).tolist()]
    for name, mask in groups:
        if mask.sum() < min_n:
            continue
        scores = _estimate(view, y_pred[mask], conf[mask], None if proba is None else proba[mask])
        if scores:
            out += _points(Metric.PERFORMANCE_ESTIMATED, view, scores, name, rows.kind)
    return out


# --- coverage and outcomes ----------------------------------------------------------------

def coverage(view: ModelView, rows: WindowRows) -> list[Point]:
    if rows.n == 0:
        return []
    return [Point(Metric.LABELS_COVERAGE, float(rows.cols["labelled"].mean()),
                  {**view.attrs, Attr.WINDOW: rows.kind})]


def outcome_means(view: ModelView, rows: WindowRows) -> list[Point]:
    if rows.n == 0:
        return []
    names = rows.cols["name"]
    values = rows.cols["value"]
    k = len(view.outcome_names)
    sums = np.bincount(names, weights=values, minlength=k)
    counts = np.bincount(names, minlength=k)
    return [Point(Metric.OUTCOME_MEAN, float(sums[i] / counts[i]),
                  {**view.attrs, Attr.OUTCOME_NAME: view.outcome_names[i], Attr.WINDOW: rows.kind})
            for i in range(k) if counts[i]]


# --- trend -------------------------------------------------------------------------------

def block_values(view: ModelView, cols: dict, settings: AccuracySettings
                 ) -> tuple[float, dict[tuple[str, str], float]]:
    """(mean prediction time, tested metric values) of one completed block of labels."""
    d = _labelled(view, cols)
    if d.n == 0:
        return float("nan"), {}
    scores, _ = _scores(view, d)
    values = {}
    for metric, avg, _thr in tested_metrics(view, settings):
        v = scores.get(metric, {}).get(avg)
        if v is not None and np.isfinite(v):
            values[(metric, avg)] = float(v)
    return float(np.mean(d.t_pred)), values


def trend_points(view: ModelView, history: Mapping[tuple[str, str], list], now: float,
                 settings: AccuracySettings) -> list[Point]:
    out: list[Point] = []
    thresholds = {m: thr for m, _a, thr in tested_metrics(view, settings)}
    for (metric, avg), pts in history.items():
        if len(pts) < settings.trend.min_windows or metric not in thresholds:
            continue
        arr = np.asarray(pts, dtype=float)
        trend = dstats.linear_trend(arr[:, 0], arr[:, 1])
        if trend is None:
            continue
        attrs = _perf_attrs(view, metric, avg, SEGMENT_ALL, WindowKind.COUNT)
        out.append(Point(Metric.PERFORMANCE_TREND, trend.slope * 3600.0, attrs))
        base = view.baseline.scores.get(metric, {}).get(avg) if view.baseline else None
        if base is None:
            continue
        thr = thresholds[metric]
        hib = HIGHER_IS_BETTER[metric]
        drop = dstats.threshold_drop(base, thr.absolute, thr.relative)
        level = base - drop if hib else base + drop
        eta = dstats.time_to_threshold(trend, level, now, hib)
        if eta is not None:
            out.append(Point(Metric.PERFORMANCE_TIME_TO_THRESHOLD, eta, attrs))
    return out
