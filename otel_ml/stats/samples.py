"""Turning raw window values into clean numpy samples (numeric: finite float64; categorical: strings)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["finite_values", "category_strings"]


def finite_values(values: Any, name: str = "values") -> np.ndarray:
    """``values`` as a flat float64 array with NaN and +-inf dropped.

    Raises ``ValueError`` naming ``name`` when the values are not numbers.
    """
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected numbers ({exc})") from None
    finite = np.isfinite(arr)
    return arr if finite.all() else arr[finite]


def category_strings(values: Any) -> np.ndarray:
    """``values`` as a flat numpy string array, None and float NaN dropped.

    Categories are compared by ``str()``: the integer 1 and the string "1" are the
    same category, the float 1.0 is "1.0".
    """
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        return values.ravel()
    arr = np.asarray(values, dtype=object).ravel()
    if arr.size == 0:
        return np.empty(0, dtype="U1")
    # `x == x` is False only for NaN; `x is not None` via an object comparison, both elementwise in C.
    keep = np.not_equal(arr, None) & np.equal(arr, arr)
    return arr[keep].astype(str)
