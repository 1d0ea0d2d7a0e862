"""Drift results -> gauges: one multiple-testing family over groups of results.

A group is the results of one window with its attributes: the whole model version, or one of its
segments. The p-values of every group passed together form one family, adjusted by
``drift.correction`` (Benjamini-Hochberg by default): the version's window is one family, its
per-segment windows another, over every (feature, segment, method) test.
"""

from __future__ import annotations

from typing import Mapping, Sequence, Union

from otel_ml.processor.contracts import Point
from otel_ml.processor.engine_settings import DriftSettings
from otel_ml.semconv import Attr, DriftSubject, Metric
from otel_ml.stats.categorical import CategoricalDrift
from otel_ml.stats.multitest import adjust
from otel_ml.stats.numeric import NumericDrift
from otel_ml.stats.severity import (
    CATEGORICAL_METHODS, METHOD_WASSERSTEIN, METHODS_WITH_P_VALUE, NUMERIC_METHODS, SEVERITY_NONE,
    SEVERITY_WARNING, severity,
)

__all__ = ["Result", "drift_points", "methods", "raw_score"]

Result = Union[NumericDrift, CategoricalDrift]
ColumnKey = tuple[str, str]


def methods(res: Result) -> tuple[str, ...]:
    return NUMERIC_METHODS if isinstance(res, NumericDrift) else CATEGORICAL_METHODS


def raw_score(res: Result, method: str) -> float:
    """What ``ml.drift.score`` shows: the tiered score, except Wasserstein in the feature's units."""
    if isinstance(res, NumericDrift) and method == METHOD_WASSERSTEIN:
        return float(res.wasserstein)
    return float(res.score(method))


def drift_points(groups: Sequence[tuple[Mapping[str, str], Mapping[ColumnKey, Result]]],
                 drift: DriftSettings) -> list[Point]:
    """Score, p-values, severity per column and method, and drifted features, of every group."""
    family = [(g, key, m) for g, (_, results) in enumerate(groups) for key, res in results.items()
              for m in methods(res) if m in METHODS_WITH_P_VALUE]
    raw_p = [groups[g][1][key].p_value(m) for g, key, m in family]
    adjusted = dict(zip(family, adjust(raw_p, drift.correction).tolist())) if family else {}
    out: list[Point] = []
    for g, (base, results) in enumerate(groups):
        drifted = 0
        for key, res in results.items():
            subject, name = key
            worst = SEVERITY_NONE
            for method in methods(res):
                attrs = {**base, Attr.FEATURE_NAME: name, Attr.DRIFT_SUBJECT: subject, Attr.DRIFT_METHOD: method}
                p_adj = adjusted.get((g, key, method))
                sev = severity(res.score(method), drift.tiers[method], p_adj, drift.alpha)
                worst = max(worst, sev)
                out.append(Point(Metric.DRIFT_SCORE, raw_score(res, method), attrs))
                if p_adj is not None:
                    out.append(Point(Metric.DRIFT_P_VALUE, float(res.p_value(method)), attrs))
                    out.append(Point(Metric.DRIFT_P_VALUE_ADJUSTED, float(p_adj), attrs))
                out.append(Point(Metric.DRIFT_SEVERITY, float(sev), attrs))
            if subject == DriftSubject.FEATURE and worst >= SEVERITY_WARNING:
                drifted += 1
        if any(k[0] == DriftSubject.FEATURE for k in results):
            out.append(Point(Metric.DRIFTED_FEATURES, float(drifted), dict(base)))
    return out
