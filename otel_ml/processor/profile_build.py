"""Building reference profiles from data: column kinds, per-column references and quality rates,
the multivariate reference (the file format and the store are in ``profile``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import numpy as np

from otel_ml.processor import quality
from otel_ml.processor.profile import (
    CATEGORICAL, NUMERIC, CategoricalProfile, ColumnProfile, NumericProfile, Profile,
)
from otel_ml.semconv import QualityCheck
from otel_ml.stats.multivariate import MIN_ROWS, DomainClassifierReference, fit_domain_reference
from otel_ml.stats.outliers import iqr_bounds
from otel_ml.stats.references import CategoricalReference, NumericReference
from otel_ml.stats.errors import EmptySampleError

__all__ = ["OUTLIER_IQR_K", "MAX_CLASS_LABELS", "build_column_profile", "build_multivariate",
           "build_profile", "infer_kind"]

#: Outlier fences are Tukey's "far out" ones (k = 3), not the 1.5 of box plots: on skewed
#: but perfectly clean features (areas, concentrations) 5-10 % of values lie beyond 1.5 IQR,
#: which would make the data-quality alert fire on healthy traffic; beyond 3 IQR it is ~1 %.
OUTLIER_IQR_K = 3.0
#: Numbers with at most this many distinct integral values are class labels when a
#: prediction column's kind is inferred (regressions have more).
MAX_CLASS_LABELS = 20


def _reference_rates(flags: np.ndarray, checks: Sequence[str]) -> dict[str, float]:
    """Share of the reference values failing each runtime check (missing_feature excluded: a
    reference column is never absent)."""
    counts = quality.flag_counts(flags)
    n = max(flags.size, 1)
    return {c: float(counts[quality.CHECKS.index(c)] / n) for c in checks
            if c != QualityCheck.MISSING_FEATURE}


def build_multivariate(features: Mapping[str, Sequence[Any] | np.ndarray], cols: Mapping[str, ColumnProfile],
                       rng: np.random.Generator | None = None) -> DomainClassifierReference | None:
    """The multivariate reference of the numeric features (None with fewer than 2 of them or
    too few rows); rows keep their order, so the calibration chunks follow the data's order."""
    names = [n for n, c in cols.items() if isinstance(c, NumericProfile)]
    if len(names) < 2:
        return None
    rows = np.column_stack([quality.numeric_column(features[n]).x for n in names])
    rows = np.where(np.isfinite(rows), rows, np.nan)
    if np.count_nonzero(~np.isnan(rows).all(axis=1)) < 2 * MIN_ROWS:
        return None
    return fit_domain_reference(rows, names, rng if rng is not None else np.random.default_rng(0))


def infer_kind(values: Sequence[Any] | np.ndarray, prediction: bool = False) -> str:
    """Numeric or categorical, from the values themselves.

    Strings and bools are categorical (the majority decides a mixed column); numbers are
    numeric, except in a prediction column where a few distinct integral values
    (<= MAX_CLASS_LABELS) are class labels.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        nums = values.astype(np.float64)
    else:
        cat = quality.categorical_column(values)
        n_str = int(cat.strings.sum())
        n_num = int(cat.numbers.sum())
        if n_str > n_num:
            return CATEGORICAL
        if n_num == 0:
            return NUMERIC if not n_str else CATEGORICAL
        nums = quality.numeric_column(np.asarray(values, dtype=object)[cat.numbers]).x
    if prediction:
        finite = nums[np.isfinite(nums)]
        if finite.size and np.all(finite == np.round(finite)) and np.unique(finite).size <= MAX_CLASS_LABELS:
            return CATEGORICAL
    return NUMERIC


def build_column_profile(values: Sequence[Any] | np.ndarray, kind: str, bins: int = 10,
                         max_sample: int | None = None, rng: np.random.Generator | None = None,
                         name: str = "column") -> ColumnProfile:
    """Profile one column; ``EmptySampleError`` (naming ``name``) if it holds no usable value."""
    n = len(values)
    if kind == NUMERIC:
        col = quality.numeric_column(values)
        finite = col.x[col.valid]
        if finite.size == 0:
            raise EmptySampleError(f"{name}: no finite numeric value")
        data = np.sort(finite)
        ref = NumericReference.from_values(data, bins=bins, max_sample=max_sample, rng=rng)
        lo, hi = iqr_bounds(data, k=OUTLIER_IQR_K)
        rates = _reference_rates(quality.numeric_flags(col, float(data[0]), float(data[-1]), lo, hi),
                                 quality.NUMERIC_CHECKS)
        return NumericProfile(reference=ref, missing_rate=rates[QualityCheck.MISSING],
                              min=float(data[0]), max=float(data[-1]),
                              iqr_low=float(lo), iqr_high=float(hi), count=n, rates=rates)
    if kind == CATEGORICAL:
        col = quality.categorical_column(values)
        keys = col.keys[col.valid]
        if keys.size == 0:
            raise EmptySampleError(f"{name}: no category value")
        value_type = quality.VALUE_NUMBER if col.numbers.sum() > col.strings.sum() else quality.VALUE_STRING
        ref = CategoricalReference.from_values(keys)
        rates = _reference_rates(quality.categorical_flags(col, frozenset(ref.categories), value_type),
                                 quality.CATEGORICAL_CHECKS)
        return CategoricalProfile(reference=ref, missing_rate=rates[QualityCheck.MISSING],
                                  value_type=value_type, count=n, rates=rates)
    raise ValueError(f"kind: expected {NUMERIC!r} or {CATEGORICAL!r}, got {kind!r}")


def _now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def build_profile(model: str, version: str, features: Mapping[str, Sequence[Any] | np.ndarray],
                  prediction: Sequence[Any] | np.ndarray | None = None,
                  confidence: Sequence[Any] | np.ndarray | None = None, *,
                  kinds: Mapping[str, str] | None = None, prediction_kind: str | None = None,
                  bins: int = 10, max_sample: int | None = None, source: str = "",
                  learned: bool = False, performance: dict | None = None,
                  rng: np.random.Generator | None = None, skip_empty: bool = False,
                  multivariate: bool = True) -> Profile:
    """Build a profile from columns (name -> values); kinds not given are inferred.

    A feature with no usable value raises ``EmptySampleError`` naming it (with ``skip_empty``
    it is left out of the schema instead); an empty prediction or confidence column is left
    out of the profile. ``multivariate``: also fit the multivariate reference (``build_multivariate``).
    """
    kinds = dict(kinds or {})
    rows = 0
    cols: dict[str, ColumnProfile] = {}
    for name, values in features.items():
        rows = max(rows, len(values))
        kind = kinds.get(name) or infer_kind(values)
        try:
            cols[name] = build_column_profile(values, kind, bins, max_sample, rng, name=f"feature {name!r}")
        except EmptySampleError:
            if not skip_empty:
                raise
    pred = conf = None
    if prediction is not None and len(prediction):
        rows = max(rows, len(prediction))
        pkind = prediction_kind or infer_kind(prediction, prediction=True)
        try:
            pred = build_column_profile(prediction, pkind, bins, max_sample, rng, name="prediction")
        except EmptySampleError:
            pred = None
    if confidence is not None and len(confidence):
        try:
            conf = build_column_profile(confidence, NUMERIC, bins, max_sample, rng, name="confidence")
        except EmptySampleError:
            conf = None
    return Profile(model=model, version=version, features=cols, prediction=pred, confidence=conf,
                   rows=rows, created_at=_now_iso(), source=source, learned=learned,
                   performance=performance,
                   multivariate=build_multivariate(features, cols, rng) if multivariate else None)
