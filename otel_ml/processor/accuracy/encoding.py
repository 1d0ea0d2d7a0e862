"""Turn event columns (Python lists from the decoder) into numpy codes and values.

Class labels are compared by a canonical name so that 1, 1.0, "1" and a probability key "1"
are the same class: integers and integral numbers become their integer text, other finite
numbers their shortest float text, booleans "True"/"False", other strings stay as they are.
Columns are converted with one ``np.asarray`` and canonicalised per distinct value
(``np.unique``), not per item; only columns mixing None with values fall back to a list pass.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from otel_ml.processor.accuracy.vocab import CappedVocabulary

__all__ = ["canonical_class", "class_codes", "text_codes", "float_column", "is_valid_label",
           "valid_labels", "valid_ids"]


def canonical_class(value) -> str | None:
    """The canonical class name of a label or prediction; None when it is not usable."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        f = float(value)
        if not math.isfinite(f):
            return None
        return str(int(f)) if f.is_integer() else repr(f)
    if isinstance(value, str):
        if not value:
            return None
        try:
            f = float(value)
        except ValueError:
            return value
        if math.isfinite(f):
            return str(int(f)) if f.is_integer() else repr(f)
        return value
    return None


def _as_array(values) -> np.ndarray | None:
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        return None
    return arr if arr.ndim == 1 else None


def class_codes(values, vocab: CappedVocabulary) -> np.ndarray:
    """Codes of a column of class labels (-1 for None / unusable), growing ``vocab``."""
    n = len(values)
    if n == 0:
        return np.empty(0, dtype=np.int32)
    arr = _as_array(values)
    if arr is not None and arr.dtype.kind in "biufU":
        uniq, inv = np.unique(arr, return_inverse=True)
        names = [canonical_class(u.item()) for u in uniq]
        table = np.array([-1 if nm is None else vocab.code(nm) for nm in names], dtype=np.int32)
        return table[inv.reshape(-1)]
    names = [canonical_class(v) for v in values]
    return np.array([-1 if nm is None else vocab.code(nm) for nm in names], dtype=np.int32)


def text_codes(values, vocab: CappedVocabulary) -> np.ndarray:
    """Codes of a column of free-form names (segments): their text as given; -1 for None/empty."""
    n = len(values)
    if n == 0:
        return np.empty(0, dtype=np.int32)
    arr = _as_array(values)
    if arr is not None and arr.dtype.kind in "biufU":
        uniq, inv = np.unique(arr, return_inverse=True)
        names = [str(u.item()) for u in uniq]
        table = np.array([vocab.code(nm) if nm else -1 for nm in names], dtype=np.int32)
        return table[inv.reshape(-1)]
    return np.array([vocab.code(str(v)) if v is not None and str(v) else -1 for v in values],
                    dtype=np.int32)


def float_column(values, dtype=np.float64) -> np.ndarray:
    """A numeric column with NaN for None, booleans, strings and other non-numbers."""
    n = len(values)
    if n == 0:
        return np.empty(0, dtype=dtype)
    arr = _as_array(values)
    if arr is not None and arr.dtype.kind in "iuf":
        return arr.astype(dtype)
    return np.array([float(v) if isinstance(v, Real) and not isinstance(v, (bool, np.bool_))
                     else np.nan for v in values], dtype=dtype)


def is_valid_label(value) -> bool:
    """A label the tracker can use at all (its fit to the model's task is checked later)."""
    if value is None or isinstance(value, (list, dict, tuple, bytes)):
        return False
    if isinstance(value, Real) and not isinstance(value, (bool, np.bool_)):
        return math.isfinite(float(value))
    return canonical_class(value) is not None


def valid_labels(values: list) -> np.ndarray:
    """``is_valid_label`` for a whole column; homogeneous columns are checked with numpy."""
    n = len(values)
    arr = _as_array(values) if n else None
    if arr is not None:
        kind = arr.dtype.kind
        if kind in "biu":
            return np.ones(n, dtype=bool)
        if kind == "f":
            return np.isfinite(arr)
        if kind == "U":
            return np.char.str_len(arr) > 0
    return np.fromiter(map(is_valid_label, values), dtype=bool, count=n)


def valid_ids(ids: list) -> np.ndarray:
    """Which prediction ids are non-empty strings."""
    n = len(ids)
    arr = _as_array(ids) if n else None
    if arr is not None and arr.dtype.kind == "U" and all(map(str.__instancecheck__, ids)):
        return np.char.str_len(arr) > 0
    return np.fromiter((isinstance(i, str) and bool(i) for i in ids), dtype=bool, count=n)
