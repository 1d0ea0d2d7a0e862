"""Quantile coupling of two empirical distributions, for the first Wasserstein distance.

W1 = integral over t in (0, 1] of |Q_ref(t) - Q_cur(t)|. Both quantile functions
are steps at multiples of 1/n_ref and 1/n_cur, so on the merged grid each piece
pairs one reference order statistic with one current one. Which pair and how
wide depends only on the two sizes, not the data: it is built once per size pair
with integer arithmetic and cached, and a window then costs two monotone gathers
and a dot product.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["Coupling", "coupling", "wasserstein_coupled", "clear_cache"]

#: Couplings kept per process: entries of up to this many grid pieces (24 bytes each).
_CACHE_MAX_PIECES = 250_000
_CACHE_ENTRIES = 4


class Coupling:
    """Grid pieces of the coupling: reference index, current index and width (units of 1/(n_ref n_cur))."""

    __slots__ = ("n_ref", "n_cur", "ref_index", "cur_index", "width")

    def __init__(self, n_ref: int, n_cur: int):
        if n_ref < 1 or n_cur < 1:
            raise ValueError(f"coupling: both sizes must be >= 1, got {n_ref}, {n_cur}")
        total = n_ref + n_cur
        # Grid marks in units of 1/(n_ref n_cur): the reference's at i * n_cur, the current's at j * n_ref.
        j = np.arange(1, n_cur + 1, dtype=np.int64)
        cur_marks = j * n_ref
        # Each current mark follows the reference marks strictly below it: (j n_ref - 1) // n_cur of them.
        cur_pos = (cur_marks - 1) // n_cur + (j - 1)
        is_cur = np.zeros(total, dtype=bool)
        is_cur[cur_pos] = True
        marks = np.empty(total, dtype=np.int64)
        marks[cur_pos] = cur_marks
        marks[~is_cur] = np.arange(1, n_ref + 1, dtype=np.int64) * n_cur
        self.n_ref = n_ref
        self.n_cur = n_cur
        self.ref_index = ((marks - 1) // n_cur).astype(np.intp)  # intp: gathers need no conversion
        self.cur_index = ((marks - 1) // n_ref).astype(np.intp)
        self.width = np.diff(marks, prepend=0).astype(np.float64)
        for arr in (self.ref_index, self.cur_index, self.width):
            arr.setflags(write=False)


_cached = lru_cache(maxsize=_CACHE_ENTRIES)(Coupling)


def coupling(n_ref: int, n_cur: int) -> Coupling:
    """The coupling for these sizes; small ones come from a per-process LRU cache of 4 entries (<= 6 MB each)."""
    if n_ref + n_cur <= _CACHE_MAX_PIECES:
        return _cached(int(n_ref), int(n_cur))
    return Coupling(int(n_ref), int(n_cur))


def wasserstein_coupled(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """W1 between two ascending samples (== scipy.stats.wasserstein_distance) through their quantile coupling."""
    c = coupling(ref_sorted.size, cur_sorted.size)
    gaps = np.take(ref_sorted, c.ref_index)
    gaps -= np.take(cur_sorted, c.cur_index)
    np.abs(gaps, out=gaps)
    # einsum, not np.dot: a long dot goes to multi-threaded BLAS, which stalls on a busy host.
    return float(np.einsum("i,i->", gaps, c.width)) / (float(c.n_ref) * float(c.n_cur))


def clear_cache() -> None:
    """Forget the cached couplings."""
    _cached.cache_clear()
