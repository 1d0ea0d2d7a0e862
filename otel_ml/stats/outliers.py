"""Outlier ratios of a window against its reference (data quality, P5): IQR fences and z-scores.

Ratios are over the window's finite values; NaN/inf are counted by other checks.
A window with no finite value has ratio 0.0 (nothing in it is an outlier).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from otel_ml.stats.sample_errors import EmptySampleError
from otel_ml.stats.samples import finite_values

__all__ = ["iqr_bounds", "outlier_ratio", "zscore_outlier_ratio", "out_of_range_count"]


def iqr_bounds(ref_sorted: ArrayLike, k: float = 1.5) -> tuple[float, float]:
    """Tukey fences (Q1 - k*IQR, Q3 + k*IQR) of the reference (quartiles by numpy's linear method)."""
    if not (math.isfinite(k) and k >= 0):
        raise ValueError(f"k: must be a finite number >= 0, got {k!r}")
    ref = finite_values(ref_sorted, "ref_sorted")
    if ref.size == 0:
        raise EmptySampleError("ref_sorted: no finite value to take quartiles of")
    q1, q3 = np.quantile(ref, [0.25, 0.75])
    iqr = q3 - q1
    return float(q1 - k * iqr), float(q3 + k * iqr)


def out_of_range_count(values: ArrayLike, lo: float, hi: float) -> tuple[int, int]:
    """(number of finite values outside [lo, hi], number of finite values)."""
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"lo, hi: need lo <= hi, got {lo!r}, {hi!r}")
    vals = finite_values(values, "values")
    return int(np.count_nonzero((vals < lo) | (vals > hi))), int(vals.size)


def outlier_ratio(values: ArrayLike, lo: float, hi: float) -> float:
    """Share of the finite ``values`` outside [lo, hi] (e.g. the ``iqr_bounds``)."""
    outside, total = out_of_range_count(values, lo, hi)
    return outside / total if total else 0.0


def zscore_outlier_ratio(values: ArrayLike, mean: float, std: float, z: float = 3.0) -> float:
    """Share of the finite ``values`` with |v - mean| > z * std (std 0: any value != mean)."""
    if not (math.isfinite(mean) and math.isfinite(std) and std >= 0):
        raise ValueError(f"mean, std: need finite values with std >= 0, got {mean!r}, {std!r}")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z: must be a finite number > 0, got {z!r}")
    vals = finite_values(values, "values")
    if vals.size == 0:
        return 0.0
    return int(np.count_nonzero(np.abs(vals - mean) > z * std)) / vals.size
