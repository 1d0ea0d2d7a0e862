"""One column of the current data read against its reference profile: values, data quality, pictures.

Columns are converted and checked exactly as the drift engine converts and checks a batch
(``processor.quality``), so the ratios match ``ml.data_quality.ratio`` on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from otel_ml.processor import quality
from otel_ml.processor.profile import CategoricalProfile, ColumnProfile, NumericProfile
from otel_ml.semconv import QualityCheck

__all__ = ["CurrentColumn", "read_current", "NumericPlot", "CategoricalPlot", "numeric_plot",
           "categorical_plot", "HIST_BINS", "MAX_BARS"]

#: Histogram bins of the numeric pictures, over the central 99% of both samples.
HIST_BINS = 40
#: Categories drawn per categorical picture (the largest shares; the rest are pooled as "other").
MAX_BARS = 15
#: Unseen categories listed by name per feature (all are counted).
MAX_UNSEEN_LISTED = 20


@dataclass
class CurrentColumn:
    """The current values of one column: ``values`` feed the drift statistics (float64 with NaN
    for numeric columns, category keys with None for categorical ones); ``quality`` maps each
    applicable check to its share of the current rows."""

    values: np.ndarray
    quality: dict[str, float]
    unseen: dict[str, int] = field(default_factory=dict)
    unseen_total: int = 0


def read_current(profile: ColumnProfile, raw: np.ndarray) -> CurrentColumn:
    """Convert and check ``raw`` against ``profile`` (as the engine's ``_apply`` does)."""
    n = max(len(raw), 1)
    if isinstance(profile, NumericProfile):
        col = quality.numeric_column(raw)
        flags = quality.numeric_flags(col, profile.min, profile.max, profile.iqr_low, profile.iqr_high)
        x = col.x if np.isfinite(col.x).all() else np.where(np.isfinite(col.x), col.x, np.nan)
        return CurrentColumn(x, _ratios(flags, quality.NUMERIC_CHECKS, n))
    col = quality.categorical_column(raw)
    flags = quality.categorical_flags(col, profile.categories, profile.value_type)
    keys = col.keys
    unseen_mask = (flags & quality.bit(QualityCheck.UNSEEN_CATEGORY)) > 0
    unseen: dict[str, int] = {}
    total = 0
    if unseen_mask.any():
        names, counts = np.unique(keys[unseen_mask].astype(str), return_counts=True)
        total = int(names.size)
        top = np.argsort(-counts, kind="stable")[:MAX_UNSEEN_LISTED]
        unseen = {str(names[i]): int(counts[i]) for i in top}
    return CurrentColumn(keys, _ratios(flags, quality.CATEGORICAL_CHECKS, n), unseen, total)


def _ratios(flags: np.ndarray, checks: tuple[str, ...], n: int) -> dict[str, float]:
    counts = quality.flag_counts(flags)
    # missing_feature cannot happen here: only columns present in the current data are read.
    return {c: float(counts[quality.CHECKS.index(c)] / n) for c in checks if c != QualityCheck.MISSING_FEATURE}


@dataclass
class NumericPlot:
    """Overlaid densities of reference and current on shared bins (the central 99% of both)."""

    edges: np.ndarray
    reference: np.ndarray
    current: np.ndarray
    outside: float  # share of all values left outside the drawn range


@dataclass
class CategoricalPlot:
    """Paired bars: shares per category, unseen ones flagged, small ones pooled as "other"."""

    labels: list[str]
    reference: np.ndarray
    current: np.ndarray
    unseen: list[bool]


def numeric_plot(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> NumericPlot:
    """Densities of both sorted samples on ``HIST_BINS`` shared bins (searchsorted: O(bins log n))."""
    lo = min(ref_sorted[int(0.005 * (ref_sorted.size - 1))], cur_sorted[int(0.005 * (cur_sorted.size - 1))])
    hi = max(ref_sorted[int(0.995 * (ref_sorted.size - 1))], cur_sorted[int(0.995 * (cur_sorted.size - 1))])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    width = edges[1] - edges[0]

    def density(s: np.ndarray) -> tuple[np.ndarray, int]:
        pos = np.searchsorted(s, edges, side="left")
        pos[-1] = np.searchsorted(s, edges[-1], side="right")
        counts = np.diff(pos)
        return counts / (s.size * width), int(s.size - counts.sum())

    ref_d, ref_out = density(ref_sorted)
    cur_d, cur_out = density(cur_sorted)
    return NumericPlot(edges, ref_d, cur_d, (ref_out + cur_out) / (ref_sorted.size + cur_sorted.size))


def categorical_plot(profile: CategoricalProfile, keys: np.ndarray) -> CategoricalPlot:
    """Shares of the reference categories and of the current data's unseen ones, largest first."""
    ref = profile.reference
    present = keys[np.not_equal(keys, None)].astype(str)
    n = max(present.size, 1)
    cur_counts, _unseen = ref.index_counts(present)
    labels = list(ref.categories)
    ref_shares = list(ref.fractions)
    cur_shares = list(cur_counts / n)
    flags = [False] * len(labels)
    if _unseen:
        mask = ref.cell_index(present) == len(ref.categories)
        names, counts = np.unique(present[mask], return_counts=True)
        labels += [str(x) for x in names]
        ref_shares += [0.0] * names.size
        cur_shares += list(counts / n)
        flags += [True] * names.size
    r, c = np.asarray(ref_shares), np.asarray(cur_shares)
    order = np.argsort(-np.maximum(r, c), kind="stable")
    keep, rest = order[:MAX_BARS], order[MAX_BARS:]
    out_labels = [labels[i] for i in keep]
    out_flags = [flags[i] for i in keep]
    r_out, c_out = list(r[keep]), list(c[keep])
    if rest.size:
        out_labels.append(f"other ({rest.size})")
        out_flags.append(False)
        r_out.append(float(r[rest].sum()))
        c_out.append(float(c[rest].sum()))
    return CategoricalPlot(out_labels, np.asarray(r_out), np.asarray(c_out), out_flags)
