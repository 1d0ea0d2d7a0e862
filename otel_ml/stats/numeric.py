"""Numeric drift of a window against a reference: KS, PSI, Wasserstein and Jensen-Shannon.

The reference sample is kept sorted, so a window costs one sort of the window,
one ``searchsorted`` of it into the reference and a few linear passes: KS reads
both ECDFs at the window's values, Wasserstein pairs order statistics through
the (cached, size-only) quantile coupling, and PSI and Jensen-Shannon count the
window in the reference-quantile bins.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from numpy.typing import ArrayLike

from otel_ml.stats.coupling import clear_cache as _clear_coupling_cache
from otel_ml.stats.coupling import wasserstein_coupled
from otel_ml.stats.divergence import PSI_EPS, bin_fractions_from_cdf, bin_fractions_sorted, jensen_shannon, psi
from otel_ml.stats.kolmogorov import clear_cache as _clear_kolmogorov_cache
from otel_ml.stats.kolmogorov import kstwo_sf
from otel_ml.stats.references import NumericReference
from otel_ml.stats.errors import EmptySampleError
from otel_ml.stats.samples import finite_values
from otel_ml.stats.severity import (
    METHOD_JENSEN_SHANNON, METHOD_KS, METHOD_PSI, METHOD_WASSERSTEIN,
)

__all__ = [
    "NumericDrift", "ks_2samp_sorted", "ks_p_value", "wasserstein_sorted",
    "numeric_drift", "numeric_drift_many", "with_bin_shares", "clear_caches",
]


@dataclass(frozen=True)
class NumericDrift:
    """Drift of one numeric window against its reference.

    ``wasserstein`` is in the feature's units (== scipy.stats.wasserstein_distance);
    ``wasserstein_normalized`` divides it by the reference standard deviation (raw
    value when that is 0) and is what the wasserstein tiers apply to. ``n`` is the
    number of finite values in the window.
    """

    ks_statistic: float
    ks_p_value: float
    psi: float
    wasserstein: float
    jensen_shannon: float
    n: int
    wasserstein_normalized: float = float("nan")

    def score(self, method: str) -> float:
        """The score the tiers of ``method`` apply to."""
        scores = {METHOD_KS: self.ks_statistic, METHOD_PSI: self.psi,
                  METHOD_WASSERSTEIN: self.wasserstein_normalized, METHOD_JENSEN_SHANNON: self.jensen_shannon}
        if method not in scores:
            raise ValueError(f"method: {method!r} is not a numeric drift method ({', '.join(scores)})")
        return scores[method]

    def p_value(self, method: str) -> float | None:
        """Raw p-value of ``method``, None for methods without one."""
        self.score(method)
        return self.ks_p_value if method == METHOD_KS else None


def _checked_ref(ref_sorted: ArrayLike) -> np.ndarray:
    ref = np.asarray(ref_sorted, dtype=np.float64).ravel()
    if ref.size == 0:
        raise EmptySampleError("ref_sorted: must not be empty")
    if not np.all(np.isfinite(ref)):
        raise ValueError("ref_sorted: must be finite (no NaN/inf)")
    if np.any(ref[1:] < ref[:-1]):
        raise ValueError("ref_sorted: must be in ascending order")
    return ref


def _sorted_current(current: ArrayLike) -> np.ndarray:
    cur = finite_values(current, "current")
    if cur.size == 0:
        raise EmptySampleError("current: no finite value to compare with the reference")
    return np.sort(cur)


def _reference_ranks(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Where the ascending window ``cur`` falls in the reference.

    Returns (below, upto, first): for each run of equal current values starting at
    index ``first`` (None: every value is its own run, first = arange), ``below``
    counts reference values < it and ``upto`` those <= it. With ties only the run
    heads are searched, so a coarse-grained feature costs a handful of searches.
    """
    n_ref = ref.size
    starts = cur[1:] != cur[:-1]
    if starts.all():
        first = None
        heads = cur
    else:
        first = np.concatenate(([0], np.flatnonzero(starts) + 1))
        heads = cur[first]
    below = np.searchsorted(ref, heads, side="left")
    tie = ref[np.minimum(below, n_ref - 1)] == heads
    if tie.any():
        upto = below.copy()
        upto[tie] = np.searchsorted(ref, heads[tie], side="right")
    else:
        upto = below
    return below, upto, first


def _ks_statistic(n_ref: int, n_cur: int, below: np.ndarray, upto: np.ndarray, first: np.ndarray | None) -> float:
    """Two-sided KS statistic from ``_reference_ranks``.

    Both ECDFs are step functions, so the largest gaps sit at sample values:
    F_cur - F_ref is largest at the last of each run of equal current values,
    F_ref - F_cur just before the first of each run. Each candidate is the same
    integer-ratio difference scipy evaluates, so the maximum is bit-identical.
    """
    if first is None:
        ref_ahead = below / n_ref - np.arange(n_cur) / n_cur
        cur_ahead = np.arange(1, n_cur + 1) / n_cur - upto / n_ref
    else:
        after_last = np.append(first[1:], n_cur)
        ref_ahead = below / n_ref - first / n_cur
        cur_ahead = after_last / n_cur - upto / n_ref
    return float(max(ref_ahead.max(), cur_ahead.max(), 0.0))


