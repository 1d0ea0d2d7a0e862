"""Data-quality gauges of one window: count and ratio per feature and check, and the profile's
own rate per check (``ml.data_quality.count`` / ``.ratio`` / ``.reference_ratio``)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from otel_ml.processor import quality
from otel_ml.processor.contracts import Point
from otel_ml.processor.drift_state import CONF_CHECKS, CONF_QUALITY, DriftSchema
from otel_ml.processor.windows import CountView, TimeView
from otel_ml.semconv import Attr, Metric

__all__ = ["quality_points", "reference_quality_points"]


def quality_points(schema: DriftSchema, view: CountView | TimeView, base: Mapping[str, str]) -> list[Point]:
    """Count and ratio per feature and applicable check; extra features (capped, with the
    overflow bucket) are the flagged names outside the schema."""
    out: list[Point] = []
    total = view.events
    conf = CONF_QUALITY if CONF_QUALITY not in schema.names else None
    extras = sorted(name for name in view.check_counts
                    if name not in schema.numeric and name not in schema.categorical and name != conf)
    rows = [(name, quality.NUMERIC_CHECKS) for name in schema.numeric]
    rows += [(name, quality.CATEGORICAL_CHECKS) for name in schema.categorical]
    rows += [(name, quality.EXTRA_CHECKS) for name in extras]
    if conf is not None and conf in view.check_counts:
        rows.append((conf, CONF_CHECKS))
    empty = np.zeros(len(quality.CHECKS), dtype=np.int64)
    for name, checks in rows:
        counts = view.check_counts.get(name, empty)
        for check in checks:
            c = int(counts[quality.CHECKS.index(check)])
            attrs = {**base, Attr.FEATURE_NAME: name, Attr.DATA_QUALITY_CHECK: check}
            out.append(Point(Metric.DATA_QUALITY_COUNT, float(c), attrs))
            out.append(Point(Metric.DATA_QUALITY_RATIO, c / total, attrs))
    return out


def reference_quality_points(schema: DriftSchema, base: Mapping[str, str]) -> list[Point]:
    """The profile's own rate per feature and check (``ml.data_quality.reference_ratio``)."""
    out: list[Point] = []
    for name, col in [*schema.numeric.items(), *schema.categorical.items()]:
        for check, rate in col.rates.items():
            attrs = {**base, Attr.FEATURE_NAME: name, Attr.DATA_QUALITY_CHECK: check}
            out.append(Point(Metric.DATA_QUALITY_REFERENCE_RATIO, float(rate), attrs))
    return out
