"""Classification and regression performance metrics on integer-coded labels, in pure numpy.

Classes are integer codes ``0..K-1`` (the processor maps class names to codes). Every function
accepts optional case weights, either one vector ``(n,)`` or a matrix ``(B, n)`` of bootstrap
weights, so a decay test can evaluate B resamples in one vectorised call. Definitions follow
scikit-learn's defaults (``zero_division=0``; macro averages over the classes present in the
true or predicted labels; weighted averages by true support; MAPE with a machine-epsilon floor),
so scikit-learn can serve as the test oracle; scikit-learn is not a runtime dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ACCURACY", "PRECISION", "RECALL", "F1", "ROC_AUC", "MAE", "RMSE", "R2", "MAPE",
    "AVG_NONE", "AVG_BINARY", "AVG_MACRO", "AVG_WEIGHTED",
    "CLASSIFICATION_METRICS", "REGRESSION_METRICS", "HIGHER_IS_BETTER",
    "Scores",
    "ClassificationResult",
    "confusion_matrix",
    "metrics_from_confusion",
    "roc_auc_binary",
    "roc_auc_ovr",
    "classification_metrics",
    "regression_metrics",
]

# Metric and average names; the processor exports them as the values of ml.metric.name /
# ml.metric.average, so semconv.PerformanceMetric spells the same strings (a test checks).
ACCURACY, PRECISION, RECALL, F1, ROC_AUC = "accuracy", "precision", "recall", "f1", "roc_auc"
MAE, RMSE, R2, MAPE = "mae", "rmse", "r2", "mape"
AVG_NONE, AVG_BINARY, AVG_MACRO, AVG_WEIGHTED = "none", "binary", "macro", "weighted"

CLASSIFICATION_METRICS = (ACCURACY, PRECISION, RECALL, F1, ROC_AUC)
REGRESSION_METRICS = (MAE, RMSE, R2, MAPE)
#: Direction of each metric: a decay is a fall for these and a rise for the error metrics.
HIGHER_IS_BETTER = {ACCURACY: True, PRECISION: True, RECALL: True, F1: True, ROC_AUC: True,
                    R2: True, MAE: False, RMSE: False, MAPE: False}

Scores = dict  # metric name -> {average -> value}


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's zero_division=0)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Counts ``C[actual, predicted]``; with a ``(B, n)`` weight matrix, one matrix per row.

    One ``np.bincount`` over the flattened (replicate, actual, predicted) index: no loop.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = int(n_classes)
    idx = y_true * k + y_pred
    if weights is None:
        return np.bincount(idx, minlength=k * k).reshape(k, k)
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        return np.bincount(idx, weights=w, minlength=k * k).reshape(k, k)
    b = w.shape[0]
    flat = (np.arange(b, dtype=np.int64)[:, None] * (k * k) + idx[None, :]).ravel()
    return np.bincount(flat, weights=w.ravel(), minlength=b * k * k).reshape(b, k, k)


def metrics_from_confusion(confusion: np.ndarray, positive: int | None = None) -> Scores:
    """Accuracy, precision, recall and F1 from (a batch of) confusion matrices.

    ``positive`` given (binary problems): the ``binary`` average is that class's score.
    Works on float matrices too (expected confusion matrices of CBPE). Values are floats for
    one matrix and arrays for a batch ``(B, K, K)``.
    """
    c = np.asarray(confusion, dtype=float)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    predicted = c.sum(axis=-2)
    actual = c.sum(axis=-1)
    total = actual.sum(axis=-1)
    precision = _divide(tp, predicted)
    recall = _divide(tp, actual)
    f1 = _divide(2.0 * tp, predicted + actual)
    present = (predicted + actual) > 0
    n_present = present.sum(axis=-1)
    out: Scores = {ACCURACY: {AVG_NONE: _scalar(_divide(tp.sum(axis=-1), total))}}
    for name, per_class in ((PRECISION, precision), (RECALL, recall), (F1, f1)):
        avgs = {
            AVG_MACRO: _scalar(_divide((per_class * present).sum(axis=-1), n_present)),
            AVG_WEIGHTED: _scalar(_divide((per_class * actual).sum(axis=-1), total)),
        }
        if positive is not None:
            avgs[AVG_BINARY] = _scalar(per_class[..., positive])
        out[name] = avgs
    return out


def _scalar(value):
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else arr


def roc_auc_binary(is_positive: np.ndarray, scores: np.ndarray,
                   weights: np.ndarray | None = None):
    """Area under the ROC curve (Mann-Whitney form, ties count half); NaN if a class is absent.

    Scores are sorted once; tied scores are grouped with ``np.add.reduceat`` so a ``(B, n)``
    weight matrix gives B bootstrap AUCs in one pass.
    """
    pos = np.asarray(is_positive, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s, pos = s[order], pos[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    if weights is None:
        w = np.ones(s.shape)
    else:
        w = np.asarray(weights, dtype=float)[..., order]
    wp = w * pos
    wn = w * ~pos
    gp = np.add.reduceat(wp, starts, axis=-1)
    gn = np.add.reduceat(wn, starts, axis=-1)
    below = np.cumsum(gn, axis=-1) - gn
    num = (gp * (below + 0.5 * gn)).sum(axis=-1)
    den = gp.sum(axis=-1) * gn.sum(axis=-1)
    auc = np.full(np.shape(den), np.nan)
    np.divide(num, den, out=auc, where=den > 0)
    return _scalar(auc)


def roc_auc_ovr(y_true: np.ndarray, proba: np.ndarray, average: str = AVG_MACRO,
                weights: np.ndarray | None = None):
    """One-vs-rest ROC-AUC over the classes that have both positives and negatives.

    ``macro``: plain mean of the per-class AUCs; ``weighted``: weighted by class prevalence
    (scikit-learn's ``multi_class="ovr"``). The loop runs over classes, never over samples.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=float)
    k = proba.shape[1]
    aucs, prevalence = [], []
    for cls in range(k):
        is_pos = y_true == cls
        aucs.append(roc_auc_binary(is_pos, proba[:, cls], weights))
        w = np.ones(y_true.shape) if weights is None else np.asarray(weights, dtype=float)
        prevalence.append((w * is_pos).sum(axis=-1))
    aucs = np.stack([np.asarray(a, dtype=float) for a in aucs], axis=-1)
    prevalence = np.stack(prevalence, axis=-1)
    valid = ~np.isnan(aucs)
    filled = np.where(valid, aucs, 0.0)
    if average == AVG_WEIGHTED:
        wts = np.where(valid, prevalence, 0.0)
        result = np.where(wts.sum(axis=-1) > 0, _divide((filled * wts).sum(axis=-1),
                                                        wts.sum(axis=-1)), np.nan)
    elif average == AVG_MACRO:
        cnt = valid.sum(axis=-1)
        result = np.where(cnt > 0, _divide(filled.sum(axis=-1), cnt), np.nan)
    else:
        raise ValueError(f"average must be 'macro' or 'weighted', got {average!r}")
    return _scalar(result)


@dataclass(frozen=True)
class ClassificationResult:
    """Metrics of one window: ``scores[name][average]`` plus the confusion counts."""

    n: int
    confusion: np.ndarray
    scores: Scores = field(default_factory=dict)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, *,
                           positive: int | None = None, positive_scores: np.ndarray | None = None,
                           proba: np.ndarray | None = None) -> ClassificationResult:
    """All classification metrics for integer-coded labels.

    ``positive`` marks a binary problem (its class code). ROC-AUC comes from
    ``positive_scores`` (binary: the positive class's probability) or ``proba`` (``(n, K)``,
    one-vs-rest macro and weighted); it is left out when no scores are given or a class is absent.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    conf = confusion_matrix(y_true, y_pred, n_classes)
    scores = metrics_from_confusion(conf, positive)
    if positive is not None and positive_scores is not None:
        auc = roc_auc_binary(y_true == positive, positive_scores)
        if not np.isnan(auc):
            scores[ROC_AUC] = {AVG_BINARY: auc}
    elif proba is not None:
        aucs = {avg: roc_auc_ovr(y_true, proba, avg) for avg in (AVG_MACRO, AVG_WEIGHTED)}
        if not any(np.isnan(v) for v in aucs.values()):
            scores[ROC_AUC] = aucs
    return ClassificationResult(n=int(y_true.size), confusion=conf, scores=scores)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                       weights: np.ndarray | None = None) -> Scores:
    """MAE, RMSE, R² and MAPE (absolute error over max(|y|, eps), as a fraction).

    R² is NaN when the (weighted) true values have no variance.
    """
    y = np.asarray(y_true, dtype=float)
    e = np.asarray(y_pred, dtype=float) - y
    w = np.ones(y.shape) if weights is None else np.asarray(weights, dtype=float)
    sw = w.sum(axis=-1)
    mae = _divide((w * np.abs(e)).sum(axis=-1), sw)
    mse = _divide((w * e * e).sum(axis=-1), sw)
    ape = np.abs(e) / np.maximum(np.abs(y), np.finfo(np.float64).eps)
    mape = _divide((w * ape).sum(axis=-1), sw)
    mean = _divide((w * y).sum(axis=-1), sw)
    ss_tot = (w * (y - np.expand_dims(mean, -1)) ** 2).sum(axis=-1)
    ss_res = (w * e * e).sum(axis=-1)
    r2 = np.full(np.shape(ss_tot), np.nan)
    np.subtract(1.0, _divide(ss_res, ss_tot), out=r2, where=ss_tot > 0)
    return {MAE: {AVG_NONE: _scalar(mae)}, RMSE: {AVG_NONE: _scalar(np.sqrt(mse))},
            R2: {AVG_NONE: _scalar(r2)}, MAPE: {AVG_NONE: _scalar(mape)}}
