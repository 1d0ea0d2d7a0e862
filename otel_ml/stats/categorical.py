"""Categorical drift of a window against a reference: chi-square, PSI, Cramer's V and Jensen-Shannon.

Values the reference never saw are pooled into one extra "unseen" cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.special import chdtrc

from otel_ml.stats.divergence import PSI_EPS, jensen_shannon, psi
from otel_ml.stats.references import CategoricalReference
from otel_ml.stats.sample_errors import EmptySampleError
from otel_ml.stats.samples import category_strings
from otel_ml.stats.severity import METHOD_CHI2, METHOD_JENSEN_SHANNON, METHOD_PSI

__all__ = [
    "CategoricalDrift", "categorical_drift", "categorical_drift_counts", "cramers_v", "UNSEEN_EXPECTED_SHARE",
]

#: Expected share of the pooled unseen cell in the chi-square test. The reference saw
#: no such value, so its expected count would be 0 and the statistic infinite. With
#: this floor a window of 1000 expects one unseen value (adding 0 to chi2 if it has
#: one), and ten unseen values add (10 - 1)^2 / 1 = 81: unseen categories count as
#: drift, but a stray typo does not.
UNSEEN_EXPECTED_SHARE = 1e-3


@dataclass(frozen=True)
class CategoricalDrift:
    """Drift of one categorical window against its reference.

    ``chi2_*``: goodness of fit of the window's counts to the reference shares.
    ``cramers_v``: 0 (same shares) .. 1 (disjoint categories), the score the chi2
    tiers apply to. ``unseen_ratio``: share of the window in categories the
    reference lacks. ``n``: values counted (None/NaN dropped).
    """

    chi2_statistic: float
    chi2_p_value: float
    psi: float
    cramers_v: float
    jensen_shannon: float
    unseen_ratio: float
    n: int

    def score(self, method: str) -> float:
        """The score the tiers of ``method`` apply to."""
        scores = {METHOD_CHI2: self.cramers_v, METHOD_PSI: self.psi, METHOD_JENSEN_SHANNON: self.jensen_shannon}
        if method not in scores:
            raise ValueError(f"method: {method!r} is not a categorical drift method ({', '.join(scores)})")
        return scores[method]

    def p_value(self, method: str) -> float | None:
        """Raw p-value of ``method``, None for methods without one."""
        self.score(method)
        return self.chi2_p_value if method == METHOD_CHI2 else None


def cramers_v(p: np.ndarray, q: np.ndarray) -> float:
    """Cramer's V of the 2 x k table (reference row, current row) with both rows scaled to one size.

    Depends only on the two share vectors: V^2 = 1/2 * sum (p - q)^2 / (p + q).
    Equals scipy.stats.contingency.association(method="cramer") on equal-size count rows.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    total = p + q
    used = total > 0
    v2 = 0.5 * np.sum((p[used] - q[used]) ** 2 / total[used])
    return float(np.sqrt(min(max(v2, 0.0), 1.0)))


def categorical_drift(ref: CategoricalReference, current: Sequence[Any],
                      unseen_share: float = UNSEEN_EXPECTED_SHARE) -> CategoricalDrift:
    """Chi-square, PSI, Cramer's V and Jensen-Shannon of ``current``'s categories vs ``ref``.

    Chi-square: observed counts per reference category against ``n * ref.fractions``
    (scipy.stats.chisquare). When the window has unseen values they form one more
    cell with expected share ``unseen_share`` (the reference shares are scaled by
    ``1 - unseen_share``). With a single cell there is nothing to test: statistic 0,
    p-value 1. PSI, V and JS use the reference categories plus the unseen cell
    (reference share 0). None/NaN in ``current`` are dropped; ``EmptySampleError``
    when nothing is left.
    """
    counts, unseen = ref.index_counts(category_strings(current))
    return _drift_from_cells(ref, counts, unseen, unseen_share)


def categorical_drift_counts(ref: CategoricalReference, counts: Mapping[Any, int],
                             unseen_share: float = UNSEEN_EXPECTED_SHARE) -> CategoricalDrift:
    """``categorical_drift`` from a window already counted per category (keys compared by ``str()``).

    Same result as ``categorical_drift`` on the values the counts describe, at the cost
    of the number of distinct categories. Counts must be integers >= 0.
    """
    if not isinstance(counts, Mapping):
        raise ValueError(f"counts: expected a mapping category -> count, got {type(counts).__name__}")
    keys = np.array([str(k) for k in counts], dtype=str)  # one entry per distinct category
    try:
        values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    except (TypeError, ValueError):
        raise ValueError("counts: every count must be a number") from None
    if values.size and (not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values))):
        raise ValueError("counts: every count must be an integer >= 0")
    cells = np.zeros(len(ref.categories) + 1, dtype=np.int64)
    if keys.size:
        np.add.at(cells, ref.cell_index(keys), values.astype(np.int64))
    return _drift_from_cells(ref, cells[:-1], int(cells[-1]), unseen_share)


def _drift_from_cells(ref: CategoricalReference, counts: np.ndarray, unseen: int,
                      unseen_share: float) -> CategoricalDrift:
    if not (0 < unseen_share < 1):
        raise ValueError(f"unseen_share: must be in (0, 1), got {unseen_share!r}")
    n = int(counts.sum()) + unseen
    if n == 0:
        raise EmptySampleError("current: no category value to compare with the reference")
    ref_shares = ref.fractions
    if unseen:
        observed = np.append(counts, unseen).astype(np.float64)
        expected = n * np.append(ref_shares * (1.0 - unseen_share), unseen_share)
    else:
        observed = counts.astype(np.float64)
        expected = n * ref_shares
    if observed.size > 1:
        chi2 = float(np.sum((observed - expected) ** 2 / expected))
        p_value = float(chdtrc(observed.size - 1, chi2))
    else:
        chi2, p_value = 0.0, 1.0
    ref_cells = np.append(ref_shares, 0.0)
    cur_cells = np.append(counts, unseen) / n
    return CategoricalDrift(
        chi2_statistic=chi2,
        chi2_p_value=p_value,
        psi=psi(ref_cells, cur_cells, PSI_EPS),
        cramers_v=cramers_v(ref_cells, cur_cells),
        jensen_shannon=jensen_shannon(ref_cells, cur_cells),
        unseen_ratio=unseen / n,
        n=n,
    )
