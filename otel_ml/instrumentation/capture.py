"""Feature capture for inference events: columns, per-item sampling and prediction ids (pure numpy).

Features arrive as a 2-D array (+ names), a pandas-like frame, or a mapping name -> column;
they leave as one list per feature holding only OTLP AnyValue types (float incl. NaN, int,
str, bool, None). Sampling is a numpy mask; ids are uuid4 hex strings made in one shot.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from otel_ml.instrumentation.outputs import _IS_NUMBER, SHAPE_MISMATCH, Problem, RejectedTelemetry

__all__ = ["feature_columns", "column_values", "sample_mask", "new_prediction_ids", "INVALID_FEATURES"]

INVALID_FEATURES = "invalid_features"
INVALID_PREDICTION_IDS = "invalid_prediction_ids"


def _reject(reason: str, count: int, message: str) -> RejectedTelemetry:
    return RejectedTelemetry([Problem(reason, count, message)])


def _column(values: Any, n: int, name: str) -> np.ndarray:
    col = np.asarray(values)
    if col.ndim == 0:
        col = col.reshape(1)
    if col.ndim != 1 or len(col) != n:
        raise _reject(SHAPE_MISMATCH, n, f"feature {name!r} has shape {col.shape}, expected ({n},)")
    return col


def feature_columns(features: Any, n: int, feature_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """``{name: column}`` with one entry per item; raises ``RejectedTelemetry`` on a shape mismatch.

    Unnamed matrix columns are called ``x0, x1, ...`` (scikit-learn's convention).
    """
    if isinstance(features, Mapping):
        return {str(k): _column(v, n, str(k)) for k, v in features.items()}
    columns = getattr(features, "columns", None)
    if columns is not None and hasattr(features, "__getitem__") and not isinstance(features, np.ndarray):
        return {str(c): _column(np.asarray(features[c]), n, str(c)) for c in columns}
    matrix = np.asarray(features)
    if matrix.ndim == 1:  # one item's feature vector, or one feature's column of n items
        matrix = matrix.reshape(1, -1) if n == 1 else matrix.reshape(-1, 1)
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise _reject(SHAPE_MISMATCH, n, f"features have shape {matrix.shape}, expected ({n}, n_features)")
    if feature_names is None:
        names = [f"x{i}" for i in range(matrix.shape[1])]
    else:
        names = [str(f) for f in feature_names]
        if len(names) != matrix.shape[1]:
            raise _reject(SHAPE_MISMATCH, n, f"{len(names)} feature names for {matrix.shape[1]} columns")
    return {name: matrix[:, i] for i, name in enumerate(names)}


_IS_NULL = np.frompyfunc(lambda v: v is None or (isinstance(v, float) and v != v), 1, 1)
_IS_FLOAT = np.frompyfunc(lambda v: isinstance(v, (float, np.floating)), 1, 1)


def column_values(col: np.ndarray) -> list:
    """The column as OTLP-encodable Python values: numbers stay numbers (NaN kept as float NaN),
    strings stay strings, None stays None. Object columns become all-numeric (ints stay ints
    unless floats are mixed in; None for missing) or all-string (categorical, None for missing)."""
    kind = col.dtype.kind
    if kind in "biufU":
        return col.tolist()
    if kind == "S":
        return col.astype(str).tolist()
    if kind in "mM":
        return col.astype(str).tolist()
    null = _IS_NULL(col).astype(bool)
    present = ~null
    out = np.empty(len(col), dtype=object)
    values = col[present]
    if _IS_NUMBER(values).astype(bool).all():
        whole = not _IS_FLOAT(values).astype(bool).any()  # keep integer labels integers
        out[present] = values.astype(np.int64 if whole else np.float64)
    else:
        out[present] = col[present].astype(str)
    out[null] = None
    return out.tolist()


def sample_mask(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` items to capture, each independently with probability ``rate``."""
    if rate >= 1.0:
        return np.ones(n, dtype=bool)
    if rate <= 0.0:
        return np.zeros(n, dtype=bool)
    return rng.random(n) < rate


def new_prediction_ids(k: int) -> list[str]:
    """``k`` random RFC 4122 version-4 UUIDs as 32-character hex strings, without a per-id loop."""
    if k <= 0:
        return []
    raw = np.frombuffer(os.urandom(16 * k), dtype=np.uint8).reshape(k, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = raw.tobytes().hex().encode("ascii")
    return np.frombuffer(hexed, dtype="S32").astype("U32").tolist()


def prediction_id_list(ids: Any, n: int) -> list[str]:
    """Caller-supplied ids as ``n`` non-empty strings; raises ``RejectedTelemetry`` otherwise."""
    arr = np.asarray(ids, dtype=object)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or len(arr) != n:
        raise _reject(SHAPE_MISMATCH, n, f"{arr.size} prediction ids for {n} predictions")
    values = arr.astype(str)
    bad = _IS_NULL(arr).astype(bool) | (np.char.str_len(values) == 0)
    if bad.any():
        raise _reject(INVALID_PREDICTION_IDS, int(bad.sum()), f"{int(bad.sum())} prediction ids are empty")
    return values.tolist()
