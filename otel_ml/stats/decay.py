"""Is performance worse than its baseline, is it getting worse, and when will it cross the line?

Significance: a one-sided two-proportion z-test for accuracy (baseline and current window are
both samples), an exact binomial test when the baseline count is unknown, and a percentile
bootstrap (seeded, vectorised resampling weights) for every other metric. Trend: ordinary least
squares of metric over time; the forecast extrapolates it to the threshold level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

__all__ = [
    "ZTest",
    "Trend",
    "two_proportion_ztest",
    "binomial_drop_p_value",
    "bootstrap_weights",
    "bootstrap_drop_p_value",
    "decay_amount",
    "threshold_drop",
    "linear_trend",
    "time_to_threshold",
]


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float


def two_proportion_ztest(successes_base: float, n_base: float, successes_cur: float,
                         n_cur: float) -> ZTest:
    """One-sided pooled z-test of H1: the current proportion is below the baseline's.

    z = (p_base - p_cur) / sqrt(p (1 - p) (1/n_base + 1/n_cur)) with the pooled p; the p-value
    is the upper tail. With no variance (all right or all wrong in both) there is no evidence: p=1.
    """
    if n_base <= 0 or n_cur <= 0:
        raise ValueError("both samples need at least one observation")
    p_base = successes_base / n_base
    p_cur = successes_cur / n_cur
    pooled = (successes_base + successes_cur) / (n_base + n_cur)
    var = pooled * (1.0 - pooled) * (1.0 / n_base + 1.0 / n_cur)
    if var <= 0.0:
        return ZTest(0.0, 1.0)
    z = (p_base - p_cur) / math.sqrt(var)
    return ZTest(float(z), float(stats.norm.sf(z)))


def binomial_drop_p_value(successes: int, n: int, p_base: float) -> float:
    """Exact one-sided binomial test of H1: the success rate is below a fixed ``p_base``."""
    if n <= 0:
        raise ValueError("need at least one observation")
    p0 = min(max(float(p_base), 0.0), 1.0)
    return float(stats.binomtest(int(successes), int(n), p0, alternative="less").pvalue)


def bootstrap_weights(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(resamples, n)`` case counts of resampling n items with replacement."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def bootstrap_drop_p_value(statistic: Callable[[np.ndarray], np.ndarray], n: int,
                           baseline: float, *, higher_is_better: bool = True,
                           resamples: int = 500, rng: np.random.Generator | None = None,
                           max_cells: int = 2_000_000) -> float:
    """Percentile-bootstrap p-value of H1: the metric is worse than ``baseline``.

    ``statistic`` takes a ``(b, n)`` weight matrix and returns one metric per row. The p-value
    is the share of resampled metrics that are no worse than the baseline, with the usual +1
    correction so it is never 0: (1 + #{theta* no worse}) / (B + 1). Resamples are drawn in
    chunks of at most ``max_cells`` weights, so memory stays bounded whatever n is.
    """
    if n <= 0:
        raise ValueError("need at least one observation")
    rng = rng if rng is not None else np.random.default_rng(0)
    chunk = max(1, min(resamples, max_cells // n))
    values = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        values.append(np.asarray(statistic(bootstrap_weights(n, size, rng)), dtype=float).ravel())
    v = np.concatenate(values)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan")
    no_worse = v >= baseline if higher_is_better else v <= baseline
    return float((1 + np.count_nonzero(no_worse)) / (v.size + 1))


def decay_amount(baseline: float, current: float, higher_is_better: bool = True) -> float:
    """How much worse current is than baseline (positive = worse), whatever the direction."""
    return baseline - current if higher_is_better else current - baseline


def threshold_drop(baseline: float, absolute: float | None, relative: float | None) -> float:
    """The smallest configured drop that counts as decay: ``absolute`` or ``relative`` x |baseline|."""
    options = []
    if absolute is not None:
        options.append(float(absolute))
    if relative is not None:
        options.append(float(relative) * abs(float(baseline)))
    if not options:
        raise ValueError("a decay threshold needs an absolute or a relative drop")
    return min(options)


@dataclass(frozen=True)
class Trend:
    """Least-squares line ``value = intercept + slope * t`` (t in seconds)."""

    slope: float
    intercept: float
    n: int

    def at(self, t: float) -> float:
        return self.intercept + self.slope * t


def linear_trend(t: np.ndarray, values: np.ndarray) -> Trend | None:
    """OLS slope and intercept; None with fewer than two distinct times."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(values, dtype=float)
    keep = ~(np.isnan(t) | np.isnan(v))
    t, v = t[keep], v[keep]
    if t.size < 2 or np.ptp(t) == 0:
        return None
    tm, vm = t.mean(), v.mean()
    dt = t - tm
    slope = float((dt * (v - vm)).sum() / (dt * dt).sum())
    return Trend(slope=slope, intercept=float(vm - slope * tm), n=int(t.size))


def time_to_threshold(trend: Trend, level: float, now: float,
                      higher_is_better: bool = True) -> float | None:
    """Seconds from ``now`` until the trend line reaches ``level``; 0 if it already has.

    None when the trend is not heading towards the level (flat or improving).
    """
    worsening = trend.slope < 0 if higher_is_better else trend.slope > 0
    current = trend.at(now)
    crossed = current <= level if higher_is_better else current >= level
    if crossed:
        return 0.0
    if not worsening:
        return None
    return float((level - current) / trend.slope)