def ks_p_value(statistic: ArrayLike, n_ref: ArrayLike, n_cur: ArrayLike) -> np.ndarray:
    """Two-sided asymptotic KS p-value(s), as scipy.stats.ks_2samp(method="asymp").

    That is the survival function of the one-sample Kolmogorov distribution
    (``kstwo``, here the faster ``kolmogorov.kstwo_sf``) at the effective size
    round(n_ref * n_cur / (n_ref + n_cur)), floored at 1 (scipy gives NaN for two
    single values). Vectorised: pass arrays to get many p-values in one call.
    """
    d = np.asarray(statistic, dtype=np.float64)
    n1 = np.asarray(n_ref, dtype=np.float64)
    n2 = np.asarray(n_cur, dtype=np.float64)
    big, small = np.maximum(n1, n2), np.minimum(n1, n2)
    en = np.maximum(np.round(big * small / (big + small)), 1.0)
    return np.clip(kstwo_sf(d, en), 0.0, 1.0)


def ks_2samp_sorted(ref_sorted: ArrayLike, current: ArrayLike) -> tuple[float, float]:
    """Two-sample two-sided Kolmogorov-Smirnov test against an ascending reference sample.

    Returns (statistic, p-value). The statistic equals scipy.stats.ks_2samp's; the
    p-value is its ``method="asymp"`` one (see ``ks_p_value``), which departs from the
    exact p-value on small samples: measured worst case over every attainable D,
    |asymp - exact| <= 0.13 at 10 x 10, <= 0.08 at 20 x 15 and 30 x 30, <= 0.03 at
    50 x 40, 100 x 80, 200 x 200, 500 x 300 and 1000 x 1000 (equal sizes are the worst
    case; references are usually far larger than windows). NaN/inf in ``current`` are
    ignored; ``EmptySampleError`` if nothing is left.
    """
    ref = _checked_ref(ref_sorted)
    cur = _sorted_current(current)
    d = _ks_statistic(ref.size, cur.size, *_reference_ranks(ref, cur))
    return d, float(ks_p_value(d, ref.size, cur.size))


def wasserstein_sorted(ref_sorted: ArrayLike, current: ArrayLike) -> float:
    """First Wasserstein distance between an ascending reference sample and ``current``.

    Equals scipy.stats.wasserstein_distance(ref, current). NaN/inf in ``current`` are ignored.
    """
    return wasserstein_coupled(_checked_ref(ref_sorted), _sorted_current(current))


def _drift_without_p(ref: NumericReference, cur_sorted: np.ndarray) -> tuple[float, float, float, float, float]:
    below, upto, first = _reference_ranks(ref.sorted_values, cur_sorted)
    d = _ks_statistic(ref.sorted_values.size, cur_sorted.size, below, upto, first)
    w = wasserstein_coupled(ref.sorted_values, cur_sorted)
    cur_fractions = bin_fractions_sorted(ref.bin_edges, cur_sorted)
    psi_value = psi(ref.bin_fractions, cur_fractions, PSI_EPS)
    js = jensen_shannon(ref.bin_fractions, cur_fractions)
    w_norm = w / ref.std if ref.std > 0 else w
    return d, psi_value, w, js, w_norm


def numeric_drift(ref: NumericReference, current: ArrayLike) -> NumericDrift:
    """KS (statistic, asymptotic p), PSI, Wasserstein and Jensen-Shannon of ``current`` vs ``ref``.

    PSI and Jensen-Shannon (base 2, so 0..1) compare the shares of the reference-
    quantile bins ``ref.bin_edges``. NaN/inf in ``current`` are ignored (they are
    data quality, not drift); ``EmptySampleError`` when no finite value is left.
    """
    cur = _sorted_current(current)
    d, psi_value, w, js, w_norm = _drift_without_p(ref, cur)
    p = float(ks_p_value(d, ref.sorted_values.size, cur.size))
    return NumericDrift(d, p, psi_value, w, js, int(cur.size), w_norm)


def numeric_drift_many(refs: Mapping[str, NumericReference],
                       current: Mapping[str, ArrayLike]) -> dict[str, NumericDrift]:
    """``numeric_drift`` for every feature present in both mappings, KS p-values in one vectorised call.

    A feature of ``current`` without a reference, with no finite value, or with values
    that are not numbers, is left out of the result (a data-quality finding, which must
    not stop the other features).
    """
    names: list[str] = []
    rows: list[tuple[float, float, float, float, float]] = []
    sizes: list[tuple[int, int]] = []
    for name, values in current.items():
        ref = refs.get(name)
        if ref is None:
            continue
        try:
            cur = _sorted_current(values)
        except ValueError:  # EmptySampleError included
            continue
        names.append(name)
        rows.append(_drift_without_p(ref, cur))
        sizes.append((ref.sorted_values.size, cur.size))
    if not names:
        return {}
    stats = np.asarray(rows)
    n = np.asarray(sizes)
    p = ks_p_value(stats[:, 0], n[:, 0], n[:, 1])
    return {
        name: NumericDrift(float(row[0]), float(pv), float(row[1]), float(row[2]), float(row[3]),
                           int(nn[1]), float(row[4]))
        for name, row, pv, nn in zip(names, stats, p, n)
    }


def clear_caches() -> None:
    """Drop the per-size caches (quantile couplings, Kolmogorov term tables); results do not change."""
    _clear_coupling_cache()
    _clear_kolmogorov_cache()


def with_bin_shares(result: NumericDrift, ref: NumericReference, cdf_at_edges: ArrayLike) -> NumericDrift:
    """``result`` with PSI and Jensen-Shannon recomputed from a CDF of every current value read at
    the reference bin edges (a sketch's), instead of from the sample the other statistics used."""
    shares = bin_fractions_from_cdf(cdf_at_edges)
    return dataclasses.replace(result, psi=psi(ref.bin_fractions, shares, PSI_EPS),
                               jensen_shannon=jensen_shannon(ref.bin_fractions, shares))
