"""Drift results -> gauges: one multiple-testing family over groups of results.

A group is the results of one window with its attributes: the whole model version, or one of its
segments. The p-values of every group passed together form one family, adjusted by
``drift.correction`` (Benjamini-Hochberg by default): the version's window is one family, its
per-segment windows another, over every (feature, segment, method) test. The verdicts themselves
come from ``stats.verdict.column_verdicts``, the code ``otel_ml.report`` uses too.
"""

from __future__ import annotations

from typing import Mapping, Sequence, Union

from otel_ml.processor.contracts import Point
from otel_ml.processor.engine_settings import DriftSettings
from otel_ml.semconv import Attr, DriftSubject, Metric
from otel_ml.stats.categorical import CategoricalDrift
from otel_ml.stats.numeric import NumericDrift
from otel_ml.stats.verdict import column_verdicts

__all__ = ["Result", "drift_points"]

Result = Union[NumericDrift, CategoricalDrift]
ColumnKey = tuple[str, str]


def drift_points(groups: Sequence[tuple[Mapping[str, str], Mapping[ColumnKey, Result]]],
                 drift: DriftSettings) -> list[Point]:
    """Score, p-values, severity per column and method, and drifted features, of every group."""
    results = {(g, key): res for g, (_, group) in enumerate(groups) for key, res in group.items()}
    verdicts = column_verdicts(results, drift.tiers, drift.correction, drift.alpha)
    out: list[Point] = []
    for g, (base, group) in enumerate(groups):
        drifted = 0
        for key in group:
            subject, name = key
            verdict = verdicts[(g, key)]
            for method, v in verdict.methods.items():
                attrs = {**base, Attr.FEATURE_NAME: name, Attr.DRIFT_SUBJECT: subject, Attr.DRIFT_METHOD: method}
                out.append(Point(Metric.DRIFT_SCORE, v.score, attrs))
                if v.p_value_adjusted is not None:
                    out.append(Point(Metric.DRIFT_P_VALUE, v.p_value, attrs))
                    out.append(Point(Metric.DRIFT_P_VALUE_ADJUSTED, v.p_value_adjusted, attrs))
                out.append(Point(Metric.DRIFT_SEVERITY, float(v.severity), attrs))
            if subject == DriftSubject.FEATURE and verdict.drifted:
                drifted += 1
        if any(k[0] == DriftSubject.FEATURE for k in group):
            out.append(Point(Metric.DRIFTED_FEATURES, float(drifted), dict(base)))
    return out
