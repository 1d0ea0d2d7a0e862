"""Multivariate drift in the drift engine: joint rows of the numeric features in, one verdict out.

A profile with a ``multivariate`` section names its numeric features. At ingest their values
(NaN where missing) form rows: the count window already keeps them aligned (``CountWindow.view``
with ``row_keys``), the time window keeps a uniform row reservoir per pane. At evaluation the
window's rows are judged by the profile's domain classifier (``otel_ml.stats.multivariate``) and
exported as ``ml.drift.score`` (AUC), ``.p_value``, ``.p_value.adjusted`` (one test per window:
the same value) and ``.severity`` with ``ml.drift.subject`` = ``multivariate``,
``ml.feature.name`` = ``_all`` and ``ml.drift.method`` = ``domain_classifier``.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np

from otel_ml.processor.contracts import Point
from otel_ml.processor.engine_settings import DriftSettings
from otel_ml.processor.profile import Profile
from otel_ml.semconv import FEATURE_ALL, Attr, DriftSubject, Metric
from otel_ml.stats.multivariate import MIN_ROWS
from otel_ml.stats.errors import EmptySampleError
from otel_ml.stats.severity import METHOD_DOMAIN_CLASSIFIER

__all__ = ["row_keys", "ingest_rows", "multivariate_points"]

log = logging.getLogger(__name__)

ColumnKey = tuple[str, str]


def row_keys(profile: Profile, settings: DriftSettings) -> list[ColumnKey]:
    """The window columns that form a row, in the reference's order (none when off)."""
    if not settings.multivariate or profile.multivariate is None:
        return []
    return [(DriftSubject.FEATURE, name) for name in profile.multivariate.features]


def ingest_rows(keys: list[ColumnKey], numeric: Mapping[ColumnKey, np.ndarray], n: int) -> np.ndarray | None:
    """Rows (n x keys, NaN where missing) for the time window's row reservoir; rows with no
    value at all are left out (they say nothing about the joint law)."""
    if not keys or n <= 0:
        return None
    missing = np.full(n, np.nan)
    rows = np.column_stack([numeric.get(k, missing) for k in keys])
    keep = ~np.isnan(rows).all(axis=1)
    return rows if keep.all() else rows[keep]


def multivariate_points(profile: Profile, rows: np.ndarray | None, base: Mapping[str, str],
                        settings: DriftSettings, min_events: int, seed: int | None) -> list[Point]:
    """The four drift gauges of a window's rows, or none (off, no rows, or too few of them).

    The classifier's sampling and split come from ``seed`` (None: 0), not from the window: the
    same rows give the same verdict at every evaluation instead of a flickering gauge.
    """
    mv = profile.multivariate
    if not settings.multivariate or mv is None or rows is None:
        return []
    if rows.ndim != 2 or rows.shape[1] != len(mv.features):
        return []  # rows of an older layout (restored checkpoint): wait for fresh ones
    if np.count_nonzero(~np.isnan(rows).all(axis=1)) < max(min_events, MIN_ROWS):
        return []
    try:
        rng = np.random.default_rng(0 if seed is None else seed)
        verdict = mv.score(rows, rng, settings.tiers[METHOD_DOMAIN_CLASSIFIER], settings.alpha)
    except EmptySampleError:
        return []
    attrs = {**base, Attr.FEATURE_NAME: FEATURE_ALL, Attr.DRIFT_SUBJECT: DriftSubject.MULTIVARIATE,
             Attr.DRIFT_METHOD: verdict.method}
    return [Point(Metric.DRIFT_SCORE, verdict.score, attrs),
            Point(Metric.DRIFT_P_VALUE, verdict.p_value, attrs),
            Point(Metric.DRIFT_P_VALUE_ADJUSTED, verdict.p_value, attrs),
            Point(Metric.DRIFT_SEVERITY, float(verdict.severity), attrs)]
