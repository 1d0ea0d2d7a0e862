"""Categorical drift of a window against a reference: chi-square, PSI, Cramer's V and Jensen-Shannon.

Values the reference never saw are pooled into one extra "unseen" cell.

Chi-square has two forms. A reference counted on a sample (``CategoricalReference.count`` set,
the default for profiles built from data) is itself a noisy estimate, so the window is tested
as a second sample: the 2 x k contingency table (reference counts, window counts), equal to
``scipy.stats.chi2_contingency`` (Yates' correction at one degree of freedom, as SciPy does).
Only shares declared exact (``exact=True``) or without a count are tested by goodness of fit,
which treats them as the truth and gives smaller p-values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.special import chdtrc

from otel_ml.stats.divergence import PSI_EPS, jensen_shannon, psi
from otel_ml.stats.references import CategoricalReference
from otel_ml.stats.errors import EmptySampleError
from otel_ml.stats.samples import category_strings
from otel_ml.stats.severity import METHOD_CHI2, METHOD_JENSEN_SHANNON, METHOD_PSI

__all__ = [
    "CategoricalDrift", "categorical_drift", "categorical_drift_counts", "contingency_chi2", "cramers_v",
    "UNSEEN_EXPECTED_SHARE",
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

    ``chi2_*``: the two-sample contingency test of the window's counts against the reference
    counts (goodness of fit to the shares when they are exact).
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

    Chi-square: two-sample (``contingency_chi2`` of the reference's sample counts and the
    window's counts, unseen values in one more cell) unless the reference shares are exact;
    then goodness of fit, observed counts against ``n * ref.fractions`` (scipy.stats.chisquare),
    unseen values forming one more cell with expected share ``unseen_share`` (the reference
    shares scaled by ``1 - unseen_share``). With a single cell there is nothing to test:
    statistic 0, p-value 1. PSI, V and JS use the reference categories plus the unseen cell
    (reference share 0). None/NaN in ``current`` are dropped; ``EmptySampleError``
    when nothing is left.
    """
    counts, unseen = ref.index_counts(category_strings(current))
    return _drift_from_cells(ref, counts, unseen, unseen_share)


def categorical_drift_counts(ref: CategoricalReference, counts: Mapping[Any, int],
                             unseen_share: float = UNSEEN_EXPECTED_SHARE, *, max_test_n: int | None = None,
                             rng: np.random.Generator | None = None) -> CategoricalDrift:
    """``categorical_drift`` from a window already counted per category (keys compared by ``str()``).

    Same result as ``categorical_drift`` on the values the counts describe, at the cost
    of the number of distinct categories. Counts must be integers >= 0. With ``max_test_n``
    the chi-square test runs on a uniform subsample of that many values (multivariate
    hypergeometric, drawn with ``rng``), so a long window's p-value has the power of a window of
    that size; PSI, V, JS and the unseen share always use every count.
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
    if max_test_n is not None and (isinstance(max_test_n, bool) or int(max_test_n) < 1):
        raise ValueError(f"max_test_n: must be a positive integer or None, got {max_test_n!r}")
    cells = np.zeros(len(ref.categories) + 1, dtype=np.int64)
    if keys.size:
        np.add.at(cells, ref.cell_index(keys), values.astype(np.int64))
    tested = cells
    if max_test_n is not None and cells.sum() > max_test_n:
        gen = rng if rng is not None else np.random.default_rng(0)
        tested = gen.multivariate_hypergeometric(cells, int(max_test_n))
    return _drift_from_cells(ref, cells[:-1], int(cells[-1]), unseen_share, tested)


def _goodness_of_fit(ref: CategoricalReference, cells: np.ndarray, unseen_share: float) -> tuple[float, float]:
    """Chi-square of window counts (reference cells + unseen) against the reference shares."""
    n = cells.sum()
    if cells[-1]:
        observed = cells.astype(np.float64)
        expected = n * np.append(ref.fractions * (1.0 - unseen_share), unseen_share)
    else:
        observed = cells[:-1].astype(np.float64)
        expected = n * ref.fractions
    if observed.size < 2:
        return 0.0, 1.0
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    return chi2, float(chdtrc(observed.size - 1, chi2))


def contingency_chi2(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity of two count rows (statistic, p-value), as
    ``scipy.stats.chi2_contingency`` computes it (Yates' correction when dof is 1); cells empty
    in both rows are left out, and fewer than two cells left means nothing to test (0, 1)."""
    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    dof = table.shape[1] - 1
    if dof == 1:
        diff = expected - table
        table = table + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    chi2 = float(np.sum((table - expected) ** 2 / expected))
    return chi2, float(chdtrc(dof, chi2))


def _drift_from_cells(ref: CategoricalReference, counts: np.ndarray, unseen: int,
                      unseen_share: float, tested: np.ndarray | None = None) -> CategoricalDrift:
    if not (0 < unseen_share < 1):
        raise ValueError(f"unseen_share: must be in (0, 1), got {unseen_share!r}")
    n = int(counts.sum()) + unseen
    if n == 0:
        raise EmptySampleError("current: no category value to compare with the reference")
    cells = np.append(counts, unseen) if tested is None else np.asarray(tested, dtype=np.int64)
    if ref.two_sample:
        chi2, p_value = contingency_chi2(np.append(ref.sample_counts, 0), cells)
    else:
        chi2, p_value = _goodness_of_fit(ref, cells, unseen_share)
    ref_cells = np.append(ref.fractions, 0.0)
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
