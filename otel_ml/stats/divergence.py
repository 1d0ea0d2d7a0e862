"""Distances between two binned distributions: PSI and Jensen-Shannon, plus binning on reference edges."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from otel_ml.stats.errors import EmptySampleError
from otel_ml.stats.samples import finite_values

__all__ = ["PSI_EPS", "psi", "jensen_shannon", "bin_fractions", "bin_fractions_sorted", "bin_fractions_from_cdf"]

#: Floor for a bin share in PSI. An empty bin would make ln(cur/ref) infinite; with
#: the floor one bin that goes from 10% to empty adds (0.1 - 1e-4) * ln(0.1/1e-4) ~ 0.69.
PSI_EPS = 1e-4


def _shares(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: must not be empty")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name}: shares must be finite and >= 0")
    return arr


def psi(ref_fractions: ArrayLike, cur_fractions: ArrayLike, eps: float = PSI_EPS) -> float:
    """Population Stability Index: sum over bins of (cur - ref) * ln(cur / ref).

    Both share vectors are floored at ``eps`` before the sum (no renormalisation),
    so empty bins give a large but finite contribution. Identical shares give 0.
    """
    ref = _shares(ref_fractions, "ref_fractions")
    cur = _shares(cur_fractions, "cur_fractions")
    if ref.shape != cur.shape:
        raise ValueError(f"cur_fractions: {cur.size} bins, ref_fractions has {ref.size}")
    if not (eps > 0):
        raise ValueError(f"eps: must be > 0, got {eps!r}")
    ref = np.maximum(ref, eps)
    cur = np.maximum(cur, eps)
    return float(np.dot(cur - ref, np.log(cur / ref)))


def jensen_shannon(p: ArrayLike, q: ArrayLike, base: float = 2.0) -> float:
    """Jensen-Shannon distance (square root of the divergence), as scipy.spatial.distance.jensenshannon.

    ``p`` and ``q`` are normalised to sum 1 first. With base 2 the result is in [0, 1].
    """
    pa = _shares(p, "p")
    qa = _shares(q, "q")
    if pa.shape != qa.shape:
        raise ValueError(f"q: {qa.size} bins, p has {pa.size}")
    psum, qsum = pa.sum(), qa.sum()
    if psum <= 0 or qsum <= 0:
        raise ValueError("p, q: each needs a positive total")
    if not (base > 0 and base != 1):
        raise ValueError(f"base: must be > 0 and != 1, got {base!r}")
    pa = pa / psum
    qa = qa / qsum
    m = (pa + qa) / 2.0
    # rel_entr convention: x*ln(x/y) with 0*ln(0/y) = 0; m > 0 wherever p or q is.
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(pa > 0, pa * np.log(pa / m), 0.0)
        right = np.where(qa > 0, qa * np.log(qa / m), 0.0)
    js = (left.sum() + right.sum()) / np.log(base)
    return float(np.sqrt(max(js, 0.0) / 2.0))


def bin_fractions_sorted(bin_edges: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Shares of ascending ``sorted_values`` in bins (-inf, e0], (e0, e1], ..., (e_last, inf); O(bins log n)."""
    upto = np.searchsorted(sorted_values, bin_edges, side="right")
    counts = np.diff(np.concatenate(([0], upto, [sorted_values.size])))
    return counts / sorted_values.size


def bin_fractions(bin_edges: ArrayLike, values: ArrayLike) -> np.ndarray:
    """Shares of the finite ``values`` in bins (-inf, e0], (e0, e1], ..., (e_last, inf).

    ``bin_edges`` are the strictly increasing inner edges (len bins - 1). Raises
    ``EmptySampleError`` when no finite value is given.
    """
    edges = np.asarray(bin_edges, dtype=np.float64).ravel()
    if np.any(edges[1:] <= edges[:-1]) or not np.all(np.isfinite(edges)):
        raise ValueError("bin_edges: must be finite and strictly increasing")
    vals = finite_values(values, "values")
    if vals.size == 0:
        raise EmptySampleError("values: no finite value to bin")
    idx = np.searchsorted(edges, vals, side="left")
    return np.bincount(idx, minlength=edges.size + 1) / vals.size


def bin_fractions_from_cdf(cdf: ArrayLike) -> np.ndarray:
    """Shares of bins (-inf, e0], (e0, e1], ..., (e_last, inf) from a CDF read at the inner edges
    (e.g. a KLL sketch's ``get_cdf``); a non-monotone approximate CDF gives no negative share."""
    at_edges = np.asarray(cdf, dtype=np.float64).ravel()
    return np.clip(np.diff(np.concatenate(([0.0], at_edges, [1.0]))), 0.0, None)
