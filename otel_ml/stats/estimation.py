"""Confidence-based performance estimation (CBPE): expected metrics from calibrated scores.

Before labels arrive, a classifier's accuracy can be estimated from its own probabilities if
they are calibrated, i.e. among predictions scored p, a fraction p is right. Calibration is
fitted where labels exist (the reference data) with isotonic regression, then applied to
production scores; the expected confusion matrix follows and every confusion-based metric with
it. This holds only while the relation between inputs and labels stays as it was (no concept
shift) and the calibration still holds: covariate shift is fine, concept shift is invisible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

from otel_ml.stats.performance import Scores, metrics_from_confusion

__all__ = [
    "IsotonicCalibrator",
    "calibrate_proba",
    "expected_confusion",
    "expected_binary_confusion",
    "expected_accuracy",
    "estimate_from_confusion",
]


@dataclass(frozen=True)
class IsotonicCalibrator:
    """A monotone map from a raw score to a probability, as a piecewise-linear function.

    Knots are the ends of the isotonic fit's constant blocks; between knots the map
    interpolates linearly and outside them it is clipped, as scikit-learn's
    ``IsotonicRegression(out_of_bounds="clip")`` predicts.
    """

    x: tuple[float, ...]
    y: tuple[float, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, outcomes: np.ndarray) -> IsotonicCalibrator:
        """Fit P(outcome=1 | score) on paired arrays (outcome is 0/1); NaN scores are ignored."""
        s = np.asarray(scores, dtype=float)
        o = np.asarray(outcomes, dtype=float)
        if s.shape != o.shape:
            raise ValueError(f"scores and outcomes differ in shape: {s.shape} vs {o.shape}")
        keep = ~np.isnan(s) & ~np.isnan(o)
        s, o = s[keep], o[keep]
        if s.size == 0:
            raise ValueError("no finite scores to calibrate on")
        ux, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
        mean_y = np.bincount(inv, weights=o) / counts
        fit = isotonic_regression(mean_y, weights=counts.astype(float), increasing=True)
        fitted = np.asarray(fit.x)
        # Keep the first and last x of every constant block: same interpolant, fewer knots.
        starts = np.asarray(fit.blocks[:-1])
        ends = np.asarray(fit.blocks[1:]) - 1
        keep_idx = np.unique(np.concatenate([starts, ends]))
        return cls(tuple(ux[keep_idx].tolist()), tuple(fitted[keep_idx].tolist()))

    @classmethod
    def identity(cls) -> IsotonicCalibrator:
        """Scores taken as already calibrated."""
        return cls((0.0, 1.0), (0.0, 1.0))

    def predict(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=float)
        if len(self.x) == 1:
            out = np.full(s.shape, self.y[0])
        else:
            out = np.interp(s, self.x, self.y)
        return np.where(np.isnan(s), np.nan, out)

    def to_dict(self) -> dict:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict) -> IsotonicCalibrator:
        x = tuple(float(v) for v in data["x"])
        y = tuple(float(v) for v in data["y"])
        if not x or len(x) != len(y):
            raise ValueError("calibration knots must be two non-empty lists of equal length")
        if any(b < a for a, b in zip(x, x[1:])) or any(b < a for a, b in zip(y, y[1:])):
            raise ValueError("calibration knots must be non-decreasing")
        return cls(x, y)


def calibrate_proba(proba: np.ndarray, calibrators: list[IsotonicCalibrator | None]) -> np.ndarray:
    """Calibrate each class column one-vs-rest, then renormalise rows to sum to 1.

    A ``None`` calibrator keeps that column as it is. Rows whose calibrated mass is 0 fall back
    to the raw (renormalised) probabilities.
    """
    p = np.asarray(proba, dtype=float)
    cal = np.column_stack([p[:, k] if c is None else c.predict(p[:, k])
                           for k, c in enumerate(calibrators)]) if p.size else p.copy()
    total = cal.sum(axis=1, keepdims=True)
    raw_total = p.sum(axis=1, keepdims=True)
    raw = np.divide(p, raw_total, out=np.zeros_like(p), where=raw_total > 0)
    return np.where(total > 0, np.divide(cal, total, out=np.zeros_like(cal), where=total > 0), raw)


def expected_confusion(proba: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """E[C[actual, predicted]] = sum of P(actual | x) over the items predicted as ``predicted``."""
    p = np.asarray(proba, dtype=float)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    out = np.zeros((n_classes, n_classes))
    # Scatter-add every item's probability row into its predicted column: one ufunc call.
    np.add.at(out.T, y_pred, p[:, :n_classes])
    return out


def expected_binary_confusion(p_positive: np.ndarray, predicted_positive: np.ndarray,
                              positive: int = 1) -> np.ndarray:
    """Expected 2x2 confusion matrix from calibrated P(positive) and the predicted label."""
    p = np.asarray(p_positive, dtype=float)
    pred_pos = np.asarray(predicted_positive, dtype=bool)
    tp = p[pred_pos].sum()
    fp = (1.0 - p[pred_pos]).sum()
    fn = p[~pred_pos].sum()
    tn = (1.0 - p[~pred_pos]).sum()
    neg = 1 - positive
    out = np.zeros((2, 2))
    out[positive, positive], out[neg, positive] = tp, fp
    out[positive, neg], out[neg, neg] = fn, tn
    return out


def expected_accuracy(confidences: np.ndarray, calibrator: IsotonicCalibrator | None) -> float:
    """Mean calibrated probability that the predicted class is right."""
    c = np.asarray(confidences, dtype=float)
    c = c[~np.isnan(c)]
    if c.size == 0:
        return float("nan")
    p = c if calibrator is None else calibrator.predict(c)
    return float(p.mean())


def estimate_from_confusion(expected: np.ndarray, positive: int | None = None) -> Scores:
    """Accuracy, precision, recall and F1 of an expected confusion matrix (ratios of expectations)."""
    return metrics_from_confusion(expected, positive)
