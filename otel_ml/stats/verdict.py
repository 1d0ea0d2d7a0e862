"""Per-column drift verdicts: one p-value family, per-method severity tiers and the worst tier.

The processor's drift engine and ``otel_ml.report`` both judge columns with ``column_verdicts``,
so an alert and a report on the same data say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, TypeVar, Union

from otel_ml.stats.categorical import CategoricalDrift
from otel_ml.stats.multitest import adjust
from otel_ml.stats.numeric import NumericDrift
from otel_ml.stats.severity import (
    CATEGORICAL_METHODS, METHOD_WASSERSTEIN, METHODS_WITH_P_VALUE, NUMERIC_METHODS, SEVERITY_NONE,
    SEVERITY_WARNING, Tiers, severity,
)

__all__ = ["DRIFTED_SEVERITY", "MethodVerdict", "ColumnVerdict", "drift_methods", "displayed_score",
           "column_verdicts"]

#: A column counts as drifted (``ml.drift.drifted_features``, the report's summary) from this tier on.
DRIFTED_SEVERITY = SEVERITY_WARNING

Drift = Union[NumericDrift, CategoricalDrift]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class MethodVerdict:
    """One method's result: ``score`` is what ``ml.drift.score`` shows (Wasserstein in the feature's
    units), ``p_value`` / ``p_value_adjusted`` are None for methods without a test."""

    method: str
    score: float
    p_value: float | None
    p_value_adjusted: float | None
    severity: int


@dataclass(frozen=True)
class ColumnVerdict:
    """Every method's verdict on one column and the worst tier among them."""

    methods: dict[str, MethodVerdict]
    severity: int

    @property
    def drifted(self) -> bool:
        return self.severity >= DRIFTED_SEVERITY


def drift_methods(res: Drift) -> tuple[str, ...]:
    """The methods computed for a result: numeric or categorical ones."""
    return NUMERIC_METHODS if isinstance(res, NumericDrift) else CATEGORICAL_METHODS


def displayed_score(res: Drift, method: str) -> float:
    """What ``ml.drift.score`` shows: the tiered score, except Wasserstein in the feature's units."""
    if isinstance(res, NumericDrift) and method == METHOD_WASSERSTEIN:
        return float(res.wasserstein)
    return float(res.score(method))


def column_verdicts(results: Mapping[K, Drift], tiers: Mapping[str, Tiers], correction: str,
                    alpha: float) -> dict[K, ColumnVerdict]:
    """Verdicts of every column in ``results`` (one model, one window).

    The p-values of all columns (KS per numeric, chi2 per categorical) form one family adjusted
    by ``correction``; each method is tiered by ``tiers[method]``, and a method with a p-value
    needs an adjusted p-value below ``alpha`` for any tier above none.
    """
    family = [(key, m) for key, res in results.items() for m in drift_methods(res) if m in METHODS_WITH_P_VALUE]
    raw_p = [results[key].p_value(m) for key, m in family]
    adjusted = dict(zip(family, adjust(raw_p, correction).tolist())) if family else {}
    out: dict[K, ColumnVerdict] = {}
    for key, res in results.items():
        methods: dict[str, MethodVerdict] = {}
        worst = SEVERITY_NONE
        for method in drift_methods(res):
            p_adj = adjusted.get((key, method))
            sev = severity(res.score(method), tiers[method], p_adj, alpha)
            worst = max(worst, sev)
            p_raw = res.p_value(method)
            methods[method] = MethodVerdict(method, displayed_score(res, method),
                                            None if p_raw is None else float(p_raw),
                                            None if p_adj is None else float(p_adj), sev)
        out[key] = ColumnVerdict(methods, worst)
    return out
