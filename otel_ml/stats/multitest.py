"""Multiple-testing corrections over the p-values of many features (one model, one window)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ADJUST_BH", "ADJUST_BONFERRONI", "ADJUST_NONE", "ADJUST_METHODS",
           "benjamini_hochberg", "bonferroni", "adjust"]

ADJUST_BH = "bh"
ADJUST_BONFERRONI = "bonferroni"
ADJUST_NONE = "none"
ADJUST_METHODS = (ADJUST_BH, ADJUST_BONFERRONI, ADJUST_NONE)


def _p_values(p_values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    try:
        p = np.array(p_values, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise ValueError("p_values: expected numbers (NaN for tests that did not run)") from None
    if p.ndim != 1:
        raise ValueError(f"p_values: expected a 1-D sequence, got shape {p.shape}")
    known = ~np.isnan(p)
    bad = known & ((p < 0) | (p > 1))
    if bad.any():
        raise ValueError(f"p_values: {int(bad.sum())} value(s) outside [0, 1], e.g. {p[bad][0]!r}")
    return p, known


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (== scipy.stats.false_discovery_control(p, method="bh")).

    NaN entries (tests that could not run) stay NaN and do not count towards m.
    """
    p, known = _p_values(p_values)
    ps = p[known]
    m = ps.size
    if m == 0:
        return p
    order = np.argsort(ps)
    ranked = ps[order] * (m / np.arange(1, m + 1))
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.clip(ranked, 0.0, 1.0)
    p[known] = adjusted
    return p


def bonferroni(p_values: ArrayLike) -> np.ndarray:
    """Bonferroni adjusted p-values: min(1, p * m); NaN entries stay NaN and do not count towards m."""
    p, known = _p_values(p_values)
    p[known] = np.minimum(1.0, p[known] * int(known.sum()))
    return p


def adjust(p_values: ArrayLike, method: str) -> np.ndarray:
    """Adjust ``p_values`` by ``method``: "bh" | "bonferroni" | "none" (a validated copy)."""
    if method == ADJUST_BH:
        return benjamini_hochberg(p_values)
    if method == ADJUST_BONFERRONI:
        return bonferroni(p_values)
    if method == ADJUST_NONE:
        return _p_values(p_values)[0]
    raise ValueError(f"method: unknown p-value adjustment {method!r} (expected one of {', '.join(ADJUST_METHODS)})")
