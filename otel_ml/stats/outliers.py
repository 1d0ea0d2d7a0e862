"""Range and outlier checks of values against their reference (data quality, P5).

``iqr_bounds`` gives a reference's Tukey fences; ``outside_range`` marks the values outside a
closed range (the reference [min, max], or the fences). Only finite values can be outside:
NaN and +-inf are counted by other checks.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from otel_ml.stats.errors import EmptySampleError
from otel_ml.stats.samples import finite_values

__all__ = ["iqr_bounds", "outside_range"]


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


def outside_range(values: ArrayLike, lo: float, hi: float) -> np.ndarray:
    """Boolean mask, one per value: finite and outside the closed range [lo, hi].

    Vectorised (a few numpy passes, no per-value Python). NaN and +-inf are never outside; a
    NaN bound excludes nothing on its side.
    """
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & ((x < lo) | (x > hi))
